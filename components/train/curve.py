"""A run's curves from its CSV log (its losses, or any logged metric), drawn as a small self-contained
SVG (no plotting library)."""

from __future__ import annotations

import csv
from pathlib import Path

WIDTH, HEIGHT, MARGIN = 640, 320, 48
LOSSES = ("train/loss", "val/loss")
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")  # by the curve's place in its chart


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


def svg(curves: dict[str, list[tuple[int, float]]], title: str) -> str:
    """Polylines of every curve on shared axes, with the step and loss ranges written at the corners."""
    points = [p for curve in curves.values() for p in curve]
    if not points:
        return f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="40"><text x="8" y="24">' \
               f'{title}: no points logged</text></svg>'
    x0, x1 = min(p[0] for p in points), max(p[0] for p in points) or 1
    y0, y1 = min(p[1] for p in points), max(p[1] for p in points)
    span_x, span_y = (x1 - x0) or 1, (y1 - y0) or 1

    def place(step: int, value: float) -> str:
        x = MARGIN + (step - x0) / span_x * (WIDTH - 2 * MARGIN)
        y = HEIGHT - MARGIN - (value - y0) / span_y * (HEIGHT - 2 * MARGIN)
        return f"{x:.1f},{y:.1f}"

    lines = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
             f'font-family="sans-serif" font-size="12">',
             f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
             f'<text x="{MARGIN}" y="20">{title}</text>',
             f'<text x="4" y="{MARGIN}">{y1:.3g}</text><text x="4" y="{HEIGHT - MARGIN}">{y0:.3g}</text>',
             f'<text x="{MARGIN}" y="{HEIGHT - 16}">step {x0}</text>',
             f'<text x="{WIDTH - MARGIN - 60}" y="{HEIGHT - 16}">step {x1}</text>']
    for i, (name, curve) in enumerate(curves.items()):
        if curve:
            path = " ".join(place(step, value) for step, value in curve)
            colour = COLOURS[i % len(COLOURS)]
            lines.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{path}"/>')
            lines.append(f'<text x="{WIDTH - 150}" y="{20 + 14 * i}" fill="{colour}">{name}</text>')
    return "\n".join(lines + ["</svg>"])
