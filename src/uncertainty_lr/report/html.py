"""Render the report's blocks as Markdown (images by relative path) and as one
self-contained HTML page (images embedded as base64 data URIs, tables as <table>, folded
sections as <details>, no script, font or stylesheet from outside).

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
from datetime import datetime, timezone
from pathlib import Path

from uncertainty_lr.experiments.files import write_file
from uncertainty_lr.report.tables import Table
from uncertainty_lr.report.verdict import Matrix


def anchor(text: str) -> str:
    """GitHub's heading anchor: lowercase, punctuation dropped, spaces to '-'; used as the
    HTML id too, so one table of contents works in report.html and on GitHub."""
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


@dataclass
class Heading:
    text: str
    level: int = 2

    @property
    def anchor(self) -> str:
        return anchor(self.text)


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


@dataclass
class Contents:
    """A table of contents: links to ``headings`` (level 2 bold, level 3 after them)."""

    headings: list[Heading]


@dataclass
class Details:
    """A folded section: ``summary`` is shown, ``blocks`` open on a click."""

    summary: str
    blocks: list


Block = Heading | Paragraph | Bullets | Code | Image | Table | Matrix | Contents | Details

#: Matrix cell colours (Okabe-Ito blue / vermillion, full and light): colour-blind safe,
#: and the triangles and bold text carry the same meaning without colour.
CELL_STYLE = {
    "better-sig": ("#0072B2", "#ffffff", "\u25b2"),
    "better": ("#cfe3f3", "#1a1a1a", "\u25b3"),
    "worse-sig": ("#D55E00", "#ffffff", "\u25bc"),
    "worse": ("#f8d7c2", "#1a1a1a", "\u25bd"),
    "zero": ("#eeeeee", "#1a1a1a", ""),
    "untested": ("#ffffff", "#777777", ""),
}
CELL_MEANING = {
    "better-sig": "A better, significant",
    "better": "A better, not significant",
    "worse-sig": "A worse, significant",
    "worse": "A worse, not significant",
    "zero": "no difference",
    "untested": "untested",
}

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
pre { background: #f6f6f6; padding: 0.6em; font-size: 0.8em;
      white-space: pre-wrap; overflow-wrap: anywhere; }  /* long eval lines wrap, never run off */
nav.toc { font-size: 0.9em; margin: 0.3em 0 1em; }
nav.toc a { margin-right: 0.2em; }
nav.toc a.top { font-weight: 700; }
details { margin: 0.6em 0; border: 1px solid #ddd; border-radius: 4px; padding: 0.3em 0.8em; }
summary { cursor: pointer; font-weight: 600; }
table.matrix td.cell { text-align: right; font-variant-numeric: tabular-nums; }
table.matrix td.sig { font-weight: 700; }
.legend span { display: inline-block; padding: 1px 6px; margin-right: 4px; border: 1px solid #ccc; }
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


def palette(m: Matrix) -> dict[str, tuple[str, str, str, str]]:
    """kind -> (background, text colour, mark, meaning) of the matrix's cells."""
    if m.palette is not None:
        return m.palette
    return {kind: (*style, CELL_MEANING[kind]) for kind, style in CELL_STYLE.items()}


def _md_matrix(m: Matrix) -> list[str]:
    lines = [f"**{md_text(m.title)}**", ""]
    if not m.labels:
        return [*lines, "_(no comparison)_"]
    styles = palette(m)
    lines.append("| " + " | ".join(md_cell(c) for c in m.label_columns + m.metrics) + " |")
    lines.append("|" + "---|" * len(m.label_columns) + "--:|" * len(m.metrics))
    for label, cells, kinds in zip(m.labels, m.cells, m.kinds, strict=True):
        shown = []
        for text, kind in zip(cells, kinds, strict=True):
            mark = styles[kind][2]
            cell = f"{md_cell(text)} {mark}".strip()
            shown.append(f"**{cell}**" if kind.endswith("-sig") else cell)
        lines.append("| " + " | ".join([*(md_cell(x) for x in label), *shown]) + " |")
    key = "; ".join(f"{mark} {meaning}" for _, _, mark, meaning in styles.values() if mark)
    bold = " (significant cells in bold)" if m.palette is None else ""
    return [*lines, "", f"{key}{bold}. {md_text(m.legend)}"]


def render_markdown(blocks: list[Block], out_dir: Path) -> str:
    """Markdown text of ``blocks``; image paths are made relative to ``out_dir``."""
    lines: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            lines.append("#" * block.level + " " + md_text(block.text))
        elif isinstance(block, Contents):
            lines.extend(
                ("" if h.level <= 2 else "  ") + f"- [{md_cell(h.text)}](#{h.anchor})"
                for h in block.headings
            )
        elif isinstance(block, Details):
            # GitHub renders Markdown inside <details> when blank lines surround it.
            lines.extend([f"<details><summary>{html.escape(block.summary)}</summary>", ""])
            lines.append(render_markdown(block.blocks, out_dir))
            lines.append("</details>")
        elif isinstance(block, Matrix):
            lines.extend(_md_matrix(block))
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


def _html_matrix(m: Matrix) -> str:
    parts = [f"<h4>{_e(m.title)}</h4>"]
    if not m.labels:
        return parts[0] + "<p><em>(no comparison)</em></p>"
    head = "".join(f"<th>{_e(c)}</th>" for c in m.label_columns + m.metrics)
    styles = palette(m)
    rows = []
    for label, cells, kinds in zip(m.labels, m.cells, m.kinds, strict=True):
        tds = [f"<td>{_e(x)}</td>" for x in label]
        for text, kind in zip(cells, kinds, strict=True):
            bg, fg, mark, _ = styles[kind]
            sig = " sig" if kind.endswith("-sig") else ""
            tds.append(
                f'<td class="cell {kind.replace(" ", "-")}{sig}" style="background:{bg};color:{fg}">'
                f"{_e(text)} {mark}</td>"
            )
        rows.append("<tr>" + "".join(tds) + "</tr>")
    swatches = "".join(
        f'<span style="background:{bg};color:{fg}">{mark or "&nbsp;"} {_e(meaning)}</span>'
        for bg, fg, mark, meaning in styles.values()
    )
    parts.append(
        f'<div class="scroll"><table class="matrix"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )
    parts.append(f'<p class="legend notes">{swatches}<br>{_e(m.legend)}</p>')
    return "\n".join(parts)


def render_html(blocks: list[Block], title: str) -> str:
    """One self-contained HTML page of ``blocks``: no external file, script or font."""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        + _html_body(blocks)
        + "\n</body>\n</html>\n"
    )


def _html_body(blocks: list[Block]) -> str:
    body: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            level = min(max(block.level, 1), 6)
            body.append(f'<h{level} id="{_e(block.anchor)}">{_e(block.text)}</h{level}>')
        elif isinstance(block, Contents):
            links = " &middot; ".join(
                (f'<a href="#{_e(h.anchor)}">{_e(h.text)}</a>' if h.level > 2
                 else f'<a class="top" href="#{_e(h.anchor)}">{_e(h.text)}</a>')
                for h in block.headings
            )  # fmt: skip
            body.append(f'<nav class="toc">Contents: {links}</nav>')
        elif isinstance(block, Details):
            body.append(
                f"<details><summary>{_e(block.summary)}</summary>\n"
                f"{_html_body(block.blocks)}\n</details>"
            )
        elif isinstance(block, Matrix):
            body.append(_html_matrix(block))
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
    return "\n".join(body)


def write_page(out: Path, title: str, store_dir: Path, body: list[Block]) -> None:
    """Write ``report.md`` and ``report.html`` into ``out``: the title, where the store is and
    when the page was made, a table of contents of ``body``'s headings, then ``body``."""
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    blocks: list[Block] = [
        Heading(title, 1),
        Paragraph(f"Store: {Path(store_dir)}. Generated {now}."),  # as given: no machine path
        Contents([b for b in body if isinstance(b, Heading)]),
        *body,
    ]
    write_file(out / "report.md", render_markdown(blocks, out))
    write_file(out / "report.html", render_html(blocks, title))  # last: it marks a whole report
