"""What every loader shares: the `Block`/`LoadedDocument` result types, bounded reading, decoding, and the small
text helpers (paragraph cleaning, the heading stack). Split from loaders.py so format modules such as html.py can
use them without importing the loader registry."""

from __future__ import annotations

import codecs
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ragft.errors import IngestError
from ragft.text import LIST_ITEM


@dataclass(frozen=True)
class Block:
    """A paragraph-like unit of text (paragraph, table row, csv row, json record) under a heading path."""

    text: str
    headings: tuple[str, ...] = ()


@dataclass
class LoadedDocument:
    """What a loader extracted from one file."""

    title: str
    format: str
    blocks: list[Block] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The whole extracted text (headings as their own lines): what the content hash covers."""
        out: list[str] = []
        current: tuple[str, ...] = ()
        for block in self.blocks:
            if block.headings != current:
                # Emit only the headings that changed, so the text reads like the source.
                common = 0
                while common < min(len(current), len(block.headings)) and current[common] == block.headings[common]:
                    common += 1
                out.extend("#" * (i + 1) + " " + h for i, h in enumerate(block.headings) if i >= common)
                current = block.headings
            out.append(block.text)
        return "\n\n".join(out)


Loader = Callable[[bytes, Path], LoadedDocument]


# ---------------------------------------------------------------------------- reading and decoding
def read_file_bytes(path: Path, max_bytes: int) -> bytes:
    """Read a file after checking it with `stat` (so a 200 MB file is refused without reading it)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise IngestError("no such file (a broken link?)") from None
    except OSError as exc:
        raise IngestError(f"cannot access: {exc.strerror or exc}") from None
    if not path.is_file():
        raise IngestError("not a regular file (device, pipe or socket); pass files or folders")
    if st.st_size == 0:
        raise IngestError("empty file (0 bytes); nothing to ingest")
    if st.st_size > max_bytes:
        raise IngestError(
            f"file is {st.st_size / 1e6:.1f} MB, above the {max_bytes / 1e6:g} MB limit; split it or raise "
            "chunking.max_file_mb in ragft.toml"
        )
    try:
        return path.read_bytes()
    except PermissionError:
        raise IngestError("permission denied; check the file's read permission") from None
    except OSError as exc:
        raise IngestError(f"cannot read: {exc.strerror or exc}") from None


_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def decode_text(data: bytes) -> str:
    """Bytes -> str: a BOM if present, else UTF-8, else the encoding charset-normalizer detects.

    Binary data is refused: NUL bytes in the first 8 KB (text in any 8-bit encoding has none; UTF-16/32 is
    recognised by its BOM before this check), or more than 5 % control/replacement characters after decoding.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return _check_printable(data.decode(encoding))
            except UnicodeDecodeError as exc:
                raise IngestError(f"not valid {encoding} text despite its byte-order mark ({exc.reason})") from None
    if b"\x00" in data[:8192]:
        raise IngestError("binary data, not text (NUL bytes); convert it to a supported text format first")
    try:
        return _check_printable(data.decode("utf-8"))
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    matches = from_bytes(data)
    best = matches.best()
    if best is None:
        raise IngestError("binary data or unknown text encoding; save the file as UTF-8")
    # Short Western texts score equally in several code pages (cp1250 turns "naïve" into "naďve");
    # on a tie prefer the most common legacy encodings.
    tied = {m.encoding: m for m in matches if m.chaos == best.chaos and m.coherence == best.coherence}
    for preferred in _PREFERRED_LEGACY:
        if preferred in tied and _reads_western(str(tied[preferred])):  # not "£ódŸ" for Polish "Łódź"
            return _check_printable(str(tied[preferred]))
    western = _plain_western(data, best.chaos)
    return _check_printable(western if western is not None else str(best))


_PREFERRED_LEGACY = ("cp1252", "latin_1", "iso8859_15")
_WESTERN = frozenset("ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÐÑÒÓÔÕÖØÙÚÛÜÝÞßàáâãäåæçèéêëìíîïðñòóôõöøùúûüýþÿŒœ€–—‘’‚“”„…•°£§©®«»¿¡·™\u00a0")
"""What Western European text in windows-1252 holds beyond ASCII: its accented letters and common punctuation;
not the symbols (¹ ³ ¿ between letters, Ÿ, Š) that text in another code page turns into when read as it."""


def _plain_western(data: bytes, best_chaos: float) -> str | None:
    """`data` as windows-1252 when that reads as plain Western text at least as clean as the detector's choice,
    else None. Why: on a short text charset-normalizer's language scores are noise, and it read the one line
    "café au lait coûte 3 euros" as cp775 ("cafķ ... co¹te"), so search for "café" found nothing; windows-1252
    is what an unlabelled legacy Western file most likely is (browsers read latin-1 labels as it). Text in
    another code page read as windows-1252 either leaves `_WESTERN` or scores as mess (Cyrillic "Ïðèâåò")."""
    from charset_normalizer.md import mess_ratio

    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        return None
    return text if _reads_western(text) and mess_ratio(text, 1.0) <= best_chaos else None


def _reads_western(text: str) -> bool:
    return all(ch < "\x80" or ch in _WESTERN for ch in text)


def _check_printable(text: str) -> str:
    sample = text[:20000]
    if sample:
        bad = sum(1 for ch in sample if ch == "\ufffd" or (unicodedata.category(ch) == "Cc" and ch not in "\t\n\r\f"))
        if bad / len(sample) > 0.05:
            raise IngestError(f"binary data, not text ({bad} control characters in the first {len(sample)}); convert it first")
    return text


# ---------------------------------------------------------------------------- helpers
_WS = re.compile(r"[ \t\f\v\u00a0]+")


def _clean(text: str) -> str:
    """Collapse runs of spaces inside a paragraph and join wrapped lines; a line that starts a list item stays on
    a line of its own (`LIST_ITEM`). Why: a list read as one line ("When is it an emergency? - difficulty
    breathing ... - a fit (seizure) lasting more than 3 minutes ...") was one sentence to every answer rule, and
    a question about one item was answered with the whole list; on its own line each item is a sentence
    (`prompting.split_sentences` splits before it)."""
    out = ""
    for line in (_WS.sub(" ", line).strip() for line in text.splitlines()):
        if line:
            out += ("\n" if LIST_ITEM.match(line) else " ") + line if out else line
    return out


def _paragraphs(text: str) -> list[str]:
    return [p for p in (_clean(part) for part in re.split(r"\n\s*\n", text)) if p]


_NAME_PUNCT = re.compile(r"\s*[:;]+\s*")


def table_rows(rows: list[list[str]], header: bool) -> list[str]:
    """A table's rows as block texts: under a header row, each later row as `name: cell; name: cell` (the CSV
    loader's form, so a row reads on its own and `records` can cut it to the asked column); without one, or for a
    row whose cells do not line up with the header's, its cells joined with " | ". Empty cells and rows go.

    Why: "Express | next business day | 12.50 EUR" does not say which cell is the price; the header row that does
    may sit in another chunk, or the model may not pair a cell with a name three cells away.
    `header`: the first row names the columns (an explicit mark of the format: `<th>` cells, a Markdown delimiter
    row, a Word header row)."""
    names = [" ".join(_NAME_PUNCT.sub(" ", cell).split()) for cell in rows[0]] if header and rows else []
    if len(rows) < 2 or not all(names) or len(set(names)) < len(names):
        names = []  # no usable names: a missing or repeated one would mislabel a cell
    out = []
    for row in rows[1:] if names else rows:
        if not any(row):
            continue
        if names and len(row) == len(names):
            out.append("; ".join(f"{n}: {c}" for n, c in zip(names, row) if c))
        else:
            out.append(" | ".join(c for c in row if c))
    return out


class _HeadingPath:
    """The stack of open headings: a level-L heading closes every open heading of level >= L."""

    def __init__(self) -> None:
        self._stack: list[tuple[int, str]] = []

    def enter(self, level: int, text: str) -> None:
        while self._stack and self._stack[-1][0] >= level:
            self._stack.pop()
        self._stack.append((level, text))

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(t for _, t in self._stack)


def _one_line(exc: BaseException) -> str:
    msg = " ".join(str(exc).split()) or type(exc).__name__
    return msg[:200]


