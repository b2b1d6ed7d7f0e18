"""Writing the claims report's figures as Markdown (the Prefect artifact, `report.md`) and as one
standalone HTML page (`report.html`: charts inline, no script, no outside file)."""

from __future__ import annotations

from collections.abc import Callable
from html import escape

from webtext.components.report.figures import Figure
from webtext.components.tables import cell, markdown_table


def chart_name(figure: Figure, index: int) -> str:
    """The file a figure's chart is written to, beside the report."""
    return f"{figure.key}-{index + 1}.svg"


def markdown(title: str, intro: list[str], figures: list[Figure], image: Callable[[Figure, int], str]) -> str:
    """The report as Markdown; `image(figure, i)` is where the i-th chart is found (a path, or a data URI
    for an artifact, which has no files beside it)."""
    missing = [f for f in figures if f.missing]
    lines = [f"# {title}", "", *intro, ""]
    if missing:
        lines += ["**Missing:** " + "; ".join(f"{f.title.split(' (')[0]}: {f.missing}" for f in missing), ""]
    for n, figure in enumerate(figures, start=1):
        lines += [f"## {n}. {figure.title}", "", figure.question, ""]
        if figure.missing:
            lines += [f"*Not drawn: {figure.missing}.*", ""]
            continue
        lines += [f"![{figure.title}]({image(figure, i)})" for i in range(len(figure.charts))]
        lines += ["", *markdown_table(figure.header, figure.rows), ""]
        lines += [*figure.notes, ""] if figure.notes else []
        lines += ["Sources: " + "; ".join(figure.sources), ""]
    return "\n".join(lines)


STYLE = """body { font-family: sans-serif; max-width: 1320px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; }
.missing { color: #a33; }
.sources { color: #555; font-size: 13px; }"""


def html(title: str, intro: list[str], figures: list[Figure]) -> str:
    """The report as one HTML document with every chart inline."""
    body = [f"<h1>{escape(title)}</h1>", *(f"<p>{escape(p)}</p>" for p in intro if p)]
    for n, figure in enumerate(figures, start=1):
        body += [f'<h2 id="{figure.key}">{n}. {escape(figure.title)}</h2>',
                 f"<p>{escape(figure.question)}</p>"]
        if figure.missing:
            body.append(f'<p class="missing">Not drawn: {escape(figure.missing)}.</p>')
            continue
        body.append('<div class="charts">' + "".join(figure.charts) + "</div>")
        body.append("<table><tr>" + "".join(f"<th>{escape(h)}</th>" for h in figure.header) + "</tr>"
                    + "".join("<tr>" + "".join(f"<td>{escape(cell(v))}</td>" for v in row) + "</tr>"
                              for row in figure.rows) + "</table>")
        body += [f"<p>{escape(note)}</p>" for note in figure.notes]
        body.append('<p class="sources">Sources: ' + "; ".join(escape(s) for s in figure.sources) + "</p>")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f"<style>\n{STYLE}\n</style></head>\n<body>\n" + "\n".join(body) + "\n</body></html>\n")
