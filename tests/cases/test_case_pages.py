"""The case journeys through the pages: raising a request, the queues, a case's actions, refusals, routing."""
from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import func, select, update

from common.db import Database
from common.models import Attachment, Case, CaseEvent, utcnow

HTML = {"Accept": "text/html"}
CASE_URL = re.compile(r"^/cases/([0-9a-f-]{36})$")


def count(db: Database, model: Any, *where: Any) -> int:
    with db.reads() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def kinds(db: Database, case_id: Any) -> list[str]:
    with db.reads() as session:
        return list(session.scalars(select(CaseEvent.kind).where(CaseEvent.case_id == case_id)
                                    .order_by(CaseEvent.at, CaseEvent.id)))


def raise_request(client: Any, world: dict[str, Any], **fields: Any) -> Any:
    data = {"enterprise_id": str(world["enterprises"]["ws"]), "channel": "platform", "category": "economic_dispute",
            "urgency": "urgent", "jurisdiction": "local", "title": "分包方拖欠劳务费", "description": "涉及工人 30 名",
            "details.dispute_kind": "labour", "details.amount": "120000", "details.workers_involved": "30",
            "details.people_involved": "张三 项目经理", "csrf_token": client.csrf, **fields}
    return client.post("/cases/new", data=data, headers=HTML, follow_redirects=False)


def created_id(response: Any) -> UUID:
    assert response.status_code == 303, response.text
    match = CASE_URL.match(response.headers["location"])
    assert match, response.headers["location"]
    return UUID(match.group(1))


def act(client: Any, case_id: Any, kind: str, files: Any = None, **fields: Any) -> Any:
    data = {"kind": kind, "csrf_token": client.csrf, **fields}
    return client.post(f"/cases/{case_id}/events", data=data, files=files, headers=HTML, follow_redirects=False)


def dispatch(client: Any, case_id: Any, lead: str | None, *co: str) -> Any:
    data: dict[str, Any] = {"csrf_token": client.csrf, "co": list(co)}
    if lead:
        data["lead"] = lead
    return client.post(f"/cases/{case_id}/dispatch", data=data, headers=HTML, follow_redirects=False)


# ── Raising a request ──────────────────────────────────────────────────────────────────────────────────────────

def test_the_form_prefills_and_swaps_in_the_fields_of_the_chosen_category(clients: Any, world: dict[str, Any]) -> None:
    ws = clients("workstation_1")
    page = ws.get(f"/cases/new?enterprise_id={world['enterprises']['ws']}&channel=visit&title=巡访发现隐患", headers=HTML)
    assert page.status_code == 200 and "<html" in page.text
    assert 'value="巡访发现隐患"' in page.text
    assert 'name="channel"' not in page.text  # a workstation raises through the platform: not asked
    sub_page = clients("subcenter_sh").get(f"/cases/new?channel=visit&title=巡访发现隐患", headers=HTML)
    assert re.search(r'<option value="visit" selected>', sub_page.text)
    # A workstation's account holds one enterprise: fixed, not searched.
    assert f'<input type="hidden" name="enterprise_id" value="{world["enterprises"]["ws"]}">' in page.text
    assert 'name="enterprise_q"' not in page.text
    assert 'name="details.caller_phone"' not in page.text  # the hotline's caller fields are the office's
    fragment = ws.get("/cases/new?category=licensing", headers={**HTML, "HX-Request": "true"})
    assert "<html" not in fragment.text and fragment.text.lstrip().startswith('<div id="category-fields">')
    assert 'name="details.service"' in fragment.text and "出入境" in fragment.text
    assert 'name="details.dispute_kind"' not in fragment.text
    assert 'name="details.caller_phone"' in clients("office").get("/cases/new", headers=HTML).text
    assert clients("liaison_xz").get("/cases/new", headers=HTML).status_code == 403


def test_raising_a_request_with_errors_next_to_the_fields_then_recorded(clients: Any, db: Database,
                                                                         world: dict[str, Any]) -> None:
    ws = clients("workstation_1")
    before = count(db, Case)
    bad = raise_request(ws, world, title="", **{"details.amount": "十二万", "details.dispute_kind": "gambling"})
    assert bad.status_code == 422
    assert re.search(r'id="e-title">此项必填<', bad.text)
    assert re.search(r'id="e-details.amount">[^<]*金额', bad.text)
    assert re.search(r'id="e-details.dispute_kind">[^<]*不是允许的取值', bad.text), bad.text[:3000]
    assert 'value="120000"' not in bad.text and "涉及工人 30 名" in bad.text  # what was typed is kept
    assert count(db, Case) == before

    response = raise_request(ws, world, files=None)
    case_id = created_id(response)
    with db.reads() as session:
        case = session.get(Case, case_id)
        assert (case.node_id, case.category, case.urgency, case.status) == ("ws-demo-1", "economic_dispute", "urgent", "submitted")
        assert case.details == {"dispute_kind": "labour", "amount": 120000, "workers_involved": 30,
                                "people_involved": "张三 项目经理"}
    page = ws.get(f"/cases/{case_id}", headers=HTML)
    assert page.status_code == 200 and "劳资" in page.text and "120000" in page.text and "待受理" in page.text


def test_attachments_go_with_the_request(clients: Any, db: Database, world: dict[str, Any]) -> None:
    ws = clients("workstation_1")
    data = {"enterprise_id": str(world["enterprises"]["ws"]), "channel": "platform", "category": "licensing",
            "urgency": "routine", "title": "护照加急", "details.service": "exit_entry", "csrf_token": ws.csrf}
    response = ws.post("/cases/new", data=data, files={"files": ("合同.pdf", b"%PDF-1.4 demo", "application/pdf")},
                       headers=HTML, follow_redirects=False)
    case_id = created_id(response)
    assert count(db, Attachment, Attachment.entity_type == "case", Attachment.entity_id == case_id) == 1
    assert "合同.pdf" in ws.get(f"/cases/{case_id}", headers=HTML).text


def test_the_service_refuses_details_of_another_category_in_the_api_too(clients: Any, db: Database,
                                                                         world: dict[str, Any]) -> None:
    ws = clients("workstation_1")
    before = count(db, Case)
    body = {"enterprise_id": str(world["enterprises"]["ws"]), "channel": "platform", "category": "licensing",
            "title": "x", "details": {"dispute_kind": "labour", "service": "nothing"}}
    response = ws.post("/api/v1/cases", json=body)
    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {"details.dispute_kind", "details.service"}
    assert count(db, Case) == before


def test_hotline_caller_is_masked_for_the_workstation(clients: Any, world: dict[str, Any]) -> None:
    office = clients("office")
    response = raise_request(office, world, channel="hotline", **{"details.caller_name": "王建国",
                                                                  "details.caller_phone": "13912345678"})
    case_id = created_id(response)
    page = office.get(f"/cases/{case_id}", headers=HTML).text
    # The office sees who called, the phone masked as to everyone; a recorded look shows it in full to call back.
    assert "王建国" in page and "13912345678" not in page and "139****5678" in page
    assert f'href="/cases/{case_id}/reveal"' in page
    shown = office.post(f"/cases/{case_id}/reveal", data={"reason": "回电核实", "csrf_token": office.csrf}, headers=HTML)
    assert shown.status_code == 200 and "13912345678" in shown.text
    assert office.post(f"/api/v1/cases/{case_id}/reveal", json={"reason": "回电"}).json()["caller_phone"] == "13912345678"
    assert clients("workstation_1").post(f"/api/v1/cases/{case_id}/reveal", json={"reason": "看看"}).status_code == 403
    seen = clients("workstation_1").get(f"/cases/{case_id}", headers=HTML).text
    assert "13912345678" not in seen and "139****5678" in seen and "王**" in seen and "王建国" not in seen
    api = clients("workstation_1").get(f"/api/v1/cases/{case_id}").json()
    assert api["details"]["caller_phone"] == "139****5678"


# ── The whole journey ─────────────────────────────────────────────────────────────────────────────────────────

def test_full_lifecycle_through_the_pages(clients: Any, db: Database, world: dict[str, Any]) -> None:
    ws, office, leader = clients("workstation_1"), clients("office"), clients("leader")
    xz, jz = clients("liaison_xz"), clients("liaison_jz")
    case_id = created_id(raise_request(ws, world))

    page = office.get(f"/cases/{case_id}", headers=HTML).text
    assert 'value="accepted"' in page and 'value="signed"' not in page
    assert act(office, case_id, "accepted").status_code == 303
    page = office.get(f"/cases/{case_id}", headers=HTML).text
    # The routing table suggests economic crime to lead, legal affairs to help.
    assert re.search(r'<option value="economic-crime" selected>', page)
    assert re.search(r'name="co" value="legal" checked', page)
    assert dispatch(office, case_id, "criminal-investigation", "economic-crime").status_code == 303
    assert kinds(db, case_id)[-2:] == ["dispatched", "dispatched"]

    queue = xz.get("/cases", headers=HTML).text
    assert str(case_id) in queue and "等待本单位签收" in queue
    xz_page = xz.get(f"/cases/{case_id}", headers=HTML).text
    assert 'value="signed"' in xz_page and 'value="returned"' in xz_page and 'value="reported"' not in xz_page
    assert act(xz, case_id, "signed").status_code == 303
    report = act(xz, case_id, "reported", note="已约谈分包方，约定三日内付清",
                 files={"files": ("约谈笔录.pdf", b"%PDF-1.4 notes", "application/pdf")})
    assert report.status_code == 303
    assert count(db, Attachment, Attachment.entity_type == "case_event") == 1
    assert "约谈笔录.pdf" in xz.get(f"/cases/{case_id}", headers=HTML).text  # the liaison sees their own document

    # Filing before every unit reported: no button, and a forged POST is refused with the reason.
    assert 'value="filed"' not in office.get(f"/cases/{case_id}", headers=HTML).text
    before = kinds(db, case_id)
    refused = act(office, case_id, "filed")
    assert refused.status_code == 409 and "所有承办单位" in refused.text and 'role="alert"' in refused.text
    assert kinds(db, case_id) == before

    # Emergency mode: the plan, a joint working group only a leader approves.
    assert act(office, case_id, "escalated").status_code == 303
    page = office.get(f"/cases/{case_id}", headers=HTML).text
    assert "应急预案" in page and "0/6" not in page and "已完成 0 / 6 步" in page
    step = office.post(f"/cases/{case_id}/plan", data={"step": "leaders_notified", "note": "已报告主任",
                                                     "csrf_token": office.csrf}, headers=HTML, follow_redirects=False)
    assert step.status_code == 303
    assert "已完成 1 / 6 步" in office.get(f"/cases/{case_id}", headers=HTML).text
    assert act(office, case_id, "jwg_requested", note="需赴上海现场协调").status_code == 303
    assert 'value="jwg_approved"' not in office.get(f"/cases/{case_id}", headers=HTML).text
    before = kinds(db, case_id)
    refused = act(office, case_id, "jwg_approved")
    assert refused.status_code == 403 and "仅警企联服中心领导" in refused.text
    assert kinds(db, case_id) == before
    assert 'value="jwg_approved"' in leader.get(f"/cases/{case_id}", headers=HTML).text
    assert act(leader, case_id, "jwg_approved").status_code == 303

    assert act(jz, case_id, "signed").status_code == 303
    assert act(jz, case_id, "reported", note="未发现经济犯罪线索").status_code == 303
    assert 'value="filed"' in office.get(f"/cases/{case_id}", headers=HTML).text
    assert act(office, case_id, "filed").status_code == 303

    followed = ws.get(f"/cases/{case_id}", headers=HTML).text
    assert "已备案" in followed and "已约谈分包方" in followed and "未发现经济犯罪线索" in followed
    assert 'name="satisfaction"' in followed
    assert act(ws, case_id, "callback", satisfaction="9").status_code == 422
    assert act(ws, case_id, "callback", satisfaction="2", note="款项仍未到账").status_code == 303
    closed = ws.get(f"/cases/{case_id}", headers=HTML).text
    assert "已办结" in closed and "满意度 2/5" in closed and 'value="reopened"' in closed
    assert act(ws, case_id, "reopened", note="不满意，款项未付").status_code == 303
    with db.reads() as session:
        assert session.get(Case, case_id).status == "reopened"
    assert kinds(db, case_id) == ["accepted", "dispatched", "dispatched", "signed", "reported", "escalated", "comment",
                                  "jwg_requested", "jwg_approved", "signed", "reported", "filed", "callback", "reopened"]


def test_transfer_records_the_cooperation_letter(clients: Any, db: Database, world: dict[str, Any]) -> None:
    office = clients("office")
    case_id = world["cases"]["sh"]  # accepted and dispatched to criminal investigation
    assert act(office, case_id, "transferred").status_code == 422  # the letter's note is required
    response = act(office, case_id, "transferred", note="协作函 启公协〔2026〕17号，移交上海浦东公安分局",
                   files={"files": ("协作函.pdf", b"%PDF letter", "application/pdf")})
    assert response.status_code == 303
    page = office.get(f"/cases/{case_id}", headers=HTML).text
    assert "已移交" in page and "协作函.pdf" in page and "启公协" in page


# ── Refusals: in the page and in the API, nothing recorded ─────────────────────────────────────────────────────

def test_a_liaison_of_another_unit_cannot_report(clients: Any, db: Database, world: dict[str, Any]) -> None:
    case_id = world["cases"]["sh"]  # dispatched to criminal investigation only
    jz = clients("liaison_jz")
    before = kinds(db, case_id)
    page = act(jz, case_id, "reported", note="越权反馈")
    assert page.status_code == 404  # not their unit's case: they cannot even see it
    api = jz.post(f"/api/v1/cases/{case_id}/events", json={"kind": "reported", "note": "越权反馈"})
    assert api.status_code in (403, 404)
    # Once their unit is on the case too, they still cannot act for the other unit.
    office = clients("office")
    assert dispatch(office, case_id, None, "economic-crime").status_code == 303
    before = kinds(db, case_id)
    forged = act(jz, case_id, "signed", unit="criminal-investigation")
    assert forged.status_code == 403 and "只能代表本单位" in forged.text
    api = jz.post(f"/api/v1/cases/{case_id}/events", json={"kind": "signed", "unit": "criminal-investigation"})
    assert api.status_code == 403
    assert act(jz, case_id, "reported", note="未签收先反馈").status_code == 409
    assert kinds(db, case_id) == before


def test_non_leader_approval_and_early_filing_are_refused_in_the_api(clients: Any, db: Database,
                                                                     world: dict[str, Any]) -> None:
    office = clients("office")
    case_id = world["cases"]["sh"]
    for kind in ("escalated", "jwg_requested"):
        assert act(office, case_id, kind).status_code == 303
    before = kinds(db, case_id)
    assert office.post(f"/api/v1/cases/{case_id}/events", json={"kind": "jwg_approved"}).status_code == 403
    assert office.post(f"/api/v1/cases/{case_id}/events", json={"kind": "filed"}).status_code == 409
    assert clients("workstation_1").post(f"/cases/{world['cases']['ws']}/events",
                                         data={"kind": "accepted", "csrf_token": clients("workstation_1").csrf},
                                         headers=HTML).status_code == 403
    assert kinds(db, case_id) == before


def test_plan_steps_are_the_offices_and_need_the_plan(clients: Any, db: Database, world: dict[str, Any]) -> None:
    case_id = world["cases"]["sh"]
    office = clients("office")
    form = {"step": "leaders_notified", "csrf_token": office.csrf}
    refused = office.post(f"/cases/{case_id}/plan", data=form, headers=HTML)
    assert refused.status_code == 409 and "尚未启动应急预案" in refused.text
    xz = clients("liaison_xz")
    assert xz.post(f"/cases/{case_id}/plan", data={**form, "csrf_token": xz.csrf}, headers=HTML).status_code == 403
    assert count(db, CaseEvent, CaseEvent.case_id == case_id, CaseEvent.kind == "comment") == 0


# ── Queues ────────────────────────────────────────────────────────────────────────────────────────────────────

def test_each_role_sees_its_own_queue(clients: Any, world: dict[str, Any]) -> None:
    cases = world["cases"]
    xz = clients("liaison_xz").get("/cases", headers=HTML).text
    assert str(cases["sh"]) in xz and str(cases["ws"]) not in xz and "本单位案件" in xz
    assert str(cases["sh"]) not in clients("liaison_jz").get("/cases", headers=HTML).text
    sub = clients("subcenter_sh").get("/cases", headers=HTML).text
    assert str(cases["sh"]) in sub and str(cases["ws"]) in sub and str(cases["sz"]) not in sub
    ws = clients("workstation_1").get("/cases", headers=HTML).text
    assert str(cases["ws"]) in ws and str(cases["sh"]) not in ws
    office = clients("office").get("/cases", headers=HTML).text
    assert "受理队列" in office and all(str(c) in office for c in cases.values())


def test_the_office_queue_is_urgent_first_then_by_due_time_and_filters_by_htmx(clients: Any, db: Database,
                                                                               world: dict[str, Any]) -> None:
    office = clients("office")
    major = created_id(raise_request(office, world, urgency="major", title="重大案件"))
    with db.transaction() as session:
        # An older routine case is due before a newer routine case; urgency still comes first.
        session.execute(update(Case).where(Case.id == world["cases"]["sz"]).values(created_at=utcnow() - timedelta(days=3)))
    rows = office.get("/cases", headers={**HTML, "HX-Request": "true"}).text
    assert rows.lstrip().startswith('<section id="case-rows"') and "<html" not in rows
    order = re.findall(r'data-case="([0-9a-f-]{36})"', rows)
    assert order[0] == str(major)
    assert order.index(str(world["cases"]["sz"])) < order.index(str(world["cases"]["hub"]))
    # The old routine case is past its intake deadline: said in words, not only by colour.
    assert re.search(rf'data-case="{world["cases"]["sz"]}" class="is-overdue"', rows)
    filtered = office.get("/cases?urgency=major", headers={**HTML, "HX-Request": "true"}).text
    assert re.findall(r'data-case="([0-9a-f-]{36})"', filtered) == [str(major)]
    unit = office.get("/cases?unit=criminal-investigation&status=", headers=HTML).text
    assert re.findall(r'data-case="([0-9a-f-]{36})"', unit) == [str(world["cases"]["sh"])]
    found = office.get("/cases?q=重大案件", headers=HTML).text
    assert re.findall(r'data-case="([0-9a-f-]{36})"', found) == [str(major)]


def test_overdue_sign_for_is_shown_on_the_case(clients: Any, db: Database, world: dict[str, Any]) -> None:
    case_id = world["cases"]["sh"]
    with db.transaction() as session:
        # Written before dispatches kept their deadlines (no details): the urgency's constants apply from `at`.
        session.execute(update(CaseEvent).where(CaseEvent.case_id == case_id).values(at=utcnow() - timedelta(days=2),
                                                                                      details={}))
    page = clients("liaison_xz").get(f"/cases/{case_id}", headers=HTML).text
    assert "已逾期" in page and "case-escalation" in page
    english = clients("liaison_xz").get(f"/cases/{case_id}?lang=en", headers=HTML).text
    assert "Overdue" in english and "Sign for" in english


# ── The routing table ─────────────────────────────────────────────────────────────────────────────────────────

def test_the_office_keeps_the_routing_table(clients: Any, world: dict[str, Any]) -> None:
    office = clients("office")
    page = office.get("/cases/routing", headers=HTML)
    assert page.status_code == 200 and 'name="economic_dispute.lead"' in page.text
    assert clients("liaison_xz").get("/cases/routing", headers=HTML).status_code == 403
    form: dict[str, Any] = {"csrf_token": office.csrf}
    from common.reference import CATEGORIES
    from common.cases.rules import DEFAULT_ROUTING

    for category in CATEGORIES:
        form[f"{category}.lead"] = DEFAULT_ROUTING[category]["lead"]
        form[f"{category}.co"] = DEFAULT_ROUTING[category]["co"]
    bad = office.post("/cases/routing", data={**form, "licensing.lead": "no-such-unit"}, headers=HTML)
    assert bad.status_code == 422 and 'id="e-licensing-lead"' in bad.text
    saved = office.post("/cases/routing", data={**form, "economic_dispute.lead": "legal", "economic_dispute.co": ["public-order"]},
                        headers=HTML, follow_redirects=False)
    assert saved.status_code == 303
    case_id = world["cases"]["ws"]
    assert act(office, case_id, "accepted").status_code == 303
    page = office.get(f"/cases/{case_id}", headers=HTML).text
    assert re.search(r'<option value="legal" selected>', page) and re.search(r'name="co" value="public-order" checked', page)


def test_the_leader_decides_joint_working_groups_from_a_queue_rejecting_with_a_reason(
        clients: Any, world: dict[str, Any], db: Database) -> None:
    office, leader, xz = clients("office"), clients("leader"), clients("liaison_xz")
    case_id = world["cases"]["sh"]  # accepted and dispatched to criminal investigation in the world
    assert act(office, case_id, "escalated").status_code == 303
    assert act(office, case_id, "jwg_requested", note="涉及多地，需联合工作组").status_code == 303

    queue = leader.get("/cases/jwg", headers=HTML)
    assert queue.status_code == 200 and "待审批的联合工作组" in queue.text and "涉及多地，需联合工作组" in queue.text
    assert 'value="jwg_rejected"' in queue.text and 'value="jwg_approved"' in queue.text
    seen = office.get("/cases/jwg", headers=HTML)
    assert seen.status_code == 200 and "涉及多地" in seen.text and 'value="jwg_rejected"' not in seen.text
    assert xz.get("/cases/jwg", headers=HTML).status_code == 403
    assert 'href="/cases/jwg"' in leader.get("/cases", headers=HTML).text
    assert 'href="/cases/jwg"' not in office.get("/cases", headers=HTML).text

    # A rejection needs its reason; the office may not reject; a reason given, the case leaves the queue.
    before = kinds(db, case_id)
    assert act(leader, case_id, "jwg_rejected", back="jwg").status_code == 422
    refused = act(office, case_id, "jwg_rejected", note="不同意", back="jwg")
    assert refused.status_code == 403 and "仅警企联服中心领导" in refused.text
    assert kinds(db, case_id) == before
    done = act(leader, case_id, "jwg_rejected", note="先由刑侦大队牵头处置", back="jwg")
    assert done.status_code == 303 and done.headers["location"] == "/cases/jwg?done=jwg_rejected"
    assert "目前没有待审批的联合工作组" in leader.get("/cases/jwg", headers=HTML).text
    page = office.get(f"/cases/{case_id}", headers=HTML).text
    assert "联合工作组未获批准" in page and "先由刑侦大队牵头处置" in page
    assert office.get(f"/api/v1/cases/{case_id}/events").json()["items"][-1]["kind"] == "jwg_rejected"

    # Asked again later, approved from the queue with the leader's instructions.
    assert act(office, case_id, "jwg_requested", note="事态扩大，再次申请").status_code == 303
    assert act(leader, case_id, "jwg_approved", note="同意，由刑侦大队牵头", back="jwg").status_code == 303
    assert kinds(db, case_id)[-4:] == ["jwg_requested", "jwg_rejected", "jwg_requested", "jwg_approved"]
    assert act(office, case_id, "jwg_requested", note="第三次").status_code == 409  # approved: no new request


def test_a_workstation_is_not_asked_what_only_the_police_set_and_cannot_send_it_either(
        clients: Any, world: dict[str, Any], db: Database) -> None:
    ws, sub, office = clients("workstation_1"), clients("subcenter_sh"), clients("office")
    form = ws.get("/cases/new", headers=HTML).text
    assert 'name="channel"' not in form and 'name="jurisdiction"' not in form
    assert 'value="mass_incident"' not in form and 'value="major"' in form
    assert 'value="mass_incident"' not in sub.get("/cases/new", headers=HTML).text
    office_form = office.get("/cases/new", headers=HTML).text
    assert 'name="channel"' in office_form and 'value="mass_incident"' in office_form

    made = created_id(raise_request(ws, world, channel=None, jurisdiction=None))
    with db.reads() as session:
        case = session.get(Case, made)
        assert case is not None and (case.channel, case.jurisdiction) == ("platform", "local")

    before = count(db, Case)
    enterprise = str(world["enterprises"]["ws"])
    body = {"enterprise_id": enterprise, "category": "economic_dispute", "title": "工程款", "urgency": "routine"}
    for who, fields in ((ws, {"channel": "hotline"}), (ws, {"channel": "platform", "jurisdiction": "elsewhere"}),
                        (ws, {"channel": "platform", "urgency": "mass_incident"}),
                        (sub, {"channel": "visit", "urgency": "mass_incident",
                               "enterprise_id": str(world["enterprises"]["sh"])})):
        refused = who.post("/api/v1/cases", json={**body, **fields})
        assert refused.status_code == 403, (fields, refused.text)
        assert refused.json()["detail"] == "您的角色不能填写此项的这个值。"
    assert count(db, Case) == before
    assert office.post("/api/v1/cases", json={**body, "channel": "hotline", "urgency": "mass_incident"}).status_code == 201
