"""HTML building blocks of the suite report: escaped text, tables, inline figures, explained gaps, the page.

Everything is static HTML with an embedded style sheet; figures are PNG data URIs, so the page opens from
disk with no network and no JavaScript.
"""
import base64
import html
import io
from typing import Iterable, List, Optional, Sequence

STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 1200px; color: #222; line-height: 1.4; }
h1 { border-bottom: 2px solid #444; } h2 { border-bottom: 1px solid #bbb; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: right; }
th:first-child, td:first-child, table.text td, table.text th { text-align: left; } th { background: #f0f0f0; }
.gap { border-left: 4px solid #e0a000; background: #fff8e0; padding: 0.4em 0.8em; margin: 0.5em 0; }
.note { color: #555; font-size: 0.9em; } img { max-width: 100%; } code { background: #f4f4f4; }
nav ul { columns: 2; }
"""


class Raw(str):
    """HTML that is inserted as is (an inline image in a table cell)."""


def esc(text: object) -> str:
    """HTML-escaped text of any value (``Raw`` HTML unchanged)."""
    return text if isinstance(text, Raw) else html.escape(str(text))


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], caption: Optional[str] = None,
          text: bool = False) -> str:
    """A table of escaped cells (``None`` cells show as an en dash); ``text`` left-aligns every column."""
    head = ''.join(f'<th>{esc(header)}</th>' for header in headers)
    body = ''.join('<tr>' + ''.join(f'<td>{"–" if cell is None else esc(cell)}</td>' for cell in row) + '</tr>'
                   for row in rows)
    title = f'<caption>{esc(caption)}</caption>' if caption else ''
    kind = ' class="text"' if text else ''
    return f'<table{kind}>{title}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def markdown_table(markdown: str) -> str:
    """The pipe tables and text lines of a Markdown block (as ``to_markdown`` writes them) as HTML."""
    parts: List[str] = []
    rows: List[List[str]] = []

    def flush() -> None:
        if rows:
            parts.append(table(rows[0], rows[1:]))
            rows.clear()

    for line in markdown.splitlines():
        stripped = line.strip()
        if stripped.startswith('|'):
            cells = [cell.strip() for cell in stripped.strip('|').split('|')]
            if not all(set(cell) <= set('-: ') for cell in cells):
                rows.append(cells)
            continue
        flush()
        if stripped:
            parts.append(f'<p class="note">{esc(stripped)}</p>')
    flush()
    return '\n'.join(parts)


def gap(reason: str) -> str:
    """An explained gap: what is missing and why."""
    return f'<div class="gap"><strong>Not shown:</strong> {esc(reason)}</div>'


def figure(fig, alt: str) -> str:
    """A matplotlib figure as an inline PNG (the figure is closed)."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format='png', dpi=100, bbox_inches='tight')
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode('ascii')
    return f'<figure><img alt="{esc(alt)}" src="data:image/png;base64,{data}"></figure>'


def image_file(path: str, alt: str, max_width: int = 640) -> Raw:
    """An image file as an inline JPEG, scaled down to ``max_width`` pixels (keeps the page small)."""
    from PIL import Image

    with Image.open(path) as image:
        image = image.convert('RGB')
        if image.width > max_width:
            image = image.resize((max_width, round(image.height * max_width / image.width)), Image.LANCZOS)
        buffer = io.BytesIO()
        image.save(buffer, format='JPEG', quality=85)
    data = base64.b64encode(buffer.getvalue()).decode('ascii')
    return Raw(f'<img alt="{esc(alt)}" src="data:image/jpeg;base64,{data}">')


def section(anchor: str, title: str, body: str) -> str:
    """A titled section with an anchor for the table of contents."""
    return f'<section id="{esc(anchor)}"><h2>{esc(title)}</h2>\n{body}\n</section>'


def page(title: str, intro: str, sections: Sequence[tuple]) -> str:
    """The whole document: title, intro, contents and the ``(anchor, title, body)`` sections."""
    contents = ''.join(f'<li><a href="#{esc(anchor)}">{esc(name)}</a></li>' for anchor, name, _ in sections)
    body = '\n'.join(section(*parts) for parts in sections)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>'
            f'<style>{STYLE}</style></head>\n<body><h1>{esc(title)}</h1>\n{intro}\n'
            f'<nav><ul>{contents}</ul></nav>\n{body}\n</body></html>\n')
