"""HTML loader: lxml's C parser and one linear walk of the element tree (split out of loaders.py).

Why not BeautifulSoup: its tree edits (insert_before/after on nested elements) re-scan descendants, so 100,000
nested <div>s kept a batch busy for minutes (issue #20). lxml parses in C, caps nesting at libxml2's 256 levels, and
the walk below visits each element twice (start and end events), so time is linear in the file's size.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ragft.documents.base import Block, LoadedDocument, _clean, _HeadingPath, _one_line, decode_text, table_rows
from ragft.errors import IngestError

_DROP_TAGS = ["script", "style", "nav", "noscript", "template", "svg", "iframe", "aside", "form", "button"]
_BLOCK_TAGS = [
    "p", "div", "section", "article", "main", "li", "ul", "ol", "dl", "dt", "dd", "tr", "table", "pre",
    "blockquote", "figcaption", "caption", "address", "header", "footer",
]
_SEP = "\x1e"  # paragraph boundary marker (ASCII record separator; cannot occur in decoded html text)
_HEAD = "\x1f"  # heading marker, followed by the level digit


MAX_HTML_DEPTH = 256
"""Deepest element nesting an HTML file may have: libxml2's own limit. Real pages stay far below it; a file past it
(100,000 nested <div>s, a parser attack) is refused with one line instead of being silently cut or walked forever."""


def _html_title_and_blocks(root: Any) -> tuple[str, list[Block]]:
    """One iterative pass over the element tree (no recursion, no re-walks: linear in the file's size).

    Block tags and headings become paragraph boundaries, table cells are joined with " | ", dropped tags
    (script, nav, ...) are skipped whole, and header/footer are skipped unless they sit inside article/main.
    """
    from lxml import etree

    pieces: list[str] = []
    first_h1 = ""
    skip_depth = 0  # > 0 while inside a dropped element
    article_depth = 0  # > 0 while inside article/main
    heading: list[str] | None = None  # text of the heading being read
    for event, el in etree.iterwalk(root, events=("start", "end")):
        tag = el.tag if isinstance(el.tag, str) else ""  # comments and processing instructions have no str tag
        if event == "start":
            dropped = tag in _DROP_TAGS or (tag in ("header", "footer") and not article_depth)
            if skip_depth or dropped:
                skip_depth += 1
                continue
            if tag in ("article", "main"):
                article_depth += 1
            if tag in _HEADINGS:
                heading = [el.text or ""]
            elif heading is not None:
                heading.append(el.text or "")
            else:
                if tag in _BLOCK_TAGS:
                    pieces.append(_SEP)
                if tag == "br":
                    pieces.append("\n")
                if tag and el.text:
                    pieces.append(el.text)
            continue
        # event == "end": the element's own text is done; its tail belongs to the parent
        if skip_depth:
            skip_depth -= 1
            if skip_depth == 0 and el.tail:
                (heading if heading is not None else pieces).append(el.tail)
            continue
        if tag in ("article", "main"):
            article_depth -= 1
        if tag in _HEADINGS and heading is not None:
            text = _clean(" ".join(heading))
            if tag == "h1" and not first_h1:
                first_h1 = text
            pieces.append(f"{_SEP}{_HEAD}{tag[1]}{text}{_SEP}")
            heading = None
        elif heading is not None:
            pass
        elif tag in ("td", "th"):
            pieces.append(" | ")
        elif tag in _BLOCK_TAGS:
            pieces.append(_SEP)
        if el.tail and el is not root:
            (heading if heading is not None else pieces).append(el.tail)
    headings = _HeadingPath()
    blocks: list[Block] = []
    for part in "".join(pieces).split(_SEP):
        if part.startswith(_HEAD):
            if part[2:].strip():
                headings.enter(int(part[1]), part[2:].strip())
            continue
        text = _clean(part).strip(" |")
        if text:
            blocks.append(Block(text, headings.path))
    return first_h1, blocks


_HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}


def _header_tables(root: Any) -> None:
    """Rewrite, in place, each table whose first row is header cells (`<th>`, or a row in `<thead>`) as one
    paragraph per later row, `name: cell; name: cell` (`base.table_rows`), its caption first. Other tables, and
    tables holding a table or a dropped element (script, form, ...), are left to the walk (cells joined " | ")."""
    from lxml import etree

    for table in list(root.iter("table")):
        trs = list(table.iter("tr"))
        if not trs or table.find(".//table") is not None or any(table.iter(*_DROP_TAGS)):
            continue
        cells = [[c for c in tr if isinstance(c.tag, str) and c.tag in ("td", "th")] for tr in trs]
        first = trs[0].getparent()
        if not cells[0] or not (all(c.tag == "th" for c in cells[0]) or (first is not None and first.tag == "thead")):
            continue
        div = etree.Element("div")
        caption = table.find("caption")
        texts = [_clean(" ".join(caption.itertext()))] if caption is not None else []
        texts += table_rows([[_clean(" ".join(c.itertext())) for c in row] for row in cells], header=True)
        for text in texts:
            etree.SubElement(div, "p").text = text
        div.tail = table.tail
        parent = table.getparent()
        if parent is not None:
            parent.replace(table, div)


def load_html(data: bytes, path: Path) -> LoadedDocument:
    """HTML via lxml's C parser, walked once: linear time, and nesting past MAX_HTML_DEPTH is an IngestError."""
    import lxml.html
    from lxml import etree

    text = decode_text(data)
    if not text.strip():
        raise IngestError("no text found in this html file; nothing to ingest")
    parser = lxml.html.HTMLParser(remove_comments=True, remove_pis=True, huge_tree=False)
    try:
        root = lxml.html.document_fromstring(text, parser=parser)
    except (etree.ParserError, ValueError) as exc:
        raise IngestError(f"malformed HTML ({_one_line(exc)}); re-save it or convert it to text") from None
    if any("depth" in e.message.lower() for e in parser.error_log):
        raise IngestError(f"HTML nested deeper than {MAX_HTML_DEPTH} levels (a parser limit that real pages stay "
                          "far below); flatten the markup or convert the page to text")
    title_el = root.find(".//title")
    title = _clean(title_el.text_content()) if title_el is not None else ""
    body = root.find("body")
    _header_tables(root)
    first_h1, blocks = _html_title_and_blocks(body if body is not None else root)
    return LoadedDocument(title=title or first_h1 or path.stem, format="html", blocks=blocks)


