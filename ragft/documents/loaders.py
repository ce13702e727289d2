"""File loaders: bytes of one file -> a `LoadedDocument` (title + text blocks, each with its heading path).

One loader per format, chosen by file extension from the `LOADERS` registry. Loaders keep the structure the
chunker needs (headings of markdown, html h1-h6 and docx "Heading N" styles; one block per paragraph, csv row
or json record) and throw away what retrieval must not see (html script/style/nav, markdown link targets).

Every problem with an input becomes an `IngestError` with one line saying what is wrong and what to do; the
ingest pipeline records it in `IngestReport.failed` and carries on with the batch. Parsers raise a zoo of
exception types on malformed input, so the pdf/docx loaders translate *any* parser exception into that line.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ragft.errors import IngestError


from ragft.documents.base import (  # noqa: F401 - re-exported: loaders.Block etc. are the public names
    Block,
    LoadedDocument,
    Loader,
    _clean,
    _HeadingPath,
    _one_line,
    _paragraphs,
    decode_text,
    read_file_bytes,
    table_rows,
)
from ragft.documents.html import MAX_HTML_DEPTH, load_html  # noqa: F401


# ---------------------------------------------------------------------------- plain text and markdown
def load_txt(data: bytes, path: Path) -> LoadedDocument:
    text = decode_text(data)
    blocks = [Block(p) for p in _paragraphs(text)]
    first = blocks[0].text if blocks else ""
    title = first if 0 < len(first) <= 80 else path.stem
    return LoadedDocument(title=title, format="txt", blocks=blocks)


_ATX = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)\s*$")
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")


_EMPHASIS = (  # **strong**, __strong__, *em*, _em_, `code`: the marks go, the words stay
    re.compile(r"(?<![\w*])\*\*(?=\S)(.+?)(?<=\S)\*\*(?![\w*])"),
    re.compile(r"(?<![\w_])__(?=\S)(.+?)(?<=\S)__(?![\w_])"),
    re.compile(r"(?<![\w*])\*(?=[^\s*])([^*\n]+?)(?<=[^\s*])\*(?![\w*])"),
    re.compile(r"(?<![\w_])_(?=[^\s_])([^_\n]+?)(?<=[^\s_])_(?![\w_])"),
    re.compile(r"(?<!`)`([^`\n]+)`(?!`)"),
)


def _md_inline(text: str) -> str:
    """Keep link/image text, drop their targets (URLs are noise for retrieval), and drop emphasis and code marks.

    Why the marks: an FAQ written "**When do I get my laptop?** On your first day ..." was one sentence to the
    splitter ("?" before "**" ends none), and answers quoted the asterisks."""
    text = _LINK.sub(r"\1", _IMAGE.sub(r"\1", text))
    for pattern in _EMPHASIS:
        text = pattern.sub(r"\1", text)
    return text


_MD_DELIMITER = re.compile(r"^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$")
_MD_PIPE = re.compile(r"(?<!\\)\|")


def _md_cells(line: str) -> list[str]:
    """The cells of a Markdown table row: outer pipes dropped, split at unescaped pipes, inline marks dropped
    (`_md_inline`)."""
    line = line.strip()
    line = line[1:] if line.startswith("|") else line
    line = line[:-1] if line.endswith("|") and not line.endswith("\\|") else line
    return [_clean(_md_inline(c.replace("\\|", "|"))) for c in _MD_PIPE.split(line)]


def _md_table(lines: list[str]) -> tuple[list[str], list[str], list[str]] | None:
    """A paragraph's lines split into the text before a Markdown (GFM) table, the table's block texts
    (`base.table_rows`: the header row names each later row's cells) and the text after it; None without a
    table (a header line with a pipe, then a delimiter row of dashes with as many cells)."""
    for i in range(1, len(lines)):
        head = lines[i - 1]
        if _MD_DELIMITER.match(lines[i]) and "|" in head + lines[i] and "-" in lines[i]:
            if len(_md_cells(lines[i])) != len(_md_cells(head)):
                continue
            end = i + 1
            while end < len(lines) and "|" in lines[end]:
                end += 1
            rows = [_md_cells(head)] + [_md_cells(line) for line in lines[i + 1:end]]
            return lines[:i - 1], table_rows(rows, header=True), lines[end:]
    return None


def load_markdown(data: bytes, path: Path) -> LoadedDocument:
    lines = decode_text(data).splitlines()
    title = ""
    if lines and lines[0].strip() == "---":  # YAML front matter: skip it, keep its title
        for i in range(1, len(lines)):
            if lines[i].strip() in ("---", "..."):
                for meta in lines[1:i]:
                    if meta.lower().startswith("title:"):
                        title = meta.split(":", 1)[1].strip().strip("\"'")
                lines = lines[i + 1 :]
                break
    headings = _HeadingPath()
    blocks: list[Block] = []
    para: list[str] = []
    fence: str | None = None

    def prose(lines: list[str]) -> None:
        text = _clean(_md_inline("\n".join(lines)))
        if text:
            blocks.append(Block(text, headings.path))

    def flush() -> None:
        if not para:
            return
        if fence is not None:  # a code block: verbatim
            code = "\n".join(para).strip()
            if code:
                blocks.append(Block(code, headings.path))
        else:
            rest = list(para)
            while (table := _md_table(rest)) is not None:  # a table becomes one block per row
                before, rows, rest = table
                prose(before)
                blocks.extend(Block(row, headings.path) for row in rows)
            prose(rest)
        para.clear()

    for line in lines:
        if fence is not None:  # inside a code block: keep lines verbatim, no headings
            if line.strip().startswith(fence):
                flush()
                fence = None
            else:
                para.append(line)
            continue
        m = _FENCE.match(line)
        if m:
            flush()
            fence = m.group(1)
            continue
        m = _ATX.match(line)
        if m:
            flush()
            text = _md_inline(m.group(2)).strip()
            if text:
                headings.enter(len(m.group(1)), text)
                title = title or (text if len(m.group(1)) == 1 else "")
            continue
        m = _SETEXT.match(line)
        if m and len(para) == 1 and para[0].strip():  # "Title\n=====" style heading
            text = _md_inline(para.pop()).strip()
            level = 1 if m.group(1)[0] == "=" else 2
            headings.enter(level, text)
            title = title or (text if level == 1 else "")
            continue
        if not line.strip():
            flush()
        else:
            para.append(line)
    flush()
    return LoadedDocument(title=title or path.stem, format="md", blocks=blocks)


# ---------------------------------------------------------------------------- pdf
_NULL_HANDLER = logging.NullHandler()
def load_pdf(data: bytes, path: Path) -> LoadedDocument:
    from pypdf import PdfReader

    # pypdf logs recoverable damage ("incorrect startxref pointer") as warnings; with no handler configured Python
    # prints them to stderr beside ragft's own one-line report. A NullHandler keeps them out unless the caller
    # configures logging (the library convention); what we could not read is reported by the IngestError below.
    logging.getLogger("pypdf").addHandler(_NULL_HANDLER)

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                opened = reader.decrypt("")  # many "encrypted" PDFs only restrict printing: empty user password
            except Exception:  # noqa: BLE001 - unsupported crypto etc.; same advice either way
                opened = 0
            if not opened:
                raise IngestError("encrypted PDF (needs a password); decrypt it first, e.g. `qpdf --decrypt --password=PW in.pdf out.pdf`")
        pages = [page.extract_text() or "" for page in reader.pages]
        meta_title = (reader.metadata.title if reader.metadata else None) or ""
    except IngestError:
        raise
    except Exception as exc:  # noqa: BLE001 - pypdf raises many types on malformed files
        raise IngestError(f"malformed PDF ({_one_line(exc)}); re-export it or convert it to text") from None
    blocks: list[Block] = []
    section: str | None = None  # a section runs on across a page break until the next heading
    for number, text in enumerate(pages, 1):
        text = re.sub(r"(\w)-\n(\w)", r"\1\2", text)  # undo end-of-line hyphenation
        for heading, part in _pdf_sections(text):
            section = heading or section
            where = (f"page {number}", section) if section else (f"page {number}",)
            blocks.extend(Block(p, where) for p in _paragraphs(part))
    if not blocks:
        raise IngestError("PDF has no extractable text (scanned images?); run OCR first, e.g. `ocrmypdf`")
    return LoadedDocument(title=str(meta_title).strip() or path.stem, format="pdf", blocks=blocks)


_ENDS_SENTENCE = re.compile(r"[.!?:;,\"')\]]$")
_HEADING_WORDS = 8
_RUNS_ON = frozenset({"a", "an", "the", "of", "to", "in", "on", "at", "by", "for", "with", "from", "and", "or", "but",
                      "as", "than", "that", "which", "whose", "is", "are", "was", "were"})


def _pdf_sections(text: str) -> list[tuple[str | None, str]]:
    """A page's text cut at its headings: (heading or None, the text under it). A PDF's text has no structure
    (pypdf gives lines), and a heading line read into the paragraph after it ("Store routines The store opens 15
    minutes ...") was quoted in answers and citations as one sentence. A heading here is a short line (at most
    _HEADING_WORDS words, under 60% of the page's longest line, so no wrapped line of a paragraph) that ends no
    sentence and runs on into nothing (no closing punctuation, no "of"/"the" at its end), opens with a capital,
    follows the page's start or a line that ends a sentence, and is followed by a line that opens with a
    capital: what a reader takes for a heading without seeing its font."""
    lines = [line.strip() for line in text.splitlines()]
    longest = max((len(line) for line in lines), default=0)
    following = [""] * len(lines)  # the next non-empty line after each, found in one backward pass
    for i in range(len(lines) - 2, -1, -1):
        following[i] = lines[i + 1] or following[i + 1]
    out: list[tuple[str | None, list[str]]] = [(None, [])]
    previous = ""
    for line, after in zip(lines, following):
        words = line.split()
        if (words and len(words) <= _HEADING_WORDS and len(line) < 0.6 * longest and line[0].isupper()
                and not _ENDS_SENTENCE.search(line) and words[-1].lower() not in _RUNS_ON
                and (not previous or _ENDS_SENTENCE.search(previous)) and after[:1].isupper()):
            out.append((line, []))
        else:
            out[-1][1].append(line)
        if line:
            previous = line
    return [(heading, "\n".join(body)) for heading, body in out if heading or any(body)]


# ---------------------------------------------------------------------------- docx
_HEADING_STYLE = re.compile(r"^heading\s*(\d)$", re.IGNORECASE)


def _docx_cells(row: Any) -> list[str]:
    """A Word table row's cell texts; a merged cell (python-docx repeats it) once."""
    cells: list[str] = []
    last = None
    for cell in row.cells:  # a horizontally merged cell is the same <w:tc> repeated
        if cell._tc is not last:
            cells.append(_clean(cell.text))
        last = cell._tc
    return cells


def _docx_header(table: Any) -> bool:
    """True when the table's first row is marked as its header: Word's "Repeat as header row" (`w:tblHeader`),
    or every run of text in it set bold. Not the table style's "Header Row" look, which Word switches on for every
    new table, key/value tables included."""
    from docx.oxml.ns import qn

    if not table.rows:
        return False
    first = table.rows[0]
    props = first._tr.trPr
    if props is not None and props.find(qn("w:tblHeader")) is not None:
        return True
    runs = [r for cell in first.cells for p in cell.paragraphs for r in p.runs if r.text.strip()]
    return bool(runs) and all(r.bold for r in runs)


def load_docx(data: bytes, path: Path) -> LoadedDocument:
    import docx
    from docx.table import Table

    try:
        document = docx.Document(io.BytesIO(data))
        items = list(document.iter_inner_content())
        core_title = document.core_properties.title or ""
    except Exception as exc:  # noqa: BLE001 - zipfile/lxml/KeyError on broken packages
        raise IngestError(f"not a valid .docx file ({_one_line(exc)}); re-save it from Word/LibreOffice as .docx") from None
    headings = _HeadingPath()
    blocks: list[Block] = []
    title = core_title.strip()
    for item in items:
        if isinstance(item, Table):
            rows = [_docx_cells(row) for row in item.rows]
            blocks.extend(Block(text, headings.path) for text in table_rows(rows, header=_docx_header(item)))
            continue
        text = _clean(item.text)
        if not text:
            continue
        style = (item.style.name if item.style is not None else "") or ""
        m = _HEADING_STYLE.match(style)
        if style.lower() == "title":
            title = title or text
            headings.enter(0, text)  # above "Heading 1", so sections nest under the title
        elif m:
            headings.enter(int(m.group(1)), text)
            title = title or text
        else:
            blocks.append(Block(text, headings.path))
    return LoadedDocument(title=title or path.stem, format="docx", blocks=blocks)


# ---------------------------------------------------------------------------- csv / json
def load_csv(data: bytes, path: Path) -> LoadedDocument:
    """One block per row, written `column: value; column: value` so each row reads on its own."""
    text = decode_text(data)
    if path.suffix.lower() == ".tsv":
        dialect: Any = csv.excel_tab
    else:
        try:
            dialect = csv.Sniffer().sniff(text[:8192], delimiters=",;\t|")
        except csv.Error:
            dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    blocks: list[Block] = []
    try:
        header = [h.strip() for h in next(reader, [])]
        for row in reader:
            pairs = [
                f"{header[i] if i < len(header) and header[i] else f'column {i + 1}'}: {v.strip()}"
                for i, v in enumerate(row)
                if v.strip()
            ]
            if pairs:
                blocks.append(Block("; ".join(pairs)))
    except csv.Error as exc:
        raise IngestError(f"malformed CSV at line {reader.line_num}: {_one_line(exc)}") from None
    if not blocks and header:  # a header-only file still has words worth finding
        blocks.append(Block("; ".join(h for h in header if h)))
    return LoadedDocument(title=path.stem, format="csv", blocks=blocks)


def _flatten(value: Any, prefix: str = "") -> Iterable[str]:
    """Nested JSON -> `a.b: value` lines; lists of scalars become one comma-separated line."""
    if isinstance(value, dict):
        for key, sub in value.items():
            yield from _flatten(sub, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list):
        if all(not isinstance(v, (dict, list)) for v in value):
            joined = ", ".join(str(v) for v in value if v is not None and str(v).strip())
            if joined:
                yield f"{prefix}: {joined}" if prefix else joined
        else:
            for i, sub in enumerate(value):
                yield from _flatten(sub, f"{prefix}[{i}]" if prefix else f"[{i}]")
    elif value is not None and str(value).strip():
        text = str(value).strip()
        yield f"{prefix}: {text}" if prefix else text


def _records_to_blocks(records: list[Any]) -> list[Block]:
    """One block per record, its fields as `key: value; key: value` (a CSV row's form). Why not one field per line:
    a sentence joins lines, so an answer quoted "name: Dr Tomasz Nowak role: Veterinary Surgeon ... working_days:
    Tuesday, Wednesday, Friday", where no rule could tell a field from the next one's name."""
    return [Block(text) for text in ("; ".join(_flatten(r)) for r in records) if text.strip()]


def _json_title(records: list[Any], path: Path) -> str:
    if len(records) == 1 and isinstance(records[0], dict):
        for key in ("title", "name"):
            if isinstance(records[0].get(key), str) and records[0][key].strip():
                return records[0][key].strip()
    return path.stem


def load_json(data: bytes, path: Path) -> LoadedDocument:
    try:
        value = json.loads(decode_text(data))
    except json.JSONDecodeError as exc:
        raise IngestError(f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    if isinstance(value, dict):
        # {"items": [...records...]} is common: one block per record, other keys as a header block.
        lists = [k for k, v in value.items() if isinstance(v, list) and v and all(isinstance(x, dict) for x in v)]
        if len(lists) == 1:
            rest = {k: v for k, v in value.items() if k != lists[0]}
            blocks = _records_to_blocks(([rest] if rest else []) + value[lists[0]])
            return LoadedDocument(title=_json_title([value], path), format="json", blocks=blocks)
    records = value if isinstance(value, list) else [value]
    return LoadedDocument(title=_json_title(records, path), format="json", blocks=_records_to_blocks(records))


def load_jsonl(data: bytes, path: Path) -> LoadedDocument:
    records: list[Any] = []
    for number, line in enumerate(decode_text(data).splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise IngestError(f"invalid JSON on line {number} column {exc.colno}: {exc.msg}") from None
    return LoadedDocument(title=path.stem, format="jsonl", blocks=_records_to_blocks(records))


# ---------------------------------------------------------------------------- registry
LOADERS: dict[str, Loader] = {
    ".txt": load_txt,
    ".text": load_txt,
    ".md": load_markdown,
    ".markdown": load_markdown,
    ".html": load_html,
    ".htm": load_html,
    ".pdf": load_pdf,
    ".docx": load_docx,
    ".csv": load_csv,
    ".tsv": load_csv,
    ".json": load_json,
    ".jsonl": load_jsonl,
    ".ndjson": load_jsonl,
}


def supported(path: Path) -> bool:
    return path.suffix.lower() in LOADERS


def unsupported_reason(path: Path) -> str:
    kind = path.suffix.lower() or "(no extension)"
    return f"unsupported file type {kind}; supported: {', '.join(sorted(LOADERS))}"


PARSE_TIMEOUT_S = 60.0
"""Longest one file may take to parse. A file past it fails with one line and the batch goes on; the parser thread
is abandoned (daemon), so one hostile file cannot hang a batch or a server request."""


def _parse_bounded(loader: Loader, data: bytes, path: Path, timeout_s: float) -> LoadedDocument:
    """Run `loader` on a daemon thread and wait at most `timeout_s`; parser bugs become one-line IngestErrors."""
    result: list[LoadedDocument] = []
    error: list[BaseException] = []

    def run() -> None:
        try:
            result.append(loader(data, path))
        except BaseException as exc:  # noqa: BLE001 - handed back to the caller's thread below
            error.append(exc)

    worker = threading.Thread(target=run, name=f"ragft-parse-{path.name}", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        raise IngestError(f"parsing took longer than {timeout_s:g} s (a pathological file?); split or convert it to text")
    if error:
        exc = error[0]
        if isinstance(exc, RecursionError):
            raise IngestError("nested too deeply to parse; flatten the file or convert it to text") from None
        raise exc
    return result[0]


def load_file(path: Path, max_bytes: int, timeout_s: float = PARSE_TIMEOUT_S) -> LoadedDocument:
    """Read and parse one file within `timeout_s`. Raises IngestError (one line) for anything not ingestible."""
    loader = LOADERS.get(path.suffix.lower())
    if loader is None:
        raise IngestError(unsupported_reason(path))
    doc = _parse_bounded(loader, read_file_bytes(path, max_bytes), path, timeout_s)
    if not any(b.text.strip() for b in doc.blocks):
        raise IngestError(f"no text found in this {doc.format} file; nothing to ingest")
    return doc
