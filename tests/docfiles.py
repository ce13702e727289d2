"""Writers for real test documents of every binary format: a minimal PDF writer (text pages, Helvetica) and
python-docx documents with headings and a table. Also used once to build examples/demo's pdf/docx files.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def _pdf_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def write_pdf(path: Path, pages: Sequence[Sequence[str]], title: str | None = None) -> Path:
    """A valid PDF 1.4 with one text line per entry of each page (Latin-1 text, standard Helvetica font)."""
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    catalog = add(b"")  # filled below (needs the pages id)
    pages_id = add(b"")
    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    kids = []
    for lines in pages:
        ops = ["BT", "/F1 11 Tf", "14 TL", "72 740 Td"]
        for line in lines:
            ops.append(f"({_pdf_escape(line)}) Tj T*")
        ops.append("ET")
        stream = "\n".join(ops).encode("latin-1")
        content = add(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        kids.append(
            add(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 %d 0 R >> >> /Contents %d 0 R >>"
                % (pages_id, font, content)
            )
        )
    objects[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R >>" % pages_id
    objects[pages_id - 1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % k for k in kids),
        len(kids),
    )
    info = add(b"<< /Title (%s) >>" % _pdf_escape(title).encode("latin-1")) if title else None
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    trailer = b"<< /Size %d /Root %d 0 R" % (len(objects) + 1, catalog)
    if info:
        trailer += b" /Info %d 0 R" % info
    out += b"trailer\n" + trailer + b" >>\nstartxref\n%d\n%%%%EOF\n" % xref
    path.write_bytes(bytes(out))
    return path


def write_encrypted_pdf(path: Path, password: str = "secret") -> Path:
    """A PDF that needs a user password (pypdf's own encryption)."""
    import io

    from pypdf import PdfReader, PdfWriter

    plain = io.BytesIO()
    tmp = path.with_suffix(".plain.pdf")
    write_pdf(tmp, [["Top secret quarterly numbers."]])
    writer = PdfWriter(clone_from=PdfReader(tmp))
    writer.encrypt(user_password=password, owner_password=password)
    writer.write(plain)
    tmp.unlink()
    path.write_bytes(plain.getvalue())
    return path


def write_docx(path: Path, title: str, sections: Sequence[tuple[int, str, Sequence[str]]], table: Sequence[Sequence[str]] = ()) -> Path:
    """A .docx: a Title paragraph, then (heading level, heading, paragraphs) sections, then an optional table."""
    import docx

    document = docx.Document()
    document.add_heading(title, level=0)
    for level, heading, paragraphs in sections:
        document.add_heading(heading, level=level)
        for text in paragraphs:
            document.add_paragraph(text)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                grid.cell(r, c).text = value
    document.save(str(path))
    return path
