"""The visit pages: logging a visit through the form, errors beside their fields, scope, the office's lists, the plan."""
from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

from sqlalchemy import func, select

from common.models import Attachment, AuditEntry, Enterprise, Visit, utcnow
from common.center import settings as stored
from common.visits.reference import CADENCE_KEY, CHECKLIST_KEY, DEFAULT_CHECKLIST

HTML = {"Accept": "text/html"}
HTMX = {"Accept": "text/html", "HX-Request": "true"}
JPEG = b"\xff\xd8\xff\xe0" + b"lianfu-test-photo" * 20 + b"\xff\xd9"


def visit_count(db: Any) -> int:
    with db.reads() as session:
        return session.scalar(select(func.count()).select_from(Visit)) or 0


def form_for(enterprise_id: Any, **extra: str) -> dict[str, str]:
    return {"enterprise_id": str(enterprise_id), "visited_at": "2026-11-20T09:30", "kind": "safety",
            "findings": "消防通道堆放杂物", "guidance": "当场指导清理", "checklist[fire_safety]": "issue",
            "checklist[labour_relations]": "ok", "hazards[0][description]": "消防通道堵塞", "hazards[0][severity]": "high",
            "hazards[1][description]": "", "hazards[1][severity]": "medium", "latitude": "31.230416",
            "longitude": "121.473701", "visitors": "张警官、李警官", **extra}


def field_error(html: str, field: str) -> str:
    match = re.search(rf'<p class="field-error" id="e-{re.escape(field)}">([^<]*)</p>', html)
    return match.group(1) if match else ""


def test_log_a_visit_through_the_form_with_a_photo(clients: Any, world: dict[str, Any], db: Any) -> None:
    sub = clients("subcenter_sh")
    enterprise = world["enterprises"]["sh"]
    page = sub.get(f"/visits/new?enterprise_id={enterprise}", headers=HTML)
    assert page.status_code == 200 and "<h1>记录巡访</h1>" in page.text
    # The enterprise given in the link is the picker's choice, shown with its credit code and region.
    assert f'<input type="radio" name="enterprise_id" value="{enterprise}" checked>' in page.text
    assert "上海市 浦东新区" in page.text
    for name in ("enterprise_id", "visited_at", "kind", "findings", "guidance", "visitors", "topic", "attendance",
                 "latitude", "longitude", "photos", "checklist[fire_safety]", "hazards[0][description]"):
        assert f'name="{name}"' in page.text, name
    assert "消防安全" in page.text and "/static/visits.js" in page.text
    assert re.search(r'name="visited_at" type="datetime-local" value="\d{4}-\d\d-\d\dT\d\d:\d\d"', page.text)

    before = visit_count(db)
    saved = sub.post("/visits", data=form_for(enterprise), files=[("photos", ("现场.jpg", JPEG, "image/jpeg"))],
                     follow_redirects=False)
    assert saved.status_code == 303, saved.text[:500]
    match = re.fullmatch(r"/visits/([0-9a-f-]{36})\?saved=1", saved.headers["location"])
    assert match, saved.headers["location"]
    assert visit_count(db) == before + 1
    with db.reads() as session:
        visit = session.get(Visit, __import__("uuid").UUID(match.group(1)))
        assert visit.enterprise_id == enterprise and visit.node_id == "sc-shanghai" and visit.kind == "safety"
        assert visit.hazards == [{"description": "消防通道堵塞", "severity": "high"}]
        assert visit.checklist["fire_safety"] == "issue" and visit.checklist["labour_relations"] == "ok"
        assert visit.latitude == 31.230416 and visit.longitude == 121.473701 and visit.visitors == "张警官、李警官"
        photo = session.scalars(select(Attachment).where(Attachment.entity_id == visit.id)).one()
        assert photo.entity_type == "visit" and photo.node_id == "sc-shanghai" and photo.content_type == "image/jpeg"

    detail = sub.get(saved.headers["location"], headers=HTML)
    assert detail.status_code == 200
    assert "巡访记录已保存" in detail.text and "data-clear-draft=" in detail.text
    assert "消防通道堵塞" in detail.text and "严重" in detail.text
    assert re.search(r"消防安全</span>\s*<span class=\"badge badge-danger\">存在问题", detail.text)
    assert f'src="/attachments/{photo.id}"' in detail.text
    assert "31.230416, 121.473701" in detail.text
    link = re.search(r'id="open-case" href="([^"]+)"', detail.text)
    assert link, "the button that opens a case from the visit"
    target = urlparse(link.group(1).replace("&amp;", "&"))
    query = parse_qs(target.query)
    assert target.path == "/cases/new" and query["enterprise_id"] == [str(enterprise)] and query["channel"] == ["visit"]
    assert "启东测试sh" in query["title"][0] and "消防通道堆放杂物" in query["description"][0]
    assert "消防通道堵塞" in query["description"][0]
    assert sub.get(f"/attachments/{photo.id}").content == JPEG

    # htmx (and the page's script) get a client redirect instead of a 303.
    swapped = sub.post("/visits", data=form_for(enterprise), headers=HTMX)
    assert swapped.status_code == 204 and re.fullmatch(r"/visits/[0-9a-f-]{36}\?saved=1", swapped.headers["hx-redirect"])


def test_errors_in_chinese_next_to_the_field_and_nothing_saved(clients: Any, world: dict[str, Any], db: Any) -> None:
    sub = clients("subcenter_sh")
    before = visit_count(db)
    bad = form_for("", attendance="-3", latitude="100", visited_at="昨天")
    refused = sub.post("/visits", data=bad, headers=HTML)
    assert refused.status_code == 422 and "<html" in refused.text
    assert field_error(refused.text, "enterprise_id") == "此项必填"
    assert field_error(refused.text, "attendance") == "须为大于等于0的整数"
    assert field_error(refused.text, "latitude") == "坐标不正确"
    assert field_error(refused.text, "visited_at") == "日期时间格式不正确"
    assert field_error(refused.text, "kind") == ""  # a good field has no message
    # What was typed comes back.
    assert "消防通道堆放杂物</textarea>" in refused.text and 'value="消防通道堵塞"' in refused.text
    assert visit_count(db) == before

    # The page's script swaps only the form.
    fragment = sub.post("/visits", data=bad, headers=HTMX)
    assert fragment.status_code == 422 and "<html" not in fragment.text
    assert fragment.text.lstrip().startswith('<form id="visit-form"') and 'data-has-errors="true"' in fragment.text

    # A file that is not a photo is refused beside the photo field, and the visit with it.
    not_photo = sub.post("/visits", data=form_for(world["enterprises"]["sh"]), headers=HTML,
                         files=[("photos", ("名单.txt", b"hello", "text/plain"))])
    assert not_photo.status_code == 422 and field_error(not_photo.text, "photos") == "这里只能上传照片"
    assert visit_count(db) == before

    english = sub.post("/visits?lang=en", data=bad, headers=HTML)
    assert field_error(english.text, "enterprise_id") == "This field is required"


def test_scope_of_the_visit_pages(clients: Any, world: dict[str, Any], db: Any) -> None:
    sh, sz = clients("subcenter_sh"), clients("subcenter_sz")
    listing = sh.get("/visits", headers=HTML).text
    assert "启东测试sh" in listing and "启东测试ws" in listing and "启东测试sz" not in listing
    other = sz.get("/visits", headers=HTML).text
    assert "启东测试sz" in other and "启东测试sh" not in other
    assert sz.get(f"/visits/{world['visits']['sh']}", headers=HTML).status_code == 404
    assert sh.get(f"/visits/{world['visits']['sh']}", headers=HTML).status_code == 200

    before = visit_count(db)
    foreign = sz.post("/visits", data=form_for(world["enterprises"]["sh"]), headers=HTML)
    assert foreign.status_code == 422 and field_error(foreign.text, "enterprise_id") == "没有该企业"
    # The picker offers only the caller's enterprises.
    picker = sz.get("/enterprises/picker?enterprise_q=测试", headers=HTMX).text
    assert "启东测试sz" in picker and "启东测试sh" not in picker

    # A workstation reads its visits but may not log one (policy.WRITERS["visit"]).
    ws = clients("workstation_1")
    assert "启东测试ws" in ws.get("/visits", headers=HTML).text
    assert ws.get("/visits/new", headers=HTML).status_code == 403
    refused = ws.post("/visits", data=form_for(world["enterprises"]["ws"]), headers=HTML)
    assert refused.status_code == 403 and "无权" in refused.text
    assert visit_count(db) == before


def test_list_filters_and_htmx_rows(clients: Any, world: dict[str, Any], db: Any) -> None:
    sub = clients("subcenter_sh")
    legal = form_for(world["enterprises"]["ws"], kind="legal_education", topic="反诈宣传", attendance="35",
                     visited_at="2026-10-05T14:00")
    assert sub.post("/visits", data=legal, follow_redirects=False).status_code == 303
    rows = sub.get("/visits?kind=legal_education", headers=HTMX)
    assert rows.text.lstrip().startswith('<section id="visit-rows"') and "<html" not in rows.text
    assert "启东测试ws" in rows.text and "启东测试sh" not in rows.text and "法制宣传" in rows.text
    assert "启东测试sh" not in sub.get("/visits?q=测试ws", headers=HTMX).text
    dated = sub.get("/visits?date_from=2026-10-01&date_to=2026-10-31", headers=HTMX).text
    assert "2026-10-05 14:00" in dated and "2026-11-01" not in dated
    by_enterprise = sub.get(f"/visits?enterprise_id={world['enterprises']['sh']}", headers=HTMX).text
    assert "启东测试sh" in by_enterprise and "启东测试ws" not in by_enterprise
    assert "Log a visit" in sub.get("/visits?lang=en", headers=HTML).text


def test_the_office_edits_the_checklist_and_cadences_audited(clients: Any, world: dict[str, Any], db: Any) -> None:
    sub = clients("subcenter_sh")
    assert sub.get("/visits/settings", headers=HTML).status_code == 403
    assert sub.post("/visits/settings", data={"item_label": "偷改"}, headers=HTML).status_code == 403

    office = clients("office")
    page = office.get("/visits/settings", headers=HTML)
    assert page.status_code == 200 and 'value="消防安全"' in page.text and 'name="cadence_high" ' in page.text
    items = [dict(item) for item in DEFAULT_CHECKLIST]
    items[0]["label"] = "消防设施与通道"
    items = [item for item in items if item["key"] != "fraud_prevention"]
    form: dict[str, Any] = {
        "item_key": [i["key"] for i in items] + [""], "item_label": [i["label"] for i in items] + ["食品安全"],
        "item_label_en": [i["label_en"] for i in items] + ["Food safety"],
        "cadence_high": "20", "cadence_medium": "60", "cadence_low": "120",
    }
    saved = office.post("/visits/settings", data=form, follow_redirects=False)
    assert saved.status_code == 303 and saved.headers["location"] == "/visits/settings?saved=1"
    with db.reads() as session:
        checklist = stored.get(session, CHECKLIST_KEY)
        assert checklist[0] == {"key": "fire_safety", "label": "消防设施与通道", "label_en": "Fire safety"}
        assert checklist[-1] == {"key": "food_safety", "label": "食品安全", "label_en": "Food safety"}
        assert "fraud_prevention" not in {i["key"] for i in checklist}
        assert stored.get(session, CADENCE_KEY) == {"high": 20, "medium": 60, "low": 120}
        audited = session.scalars(select(AuditEntry).where(AuditEntry.entity_type == "setting")).all()
        assert {(a.entity_id, a.actor) for a in audited} == {(CHECKLIST_KEY, "office"), (CADENCE_KEY, "office")}
    new_form = sub.get("/visits/new", headers=HTML).text
    assert "消防设施与通道" in new_form and 'name="checklist[food_safety]"' in new_form and "防诈骗宣传" not in new_form

    # A bad cadence is shown beside its field and changes nothing (the checklist of the same form neither).
    form.update(cadence_medium="0", item_label=[i["label"] for i in items] + ["食品卫生"])
    refused = office.post("/visits/settings", data=form, headers=HTML)
    assert refused.status_code == 422 and field_error(refused.text, "cadence_medium") == "须在1到3650天之间"
    with db.reads() as session:
        assert stored.get(session, CADENCE_KEY)["medium"] == 60
        assert stored.get(session, CHECKLIST_KEY)[-1]["label"] == "食品安全"
        assert session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.entity_type == "setting")) == 2


def _enterprise(db: Any, world: dict[str, Any], name: str, risk: str, visited_days_ago: int | None) -> Any:
    from common.roster import service as roster
    from common.visits import service as visits
    from common.validation import make_credit_code

    p = world["principals"]["office"]
    with db.transaction() as session:
        serial = session.scalar(select(func.count()).select_from(Enterprise)) + 50
        e = roster.create_enterprise(session, p, {"name": name, "credit_code": make_credit_code("9", "1", "310115", f"{serial:08d}"),
                                                  "region_code": "310115", "industry": "construction", "node": "sc-shanghai",
                                                  "risk_level": risk})
        if visited_days_ago is not None:
            visits.create_visit(session, p, {"enterprise_id": str(e.id), "kind": "safety",
                                             "visited_at": (utcnow() - timedelta(days=visited_days_ago)).isoformat()})
        return e.id


def test_plan_on_the_sub_center_home_lists_overdue_enterprises(clients: Any, world: dict[str, Any], db: Any) -> None:
    _enterprise(db, world, "逾期高风险上海公司", "high", 45)
    _enterprise(db, world, "近期已访上海公司", "high", 5)
    _enterprise(db, world, "从未巡访上海公司", "low", None)
    _enterprise(db, world, "中风险近访上海公司", "medium", 60)

    home = clients("subcenter_sh").get("/", headers=HTML)
    assert home.status_code == 200 and "<h1>工作台</h1>" in home.text
    plan = home.text.split('id="home-plan"')[1].split('id="home-cases"')[0]
    assert "逾期高风险上海公司" in plan and "从未巡访上海公司" in plan and "从未巡访" in plan
    assert "近期已访上海公司" not in plan and "中风险近访上海公司" not in plan
    assert plan.index("逾期高风险上海公司") < plan.index("从未巡访上海公司")  # the riskiest first
    assert "启东测试sz" not in plan
    cases = home.text.split('id="home-cases"')[1]
    assert "sh 工程款纠纷" in cases and "ws 工程款纠纷" in cases and "sz 工程款纠纷" not in cases

    # The cadence is the office's data: a shorter one for medium risk puts that enterprise on the plan.
    with db.transaction() as session:
        stored.put(session, world["principals"]["office"], CADENCE_KEY, {"high": 30, "medium": 30, "low": 180})
    page = clients("subcenter_sh").get("/visits/plan", headers=HTML).text
    assert "中风险近访上海公司" in page and "近期已访上海公司" not in page

    # Other roles get their placeholder section for now.
    office_home = clients("office").get("/", headers=HTML)
    assert office_home.status_code == 200 and 'href="/cases"' in office_home.text and 'id="home-plan"' not in office_home.text
    assert clients().get("/", headers=HTML, follow_redirects=False).status_code in (302, 303)
