"""A run's curves from its CSV log: its losses, or any logged metric, as points to draw
(`components.plot.lines`)."""

from __future__ import annotations

import csv
from pathlib import Path

LOSSES = ("train/loss", "val/loss")


def read_curves(metrics_csv: Path, names: tuple[str, ...] = LOSSES) -> dict[str, list[tuple[int, float]]]:
    """(step, value) points of each of the `names` columns in Lightning's `metrics.csv`; none when a run
    shorter than its logging interval wrote no file."""
    curves: dict[str, list[tuple[int, float]]] = {name: [] for name in names}
    if not metrics_csv.exists():
        return curves
    with open(metrics_csv, newline="") as fh:
        for row in csv.DictReader(fh):
            for name in names:
                if row.get(name):
                    curves[name].append((int(row["step"]), float(row[name])))
    return curves
