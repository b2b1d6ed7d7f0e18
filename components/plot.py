"""Small self-contained SVG charts (no plotting library): lines over a numeric axis and grouped bars.
Training curves, the claims report's figures and the Prefect artifacts that embed them all draw here."""

from __future__ import annotations

import math
from html import escape

WIDTH, HEIGHT = 640, 320
LEFT, RIGHT, TOP, BOTTOM = 64, 24, 52, 48
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f")

Series = dict[str, list[tuple[float, float]]]


def _frame(title: str, y_label: str, height: int) -> list[str]:
    """The canvas, title, y label and axes of a chart whose plot area ends BOTTOM above `height`."""
    return [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
            f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">',
            f'<rect width="{WIDTH}" height="{height}" fill="white"/>',
            f'<text x="{LEFT}" y="20" font-size="14">{escape(title)}</text>',
            f'<text transform="translate(14 {(TOP + height - BOTTOM) / 2:.0f}) rotate(-90)" '
            f'text-anchor="middle">{escape(y_label)}</text>',
            f'<line x1="{LEFT}" y1="{height - BOTTOM}" x2="{WIDTH - RIGHT}" y2="{height - BOTTOM}" '
            f'stroke="#444"/>',
            f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{height - BOTTOM}" stroke="#444"/>']


def _legend(names: list[str]) -> list[str]:
    """The series' names in their colours, in one row under the title."""
    out, x = [], LEFT
    for i, name in enumerate(names):
        out.append(f'<text x="{x}" y="38" fill="{COLOURS[i % len(COLOURS)]}">&#9632; {escape(name)}</text>')
        x += 7 * len(name) + 28
    return out


def _empty(title: str, what: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="40" font-family="sans-serif" '
            f'font-size="12"><text x="8" y="24">{escape(title)}: no {what}</text></svg>')


def _range(values: list[float]) -> tuple[float, float]:
    """The axis's ends: the values' range, widened around a single value (from 0 when it is 0)."""
    low, high = min(values), max(values)
    if low == high:
        return (0.0, 1.0) if low == 0 else (low - abs(low) * 0.05, high + abs(high) * 0.05)
    return low, high


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 and float(value).is_integer() else f"{value:.4g}"


def lines(series: Series, title: str, x_label: str, y_label: str, log_x: bool = False) -> str:
    """Each series as a polyline with a marker at every point (a series of one point is a marker), on
    shared axes whose ends are labelled; `log_x` spaces x by its logarithm (model sizes)."""
    points = [p for curve in series.values() for p in curve]
    if not points:
        return _empty(title, "points")
    if log_x and min(p[0] for p in points) <= 0:
        raise ValueError(f"{title}: a logarithmic x axis needs positive values")
    scale = math.log10 if log_x else float
    x0, x1 = _range([scale(p[0]) for p in points])
    y0, y1 = _range([p[1] for p in points])

    def place(x: float, y: float) -> tuple[float, float]:
        return (LEFT + (scale(x) - x0) / (x1 - x0) * (WIDTH - LEFT - RIGHT),
                HEIGHT - BOTTOM - (y - y0) / (y1 - y0) * (HEIGHT - TOP - BOTTOM))

    xs = sorted({p[0] for p in points})
    out = _frame(title, y_label, HEIGHT)
    out += [f'<text x="{LEFT - 4}" y="{TOP + 4}" text-anchor="end">{_number(y1)}</text>',
            f'<text x="{LEFT - 4}" y="{HEIGHT - BOTTOM}" text-anchor="end">{_number(y0)}</text>',
            f'<text x="{(LEFT + WIDTH - RIGHT) / 2:.0f}" y="{HEIGHT - 8}" text-anchor="middle">'
            f'{escape(x_label)}</text>']
    for x in (xs if len(xs) <= 8 else [xs[0], xs[-1]]):
        out.append(f'<text x="{place(x, y0)[0]:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">'
                   f'{_number(x)}</text>')
    for i, (name, curve) in enumerate(series.items()):
        if not curve:
            continue
        colour = COLOURS[i % len(COLOURS)]
        placed = [place(x, y) for x, y in curve]
        if len(placed) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in placed)
            out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{path}"/>')
        out += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>' for x, y in placed]
    return "\n".join(out + _legend(list(series)) + ["</svg>"])


def bars(groups: list[str], series: dict[str, list[float | None]], title: str, y_label: str) -> str:
    """One cluster of bars per group, one bar per series (None: not measured, left out), from zero (or
    from the lowest value when there are negatives) to each value, the value written above it."""
    values = [v for row in series.values() for v in row if v is not None]
    if not groups or not values:
        return _empty(title, "values")
    y0, y1 = min(0.0, *values), max(0.0, *values)
    y1 = y1 if y1 > y0 else 1.0  # all zero: a unit axis
    slot = (WIDTH - LEFT - RIGHT) / len(groups)
    width = slot * 0.8 / len(series)
    slanted = max(len(group) for group in groups) * 7 > slot  # labels wider than their slot lean
    height = HEIGHT + (max(len(group) for group in groups) * 4 if slanted else 0)

    def y_of(value: float) -> float:
        return height - BOTTOM - (value - y0) / (y1 - y0) * (height - TOP - BOTTOM)

    out = _frame(title, y_label, height)
    out += [f'<text x="{LEFT - 4}" y="{TOP + 4}" text-anchor="end">{_number(y1)}</text>',
            f'<text x="{LEFT - 4}" y="{height - BOTTOM}" text-anchor="end">{_number(y0)}</text>']
    base = y_of(max(y0, 0.0))
    for g, group in enumerate(groups):
        left = LEFT + g * slot + slot * 0.1
        x, y = LEFT + (g + 0.5) * slot, height - BOTTOM + 16
        lean = (f' transform="rotate(-35 {x:.1f} {y})" text-anchor="end"' if slanted
                else ' text-anchor="middle"')
        out.append(f'<text x="{x:.1f}" y="{y}"{lean}>{escape(group)}</text>')
        for s, (name, row) in enumerate(series.items()):
            value = row[g]
            if value is None:
                continue
            top = y_of(value)
            x = left + s * width
            out.append(f'<rect x="{x:.1f}" y="{min(top, base):.1f}" width="{width * 0.92:.1f}" '
                       f'height="{abs(base - top):.1f}" fill="{COLOURS[s % len(COLOURS)]}">'
                       f'<title>{escape(name)}: {value:.4g}</title></rect>')
            out.append(f'<text x="{x + width / 2:.1f}" y="{min(top, base) - 3:.1f}" text-anchor="middle" '
                       f'font-size="10">{value:.3g}</text>')
    return "\n".join(out + _legend(list(series)) + ["</svg>"])
