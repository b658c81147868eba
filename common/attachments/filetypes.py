"""What a file is, told by its bytes: the kinds of attachment Lianfu accepts, and which of them a page may show."""
from __future__ import annotations

import io
import re
import struct
import zipfile
from dataclasses import dataclass


@dataclass(frozen=True)
class FileKind:
    """A kind of file on the allow-list: its name and the media type it is stored and served under."""

    name: str
    media_type: str

    @property
    def is_picture(self) -> bool:
        """A raster image: the only kind a browser is ever asked to show inline (it runs no script)."""
        return self.name in PICTURES


PNG = FileKind("png", "image/png")
JPEG = FileKind("jpeg", "image/jpeg")
GIF = FileKind("gif", "image/gif")
WEBP = FileKind("webp", "image/webp")
PDF = FileKind("pdf", "application/pdf")
DOCX = FileKind("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document")
XLSX = FileKind("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
PPTX = FileKind("pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation")
DOC = FileKind("doc", "application/msword")
XLS = FileKind("xls", "application/vnd.ms-excel")
PPT = FileKind("ppt", "application/vnd.ms-powerpoint")
TEXT = FileKind("text", "text/plain")
ZIP = FileKind("zip", "application/zip")
PICTURES = frozenset({"png", "jpeg", "gif", "webp"})

ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# OOXML names its main part's type in [Content_Types].xml; a macro-enabled variant names another and stays a zip.
OOXML_MAIN_TYPES = (
    (DOCX, "word/document.xml", b"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"),
    (XLSX, "xl/workbook.xml", b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"),
    (PPTX, "ppt/presentation.xml",
     b"application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml"),
)
CONTENT_TYPES_LIMIT = 256 * 1024
# Stream names that make a compound file a Word, Excel or PowerPoint document (rather than, say, an installer).
OLE_STREAMS = (("WordDocument", DOC), ("Workbook", XLS), ("Book", XLS), ("PowerPoint Document", PPT))
OLE_DIRECTORY_ENTRY = 128
# How far into a text browsers look before deciding it is a page; we look as far, and refuse what looks like one.
MARKUP_WINDOW = 1024
MARKUP = re.compile(rb"<\s*(!doctype|html|head|body|script|svg|iframe|object|embed|frameset|meta|link|style|\?xml)",
                    re.IGNORECASE)
# Control characters no plain text holds (tab, line feed, form feed and carriage return are fine).
CONTROL = re.compile(rb"[\x00-\x08\x0b\x0e-\x1f\x7f]")
BOM = b"\xef\xbb\xbf"


def picture(head: bytes) -> FileKind | None:
    """The raster image the first bytes of a file announce, if any (16 bytes are enough)."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith((b"GIF87a", b"GIF89a")):
        return GIF
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    return None


def sniff(data: bytes) -> FileKind | None:
    """The kind of an uploaded file from its content alone, or None when it is not a kind Lianfu accepts.

    What the sender claimed (its content type, its file name) is never asked: a page that calls itself a PNG
    is still a page.
    """
    found = picture(data[:16])
    if found is not None:
        return found
    if data.startswith(b"%PDF"):
        return PDF
    if data.startswith(ZIP_MAGIC):
        return _zip_kind(data)
    if data.startswith(OLE_MAGIC):
        return _ole_kind(data)
    return TEXT if is_plain_text(data) else None


def _zip_kind(data: bytes) -> FileKind | None:
    """An Office document when its parts say so, else any zip that opens; a broken archive is refused."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            if "[Content_Types].xml" in names:
                with archive.open("[Content_Types].xml") as handle:
                    declared = handle.read(CONTENT_TYPES_LIMIT)
                for kind, part, main_type in OOXML_MAIN_TYPES:
                    if part in names and main_type in declared:
                        return kind
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, OSError, EOFError, RuntimeError):
        # RuntimeError: an encrypted [Content_Types].xml, which no Office document has.
        return None
    return ZIP


def _ole_kind(data: bytes) -> FileKind | None:
    """A legacy Word/Excel/PowerPoint file, known by a directory entry naming its main stream.

    Directory entries are 128-byte records at 128-byte boundaries after the header (whatever the sector size),
    so reading them needs no walk of the allocation table.
    """
    names: set[str] = set()
    for start in range(512, len(data) - OLE_DIRECTORY_ENTRY + 1, OLE_DIRECTORY_ENTRY):
        length, entry_type = struct.unpack_from("<HB", data, start + 64)
        if 2 <= length <= 64 and length % 2 == 0 and entry_type in (1, 2, 5):
            try:
                names.add(data[start:start + length - 2].decode("utf-16-le"))
            except UnicodeDecodeError:
                continue
    for stream, kind in OLE_STREAMS:
        if stream in names:
            return kind
    return None


def is_plain_text(data: bytes) -> bool:
    """UTF-8 or GB18030 text with no control characters and nothing a browser could take for a page or SVG."""
    if CONTROL.search(data):
        return False
    body = data[len(BOM):] if data.startswith(BOM) else data
    for encoding in ("utf-8", "gb18030"):
        try:
            body.decode(encoding)
        except UnicodeDecodeError:
            continue
        return not looks_like_markup(body)
    return False


def looks_like_markup(text: bytes) -> bool:
    """Markup at the start (any tag), or a page's tags anywhere in the window browsers sniff."""
    start = text.lstrip()
    return start.startswith(b"<") or MARKUP.search(text[:MARKUP_WINDOW]) is not None
