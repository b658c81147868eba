"""No uploaded file runs as a page of ours, and one upload limit holds on every form.

Files are checked by their bytes when attached and again when served: only a raster picture is shown inline;
anything else, whatever type its row claims, is a download under a sandbox policy. The size limit is
`LIANFU_MAX_UPLOAD_MB`, here 1 MB so the tests stay small.
"""
from __future__ import annotations

import io
import re
import struct
import uuid
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from common.attachments import filetypes
from common.db import Database
from common.models import Attachment, Case
from common.settings import Settings, load_settings
from common.attachments.pages import SANDBOX, form_limit

HTML = {"Accept": "text/html"}
MB = 1024 * 1024
PAGE_SCRIPT = b"<!DOCTYPE html><html><body><script>document.title = 'pwned'</script>Invoice</body></html>"
SVG_SCRIPT = (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)">'
              b"<script>alert(document.cookie)</script></svg>")
TOO_LARGE = "超过 1 MB：每个文件最大 1 MB"
NOT_ACCEPTED = "不是可接受的文件类型"


@pytest.fixture
def db_kind() -> str:
    """Which bytes are accepted and how they are served does not depend on the database: SQLite alone."""
    return "sqlite"


def png() -> bytes:
    """A real 1×1 PNG."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
            + chunk(b"IEND", b""))


def ooxml(main_part: str, main_type: str) -> bytes:
    """A minimal Office Open XML package: its content types and its main part."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/'
                                                f'package/2006/content-types"><Override PartName="/{main_part}" '
                                                f'ContentType="{main_type}"/></Types>')
        archive.writestr(main_part, "<root/>")
    return buffer.getvalue()


def compound_file(*streams: str) -> bytes:
    """A compound (OLE) file's header and one directory sector naming `streams` after the root entry."""
    header = filetypes.OLE_MAGIC + bytes(512 - len(filetypes.OLE_MAGIC))
    entries = b""
    for name, entry_type in [("Root Entry", 5), *((s, 2) for s in streams)]:
        encoded = (name + "\0").encode("utf-16-le")
        entries += encoded.ljust(64, b"\0") + struct.pack("<HB", len(encoded), entry_type) + bytes(128 - 67)
    return header + entries.ljust(512, b"\0")


def plain_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "说明")
    return buffer.getvalue()


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    """The suite's hub settings with a 1 MB upload limit."""
    return Settings(role="hub", node_id="hub", data_dir=tmp_path / "hub", db_url=db_url,
                    secret_key="test-secret-key-0123456789abcdef", cookie_secure=True, max_upload_mb=1)


def count(db: Database, model: Any, *where: Any) -> int:
    with db.reads() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def stored_row(db: Database, settings: Settings, owner: Any, data: bytes, content_type: str,
               filename: str) -> uuid.UUID:
    """An attachment as a spoke's sync could have brought it before files were checked: row and bytes as sent."""
    from common.attachments.dbblobs import blob_store_for

    sha = blob_store_for(settings, db).put(data)  # where the hub keeps files: its database on PostgreSQL
    with db.transaction() as session:
        row = Attachment(node_id="ws-demo-1", sha256=sha, size=len(data), content_type=content_type, filename=filename,
                         entity_type="enterprise", entity_id=owner)
        session.add(row)
        session.flush()
        return row.id


def field_error(html: str, field: str) -> str:
    match = re.search(rf'<p class="field-error" id="e-{re.escape(field)}">([^<]*)</p>', html)
    return match.group(1) if match else ""


def assert_download(response: Any, filename_star: str) -> None:
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-disposition"].startswith("attachment; filename=")
    assert f"filename*=UTF-8''{filename_star}" in response.headers["content-disposition"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"] == SANDBOX


# ── Telling files by their bytes ───────────────────────────────────────────────────────────────────────────────

@pytest.mark.parametrize(("data", "expected"), [
    (png(), "png"),
    (b"\xff\xd8\xff\xe0" + b"jfif" * 10, "jpeg"),
    (b"GIF89a" + bytes(20), "gif"),
    (b"RIFF\x10\x00\x00\x00WEBPVP8 " + bytes(8), "webp"),
    (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "pdf"),
    (ooxml("word/document.xml", "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"),
     "docx"),
    (ooxml("xl/workbook.xml", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"), "xlsx"),
    (ooxml("ppt/presentation.xml",
           "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml"), "pptx"),
    (compound_file("WordDocument", "1Table"), "doc"),
    (compound_file("Workbook"), "xls"),
    (plain_zip(), "zip"),
    ("约谈笔录：已约定三日内付清。\n金额 < 12 万元".encode(), "text"),
    ("工程款纠纷说明".encode("gb18030"), "text"),
    ("\ufeff名单\r\n张三\t项目经理".encode(), "text"),
])
def test_accepted_files_are_told_by_their_bytes(data: bytes, expected: str) -> None:
    kind = filetypes.sniff(data)
    assert kind is not None and kind.name == expected
    assert kind.is_picture == (expected in ("png", "jpeg", "gif", "webp"))


@pytest.mark.parametrize("data", [
    PAGE_SCRIPT,
    b"  \n<html><script>alert(1)</script>",
    b"\xef\xbb\xbf<!doctype html><p>hi",
    "<p>发票</p>".encode("gb18030"),
    b"Invoice attached.\n<script>fetch('/api/v1/nodes')</script>",
    SVG_SCRIPT,
    b"<svg xmlns='http://www.w3.org/2000/svg'/>",
    b"<?xml version='1.0'?><note/>",
    b"MZ\x90\x00\x03\x00\x00\x00",  # a Windows program
    bytes(range(256)),
    "name 名单".encode("utf-16"),
    b"PK\x03\x04 not really a zip",
    compound_file("\x05SummaryInformation"),  # a compound file that is no Office document (an installer, say)
])
def test_markup_programs_and_unknown_bytes_are_refused(data: bytes) -> None:
    assert filetypes.sniff(data) is None


def test_the_limit_is_one_setting() -> None:
    assert Settings().max_upload_mb == 20
    assert load_settings().max_upload_mb == 20


def test_the_limit_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIANFU_MAX_UPLOAD_MB", "64")
    settings = load_settings()
    assert settings.max_upload_mb == 64
    # A form with several files may send that many of the largest, within the cap, and its fields besides.
    assert form_limit(settings, 1) == 65 * MB and form_limit(settings, 10) == 101 * MB


# ── (a) a page attached by a workstation ───────────────────────────────────────────────────────────────────────

def raise_request(client: Any, world: dict[str, Any], files: Any, headers: dict[str, str] = HTML) -> Any:
    data = {"enterprise_id": str(world["enterprises"]["ws"]), "channel": "platform", "category": "economic_dispute",
            "urgency": "urgent", "jurisdiction": "local", "title": "分包方拖欠劳务费", "description": "涉及工人 30 名",
            "details.dispute_kind": "labour", "details.amount": "120000", "details.workers_involved": "30",
            "details.people_involved": "张三 项目经理", "csrf_token": client.csrf}
    return client.post("/cases/new", data=data, files=files, headers=headers, follow_redirects=False)


def test_a_page_attached_by_a_workstation_is_refused(clients: Any, world: dict[str, Any], db: Database) -> None:
    ws = clients("workstation_1")
    cases, files = count(db, Case), count(db, Attachment)
    for claimed in ("text/html", "application/pdf", "image/png"):
        refused = raise_request(ws, world, {"files": ("invoice.html", PAGE_SCRIPT, claimed)})
        assert refused.status_code == 422 and "<html" in refused.text
        message = field_error(refused.text, "file")
        assert "invoice.html" in message and NOT_ACCEPTED in message
        assert 'value="分包方拖欠劳务费"' in refused.text  # what was typed comes back
    assert count(db, Case) == cases and count(db, Attachment) == files


def test_a_page_already_stored_is_only_ever_a_sandboxed_download(clients: Any, world: dict[str, Any], db: Database,
                                                                 settings: Settings) -> None:
    attachment = stored_row(db, settings, world["enterprises"]["ws"], PAGE_SCRIPT, "text/html", "发票 invoice.html")
    office = clients("office")
    for headers in (HTML, {"Accept": "*/*"}):
        served = office.get(f"/attachments/{attachment}", headers=headers)
        assert_download(served, "%E5%8F%91%E7%A5%A8%20invoice.html")
        assert 'filename="__ invoice.html"' in served.headers["content-disposition"]  # the plain-ASCII fallback
        assert served.content == PAGE_SCRIPT


# ── (b) a "photo" that is an SVG with a script ─────────────────────────────────────────────────────────────────

def visit_form(world: dict[str, Any]) -> dict[str, str]:
    return {"enterprise_id": str(world["enterprises"]["sh"]), "visited_at": "2026-11-20T09:30", "kind": "safety",
            "findings": "消防通道堆放杂物", "guidance": "当场指导清理"}


def test_an_svg_photo_is_refused_and_a_stored_one_is_a_download(clients: Any, world: dict[str, Any], db: Database,
                                                               settings: Settings) -> None:
    sub = clients("subcenter_sh")
    files = count(db, Attachment)
    refused = sub.post("/visits", data=visit_form(world), headers=HTML,
                       files=[("photos", ("现场.svg", SVG_SCRIPT, "image/svg+xml"))])
    assert refused.status_code == 422 and field_error(refused.text, "photos") == "这里只能上传照片"
    # Named as a JPEG it is still no photo.
    disguised = sub.post("/visits", data=visit_form(world), headers=HTML,
                         files=[("photos", ("现场.jpg", SVG_SCRIPT, "image/jpeg"))])
    assert disguised.status_code == 422 and field_error(disguised.text, "photos") == "这里只能上传照片"
    # Nor may it come in as a case's document.
    as_document = raise_request(clients("workstation_1"), world, {"files": ("图.svg", SVG_SCRIPT, "image/svg+xml")})
    assert as_document.status_code == 422 and NOT_ACCEPTED in field_error(as_document.text, "file")
    assert count(db, Attachment) == files

    attachment = stored_row(db, settings, world["enterprises"]["ws"], SVG_SCRIPT, "image/svg+xml", "现场.svg")
    assert_download(clients("office").get(f"/attachments/{attachment}"), "%E7%8E%B0%E5%9C%BA.svg")


# ── (c) the bytes decide, not the claimed type ──────────────────────────────────────────────────────────────────

def test_the_bytes_decide_how_a_file_is_stored_and_served(clients: Any, world: dict[str, Any], db: Database,
                                                          settings: Settings) -> None:
    ws = clients("workstation_1")
    picture = png()
    saved = raise_request(ws, world, [("files", ("现场.png", picture, "text/html")),
                                      ("files", ("scan.png", "约谈笔录".encode(), "image/png"))])
    assert saved.status_code == 303, saved.text
    case_id = saved.headers["location"].rsplit("/", 1)[1]
    with db.reads() as session:
        rows = {row.filename: row for row in session.scalars(select(Attachment).where(
            Attachment.entity_id == uuid.UUID(case_id)))}
    assert rows["现场.png"].content_type == "image/png" and rows["scan.png"].content_type == "text/plain"

    shown = ws.get(f"/attachments/{rows['现场.png'].id}")
    assert shown.status_code == 200 and shown.content == picture
    assert shown.headers["content-type"] == "image/png"
    assert shown.headers["content-disposition"].startswith("inline;")
    assert shown.headers["x-content-type-options"] == "nosniff" and shown.headers["content-security-policy"] == SANDBOX
    assert_download(ws.get(f"/attachments/{rows['scan.png'].id}"), "scan.png")

    # Rows stored before the check, claiming the opposite of what they are.
    text_as_png = stored_row(db, settings, world["enterprises"]["ws"], b"not a picture", "image/png", "a.png")
    assert_download(ws.get(f"/attachments/{text_as_png}"), "a.png")
    png_as_page = stored_row(db, settings, world["enterprises"]["ws"], picture, "text/html", "b.html")
    served = ws.get(f"/attachments/{png_as_page}")
    assert served.headers["content-type"] == "image/png" and served.headers["content-disposition"].startswith("inline;")


# ── (d) one limit on every upload ───────────────────────────────────────────────────────────────────────────────

def upload_paths(clients: Any, world: dict[str, Any]) -> list[tuple[Any, str, dict[str, Any], str, str]]:
    """(client, path, fields, file field, the page's field for a refused file) for every form that takes files."""
    office, sub, ws = clients("office"), clients("subcenter_sh"), clients("workstation_1")
    case = {"enterprise_id": str(world["enterprises"]["ws"]), "channel": "platform", "category": "economic_dispute",
            "urgency": "urgent", "jurisdiction": "local", "title": "分包方拖欠劳务费", "description": "涉及工人 30 名",
            "details.dispute_kind": "labour", "details.amount": "120000", "details.workers_involved": "30",
            "details.people_involved": "张三"}
    application = {"kind": "workstation", "name": "启东海工浦东工作站", "region_code": "310115",
                   "parent_node": "sc-shanghai", "host_enterprise_id": str(world["enterprises"]["sh"]),
                   "head_name": "陈站长", "head_phone": "13912345678", "background": "在沪企业 40 家", "reason": "就近服务"}
    return [
        (sub, "/visits", visit_form(world), "photos", "photos"),
        (ws, "/cases/new", case, "files", "file"),
        (office, f"/cases/{world['cases']['sh']}/events", {"kind": "transferred", "note": "协作函 启公协〔2026〕17号"},
         "files", "file"),
        (sub, "/applications/new", application, "files", "file"),
        (sub, f"/applications/{world['applications']['sh']}/edit", {**application, "name": "启东海工上海工作站"},
         "files", "file"),
        (office, "/bulletins/new", {"kind": "warning", "severity": "serious", "title": "寒潮预警", "body": "注意防寒",
                                    "targets.nodes": ["sc-shanghai"], "publish": "0"}, "attachments", "attachments"),
    ]


def test_one_file_over_the_limit_is_refused_on_every_form_naming_the_limit(clients: Any, world: dict[str, Any],
                                                                           db: Database) -> None:
    big = b"\xff\xd8\xff\xe0" + bytes(MB)  # a JPEG's start: a photo and a document alike, just too large
    files = count(db, Attachment)
    for client, path, fields, file_field, page_field in upload_paths(clients, world):
        refused = client.post(path, data={**fields, "csrf_token": client.csrf}, headers=HTML, follow_redirects=False,
                              files=[(file_field, ("大照片.jpg", big, "image/jpeg"))])
        assert refused.status_code == 422, (path, refused.status_code)
        assert "<html" in refused.text, path  # the form again, not a bare error
        assert "“大照片.jpg”" + TOO_LARGE in refused.text, path
        if path != f"/cases/{world['cases']['sh']}/events":  # the case page shows it by the action's own form
            assert TOO_LARGE in field_error(refused.text, page_field), path
    assert count(db, Attachment) == files

    # Exactly the limit is fine.
    client, path, fields, file_field, _ = upload_paths(clients, world)[1]
    saved = client.post(path, data={**fields, "csrf_token": client.csrf}, headers=HTML, follow_redirects=False,
                        files=[(file_field, ("刚好.jpg", b"\xff\xd8\xff\xe0" + bytes(MB - 4), "image/jpeg"))])
    assert saved.status_code == 303 and count(db, Attachment) == files + 1


def test_a_request_larger_than_any_form_sends_is_refused_in_chinese(clients: Any, world: dict[str, Any],
                                                                    db: Database, settings: Settings) -> None:
    limit = form_limit(settings)
    assert limit == 11 * MB  # ten files of 1 MB and the fields
    huge = b"%PDF-1.4\n" + bytes(limit)
    files = count(db, Attachment)
    for client, path, fields, file_field, _ in upload_paths(clients, world):
        refused = client.post(path, data={**fields, "csrf_token": client.csrf}, headers=HTML, follow_redirects=False,
                              files=[(file_field, ("扫描件.pdf", huge, "application/pdf"))])
        assert refused.status_code == 413, (path, refused.status_code)
        assert refused.headers["content-type"].startswith("text/html"), path
        assert "一次提交的文件合计超过 11 MB。每个文件最大 1 MB" in refused.text, path
    # A program is told the same in problem details.
    client, path, fields, file_field, _ = upload_paths(clients, world)[1]
    answer = client.post(path, data={**fields, "csrf_token": client.csrf}, follow_redirects=False,
                         files=[(file_field, ("扫描件.pdf", huge, "application/pdf"))])
    assert answer.status_code == 413 and answer.headers["content-type"].startswith("application/problem+json")
    assert "每个文件最大 1 MB" in answer.json()["detail"]
    assert count(db, Attachment) == files
