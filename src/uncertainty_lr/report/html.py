"""Render the report's blocks as Markdown (images by relative path) and as one
self-contained HTML page (images embedded as base64 data URIs, tables as <table>).

Every piece of text that came from a user (run, problem and schedule names, the command,
config values) passes through ``html.escape`` before it reaches HTML, so a schedule
called ``<script>alert(1)</script>`` shows as text and never runs.
"""

from __future__ import annotations

import base64
import html
import os
import re
from dataclasses import dataclass
from pathlib import Path

from uncertainty_lr.report.tables import Table


@dataclass
class Heading:
    text: str
    level: int = 2


@dataclass
class Paragraph:
    text: str


@dataclass
class Bullets:
    items: list[str]


@dataclass
class Code:
    """Preformatted lines (the evaluation summaries)."""

    lines: list[str]


@dataclass
class Image:
    """A PNG on disk; ``caption`` is shown under it."""

    path: Path
    alt: str
    caption: str = ""


Block = Heading | Paragraph | Bullets | Code | Image | Table

CSS = """
body { font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.45; }
h1, h2, h3 { line-height: 1.2; }
.scroll { overflow-x: auto; margin-bottom: 0.5em; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
tr:nth-child(even) td { background: #fafafa; }
figure { margin: 1em 0; }
img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption, .notes { font-size: 0.85em; color: #555; }
pre { background: #f6f6f6; padding: 0.6em; overflow-x: auto; font-size: 0.8em; }
"""


def md_text(text: str) -> str:
    """Text for Markdown with every '<' that could open a tag and every '&' that could
    start an entity escaped, so raw HTML in a name stays text; 'p < 0.05' stays readable."""
    text = re.sub(r"&(?=[A-Za-z#])", "&amp;", str(text))
    return re.sub(r"<(?=[A-Za-z/!?])", "&lt;", text)


def md_cell(text: str) -> str:
    """Text for a Markdown table cell: also no '|' (it would split the cell) or newlines."""
    return md_text(text).replace("|", "\\|").replace("\n", " ")


def _md_table(table: Table) -> list[str]:
    lines = [f"**{md_text(table.title)}** (CSV: `{table.name}.csv`)", ""]
    if table.rows:
        lines.append("| " + " | ".join(md_cell(c) for c in table.columns) + " |")
        lines.append("|" + "---|" * len(table.columns))
        lines.extend("| " + " | ".join(md_cell(c) for c in row) + " |" for row in table.rows)
    else:
        lines.append("_(no rows)_")
    if table.notes:
        lines.append("")
        lines.extend(f"- {md_text(note)}" for note in table.notes)
    return lines


def render_markdown(blocks: list[Block], out_dir: Path) -> str:
    """Markdown text of ``blocks``; image paths are made relative to ``out_dir``."""
    lines: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            lines.append("#" * block.level + " " + md_text(block.text))
        elif isinstance(block, Paragraph):
            lines.append(md_text(block.text))
        elif isinstance(block, Bullets):
            lines.extend(f"- {md_text(item)}" for item in block.items)
        elif isinstance(block, Code):
            # A fence longer than any backtick run inside, so no line can close it early.
            longest = max(
                (len(run) for line in block.lines for run in re.findall("`+", line)), default=0
            )
            fence = "`" * max(3, longest + 1)
            lines.extend([fence + "text", *block.lines, fence])
        elif isinstance(block, Image):
            rel = Path(os.path.relpath(block.path, out_dir)).as_posix()
            lines.append(f"![{md_cell(block.alt)}]({rel})")
            if block.caption:
                lines.extend(["", f"*{md_text(block.caption)}*"])
        elif isinstance(block, Table):
            lines.extend(_md_table(block))
        lines.append("")
    return "\n".join(lines)


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _html_table(table: Table) -> str:
    parts = [f"<h4>{_e(table.title)} <small>(CSV: {_e(table.name)}.csv)</small></h4>"]
    if table.rows:
        head = "".join(f"<th>{_e(c)}</th>" for c in table.columns)
        body = "".join(
            "<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in table.rows
        )
        parts.append(
            f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>"
        )
    else:
        parts.append("<p><em>(no rows)</em></p>")
    if table.notes:
        items = "".join(f"<li>{_e(note)}</li>" for note in table.notes)
        parts.append(f'<ul class="notes">{items}</ul>')
    return "\n".join(parts)


def _data_uri(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f"data:image/png;base64,{data}"


def render_html(blocks: list[Block], title: str) -> str:
    """One self-contained HTML page of ``blocks``: no external file, script or font."""
    body: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            level = min(max(block.level, 1), 6)
            body.append(f"<h{level}>{_e(block.text)}</h{level}>")
        elif isinstance(block, Paragraph):
            body.append(f"<p>{_e(block.text)}</p>")
        elif isinstance(block, Bullets):
            body.append("<ul>" + "".join(f"<li>{_e(i)}</li>" for i in block.items) + "</ul>")
        elif isinstance(block, Code):
            body.append("<pre>" + _e("\n".join(block.lines)) + "</pre>")
        elif isinstance(block, Image):
            caption = f"<figcaption>{_e(block.caption)}</figcaption>" if block.caption else ""
            body.append(
                f'<figure><img src="{_data_uri(block.path)}" alt="{_e(block.alt)}">'
                f"{caption}</figure>"
            )
        elif isinstance(block, Table):
            body.append(_html_table(block))
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )
