"""The applications' journeys through the pages: applying, returning for changes, approving with a code shown once,
rejecting, the office alone deciding, enrollment codes that work once and expire, requests about a node."""
from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from sqlalchemy import func, select

from common.db import Database
from common.models import Attachment, EnrollmentCode, Node, NodeApplication, utcnow
from common.federation.service import hash_code
from sync.hub_link import new_client_key

APP_PER_CLIENT = True  # a test moves one client's clock (its app's)

HTML = {"Accept": "text/html"}
APPLICATION_URL = re.compile(r"^/applications/([0-9a-f-]{36})$")
CODE_RE = re.compile(r'id="enrollment-code-text">([0-9A-F-]{27})<')


def count(db: Database, model: Any, *where: Any) -> int:
    with db.reads() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def application_row(db: Database, application_id: Any) -> NodeApplication:
    with db.reads() as session:
        row = session.get(NodeApplication, application_id)
        assert row is not None
        session.expunge(row)
        return row


def apply(client: Any, files: Any = None, **fields: Any) -> Any:
    data = {"kind": "workstation", "name": "启东海工浦东工作站", "region_code": "310115", "parent_node": "sc-shanghai",
            "head_name": "陈站长", "head_phone": "13912345678", "background": "在沪企业 40 家",
            "reason": "浦东企业集中，需就近服务", "csrf_token": client.csrf, **fields}
    return client.post("/applications/new", data=data, files=files, headers=HTML, follow_redirects=False)


def created_id(response: Any) -> UUID:
    assert response.status_code == 303, response.text
    match = APPLICATION_URL.match(response.headers["location"])
    assert match, response.headers["location"]
    return UUID(match.group(1))


def decide(client: Any, application_id: Any, decision: str, comment: str = "") -> Any:
    return client.post(f"/applications/{application_id}/decision", headers=HTML, follow_redirects=False,
                       data={"decision": decision, "comment": comment, "csrf_token": client.csrf})


def enroll(client: Any, code: str, tmp_path: Path) -> Any:
    """What `lianfu spoke enroll` sends: the code and a fresh public key."""
    key_dir = tmp_path / f"key-{len(list(tmp_path.iterdir()))}"
    key_dir.mkdir()
    return client.post("/api/v1/sync/enroll", json={"code": code, "jwks": new_client_key(key_dir)})


def host_of(world: dict[str, Any]) -> str:
    return str(world["enterprises"]["sh"])


# ── Applying ───────────────────────────────────────────────────────────────────────────────────────────────────

def test_the_form_has_a_label_for_every_field_and_swaps_in_the_kinds_fields(clients: Any) -> None:
    sub = clients("subcenter_sh")
    page = sub.get("/applications/new", headers=HTML)
    assert page.status_code == 200 and "<html" in page.text and "新的申请" in page.text
    for name in ("kind", "name", "region_code", "parent_node", "host_enterprise_q", "head_name", "head_phone",
                 "background", "reason"):
        assert f'name="{name}"' in page.text, name
        assert f'for="f-{name}"' in page.text, name
    assert re.search(r'<option value="sc-shanghai" selected>', page.text)  # its own node as the parent
    # The host is found with the shared enterprise picker, which fills host_enterprise_id.
    assert 'hx-get="/enterprises/picker?field=host_enterprise_id"' in page.text
    found = sub.get("/applications/new?kind=workstation&host_enterprise_q=测试", headers=HTML).text  # without JavaScript
    assert 'name="host_enterprise_id" value="' in found and "启东测试sh" in found and "启东测试sz" not in found
    fragment = sub.get("/applications/new?kind=suspend", headers={**HTML, "HX-Request": "true"})
    assert "<html" not in fragment.text and fragment.text.lstrip().startswith('<div id="application-fields">')
    assert 'name="target_node"' in fragment.text and 'name="head_name"' not in fragment.text
    assert 'value="ws-demo-1"' in fragment.text and 'value="sc-suzhou"' not in fragment.text
    assert clients("liaison_xz").get("/applications/new", headers=HTML).status_code == 403
    english = sub.get("/applications/new?lang=en", headers=HTML).text
    assert "New application" in english and "Proposed name" in english


def test_submitting_with_errors_next_to_the_fields_then_recorded_with_its_file(clients: Any, db: Database,
                                                                               world: dict[str, Any]) -> None:
    sub = clients("subcenter_sh")
    before = count(db, NodeApplication)
    bad = apply(sub, name="", head_phone="12345", region_code="999999", host_enterprise_id=host_of(world))
    assert bad.status_code == 422
    assert re.search(r'id="e-name">此项必填<', bad.text)
    assert re.search(r'id="e-head_phone">[^<]*手机', bad.text)
    assert 'id="e-region_code"' in bad.text
    assert 'value="陈站长"' in bad.text  # what was typed stays
    no_host = apply(sub)
    assert no_host.status_code == 422 and 'id="e-host_enterprise_id"' in no_host.text
    # An enterprise of another tenant cannot host it: refused as if it did not exist.
    foreign = apply(sub, host_enterprise_id=str(world["enterprises"]["sz"]))
    assert foreign.status_code == 422 and 'id="e-host_enterprise_id"' in foreign.text
    assert count(db, NodeApplication) == before

    files = {"files": ("批复.pdf", b"%PDF-1.4 approval letter", "application/pdf")}
    application_id = created_id(apply(sub, files=files, host_enterprise_id=host_of(world)))
    row = application_row(db, application_id)
    assert (row.status, row.node_id, row.kind, row.head_phone) == ("submitted", "sc-shanghai", "workstation", "13912345678")
    assert count(db, Attachment, Attachment.entity_id == application_id, Attachment.entity_type == "application") == 1
    page = sub.get(f"/applications/{application_id}", headers=HTML)
    assert page.status_code == 200 and "启东海工浦东工作站" in page.text and "批复.pdf" in page.text
    # Masked to everyone, the sub-center that typed it too.
    assert "待审核" in page.text and "13912345678" not in page.text and "139****5678" in page.text
    listing = sub.get("/applications?status=submitted", headers=HTML).text
    assert "启东海工浦东工作站" in listing
    # Another sub-center neither lists it nor opens it; a workstation sees the phone masked.
    other = clients("subcenter_sz")
    assert "启东海工浦东工作站" not in other.get("/applications", headers=HTML).text
    assert other.get(f"/applications/{application_id}", headers=HTML).status_code == 404
    office_listing = clients("office").get("/applications?kind=workstation&status=submitted", headers=HTML).text
    assert "启东海工浦东工作站" in office_listing and "启东纺织昆山工作站" in office_listing
    assert "启东海工浦东工作站" not in clients("office").get("/applications?kind=subcenter", headers=HTML).text


def test_a_workstation_head_sees_the_proposed_heads_phone_masked(clients: Any, world: dict[str, Any]) -> None:
    ws = clients("workstation_1")
    response = ws.post("/applications/new", headers=HTML, follow_redirects=False, data={
        "kind": "head_change", "target_node": "ws-demo-1", "head_name": "赵新站长", "head_phone": "13811112222",
        "reason": "原负责人调离", "csrf_token": ws.csrf})
    application_id = created_id(response)
    page = ws.get(f"/applications/{application_id}", headers=HTML).text
    assert "赵新站长" in page and "13811112222" not in page and "138****2222" in page
    office = clients("office")
    seen = office.get(f"/applications/{application_id}", headers=HTML).text
    # The office sees it masked as well, and checks with the new head by a recorded look in full.
    assert "13811112222" not in seen and f'href="/applications/{application_id}/reveal"' in seen
    looked = office.post(f"/applications/{application_id}/reveal", data={"reason": "电话核实新负责人",
                                                                         "csrf_token": office.csrf}, headers=HTML)
    assert looked.status_code == 200 and "13811112222" in looked.text
    assert office.post(f"/api/v1/applications/{application_id}/reveal", json={"reason": "核实"}).json()["head_phone"] \
        == "13811112222"
    assert ws.post(f"/api/v1/applications/{application_id}/reveal", json={"reason": "核实"}).status_code == 403


# ── The office's review ────────────────────────────────────────────────────────────────────────────────────────

def test_return_for_changes_then_resubmitted_with_the_history_kept(clients: Any, db: Database, world: dict[str, Any]) -> None:
    sub, office = clients("subcenter_sh"), clients("office")
    application_id = world["applications"]["sh"]
    no_reason = decide(office, application_id, "return")
    assert no_reason.status_code == 422 and 'id="e-f-decision-comment"' in no_reason.text
    assert application_row(db, application_id).status == "submitted"
    assert decide(office, application_id, "return", "请补充负责人简历").status_code == 303
    assert application_row(db, application_id).status == "returned"

    page = sub.get(f"/applications/{application_id}", headers=HTML).text
    assert "请补充负责人简历" in page and "退回修改" in page and f'href="/applications/{application_id}/edit"' in page
    form = sub.get(f"/applications/{application_id}/edit", headers=HTML)
    assert form.status_code == 200 and 'value="启东海工上海工作站"' in form.text and 'value="李站长"' in form.text
    bad = sub.post(f"/applications/{application_id}/edit", headers=HTML, follow_redirects=False,
                   data={"name": "启东海工上海工作站", "region_code": "310115", "parent_node": "sc-shanghai",
                         "head_name": "", "head_phone": "13900000001", "csrf_token": sub.csrf})
    assert bad.status_code == 422 and re.search(r'id="e-head_name">此项必填<', bad.text)
    assert application_row(db, application_id).status == "returned"
    done = sub.post(f"/applications/{application_id}/edit", headers=HTML, follow_redirects=False,
                    data={"name": "启东海工上海工作站", "region_code": "310115", "parent_node": "sc-shanghai",
                          "host_enterprise_id": host_of(world), "head_name": "李站长", "head_phone": "13900000001",
                          "background": "负责人从事企业管理二十年", "reason": "", "csrf_token": sub.csrf})
    assert done.status_code == 303
    row = application_row(db, application_id)
    assert row.status == "submitted" and row.background == "负责人从事企业管理二十年"
    history = office.get(f"/applications/{application_id}", headers=HTML).text
    actions = re.findall(r'data-action="([a-z._]+)"', history)
    assert actions == ["create", "application.return", "resubmit"]
    assert "请补充负责人简历" in history and "修改了： 基本情况" in history


def test_approval_creates_the_node_and_shows_its_code_once(clients: Any, db: Database, world: dict[str, Any],
                                                          tmp_path: Path) -> None:
    office = clients("office")
    application_id = world["applications"]["sh"]
    nodes_before = count(db, Node)
    answer = decide(office, application_id, "approve", "同意设立")
    assert answer.status_code == 200 and "no-store" in answer.headers["cache-control"]
    code = CODE_RE.search(answer.text).group(1)  # type: ignore[union-attr]
    assert "<svg" in answer.text and f"--code {code}" in answer.text
    row = application_row(db, application_id)
    assert row.status == "approved" and row.created_node and row.created_node.startswith("ws-")
    assert count(db, Node) == nodes_before + 1
    # Only the code's hash is kept, and a reload shows that a code was issued, never the code.
    assert count(db, EnrollmentCode, EnrollmentCode.code_hash == hash_code(code)) == 1
    assert count(db, EnrollmentCode, EnrollmentCode.code_hash == code) == 0
    again = office.get(f"/applications/{application_id}", headers=HTML).text
    assert code not in again and 'data-state="valid"' in again and "签发新的注册码" in again
    assert code not in clients("subcenter_sh").get(f"/applications/{application_id}", headers=HTML).text
    # A fresh code ends the first one at once.
    fresh = office.post(f"/applications/{application_id}/enrollment-code", data={"csrf_token": office.csrf}, headers=HTML)
    new_code = CODE_RE.search(fresh.text).group(1)  # type: ignore[union-attr]
    assert new_code != code
    anonymous = clients()
    assert enroll(anonymous, code, tmp_path).status_code == 422
    assert enroll(anonymous, new_code, tmp_path).status_code == 201
    assert 'data-state="used"' in office.get(f"/applications/{application_id}", headers=HTML).text


def test_rejection_creates_nothing_and_a_decided_application_stays_decided(clients: Any, db: Database,
                                                                           world: dict[str, Any]) -> None:
    office = clients("office")
    application_id = world["applications"]["sz"]
    nodes, codes = count(db, Node), count(db, EnrollmentCode)
    assert decide(office, application_id, "reject", "辖区已有工作站").status_code == 303
    row = application_row(db, application_id)
    assert row.status == "rejected" and row.decision_comment == "辖区已有工作站" and row.created_node is None
    assert (count(db, Node), count(db, EnrollmentCode)) == (nodes, codes)
    twice = decide(office, application_id, "approve")
    assert twice.status_code == 409 and 'id="action-error"' in twice.text and not CODE_RE.search(twice.text)
    assert (count(db, Node), count(db, EnrollmentCode)) == (nodes, codes)
    page = clients("subcenter_sz").get(f"/applications/{application_id}", headers=HTML).text
    assert "已驳回" in page and "辖区已有工作站" in page and "/edit" not in page


def test_only_the_office_decides_in_the_pages_and_the_api(clients: Any, db: Database, world: dict[str, Any]) -> None:
    sub = clients("subcenter_sh")
    application_id = world["applications"]["sh"]
    page = sub.get(f"/applications/{application_id}", headers=HTML).text
    assert 'action="/applications/' + str(application_id) + '/decision"' not in page
    nodes, codes = count(db, Node), count(db, EnrollmentCode)
    for decision in ("approve", "reject", "return"):
        refused = decide(sub, application_id, decision, "越权")
        assert refused.status_code == 403 and 'id="action-error"' in refused.text
        api = sub.post(f"/api/v1/applications/{application_id}/decision", json={"decision": decision, "comment": "越权"})
        assert api.status_code == 403
    comment = sub.post(f"/applications/{application_id}/comment", data={"comment": "越权", "csrf_token": sub.csrf},
                       headers=HTML)
    assert comment.status_code == 403
    row = application_row(db, application_id)
    assert (row.status, row.decided_by, row.decision_comment) == ("submitted", None, "")
    assert (count(db, Node), count(db, EnrollmentCode)) == (nodes, codes)
    assert "越权" not in clients("office").get(f"/applications/{application_id}", headers=HTML).text
    # Approved, the sub-center still cannot issue the node's codes.
    office = clients("office")
    assert decide(office, application_id, "approve").status_code == 200
    codes = count(db, EnrollmentCode)
    stolen = sub.post(f"/applications/{application_id}/enrollment-code", data={"csrf_token": sub.csrf}, headers=HTML)
    assert stolen.status_code == 403 and not CODE_RE.search(stolen.text)
    assert count(db, EnrollmentCode) == codes


def test_an_enrollment_code_works_once_and_expires(clients: Any, db: Database, world: dict[str, Any],
                                                   tmp_path: Path) -> None:
    office = clients("office")
    app_state = office.http.app.state
    # Approved 73 hours ago by the app's clock: the code it showed has expired by now.
    app_state.clock = lambda: utcnow() - timedelta(hours=73)
    old_code = CODE_RE.search(decide(office, world["applications"]["sh"], "approve").text).group(1)  # type: ignore[union-attr]
    app_state.clock = utcnow
    assert 'data-state="expired"' in office.get(f"/applications/{world['applications']['sh']}", headers=HTML).text
    anonymous = clients()
    expired = enroll(anonymous, old_code, tmp_path)
    assert expired.status_code == 422 and "过期" in expired.text

    code = CODE_RE.search(decide(office, world["applications"]["sz"], "approve").text).group(1)  # type: ignore[union-attr]
    first = enroll(anonymous, code, tmp_path)
    assert first.status_code == 201 and first.json()["node"] == application_row(db, world["applications"]["sz"]).created_node
    second = enroll(anonymous, code, tmp_path)
    assert second.status_code == 409 and "已被使用" in second.text


# ── Requests about a node ──────────────────────────────────────────────────────────────────────────────────────

def test_suspending_a_node_goes_through_the_review_and_bites_on_approval(clients: Any, db: Database) -> None:
    sub, office = clients("subcenter_sh"), clients("office")
    foreign = sub.post("/applications/new", headers=HTML, follow_redirects=False,
                       data={"kind": "suspend", "target_node": "sc-suzhou", "reason": "越权", "csrf_token": sub.csrf})
    assert foreign.status_code == 422 and 'id="e-target_node"' in foreign.text
    no_reason = sub.post("/applications/new", headers=HTML, follow_redirects=False,
                         data={"kind": "suspend", "target_node": "ws-demo-1", "reason": "", "csrf_token": sub.csrf})
    assert no_reason.status_code == 422 and 'id="e-f-reason"' in no_reason.text
    application_id = created_id(sub.post("/applications/new", headers=HTML, follow_redirects=False, data={
        "kind": "suspend", "target_node": "ws-demo-1", "reason": "企业停产整顿", "csrf_token": sub.csrf}))
    duplicate = sub.post("/applications/new", headers=HTML, follow_redirects=False, data={
        "kind": "retire", "target_node": "ws-demo-1", "reason": "再次申请", "csrf_token": sub.csrf})
    assert duplicate.status_code == 422 and "审核中" in duplicate.text
    with db.reads() as session:
        assert session.get(Node, "ws-demo-1").status == "active"  # nothing happens before the office decides
    assert decide(office, application_id, "approve", "同意暂停").status_code == 303
    with db.reads() as session:
        assert session.get(Node, "ws-demo-1").status == "suspended"
    assert office.get("/api/v1/nodes/ws-demo-1").json()["status"] == "suspended"
    page = office.get(f"/applications/{application_id}", headers=HTML).text
    assert "已暂停" in page and "签发新的注册码" not in page


def test_an_approved_workstation_holds_its_host_and_its_head_gets_an_account_by_a_setup_link(
        clients: Any, db: Database, world: dict[str, Any]) -> None:
    from common.models import Case, Enterprise, Person, User, Visit

    office = clients("office")
    application_id = world["applications"]["sh"]  # a workstation at the Shanghai sub-center's enterprise
    host = world["enterprises"]["sh"]
    answer = office.post(f"/api/v1/applications/{application_id}/decision", json={"decision": "approve", "comment": "同意"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    node, head = body["node"], body["head_account"]
    assert node.startswith("ws-") and head["username"].startswith("head_ws_")
    assert head["setup_url"].startswith("http") and "/setup/" in head["setup_url"]
    with db.reads() as session:
        # The enterprise's whole file went with it to the new workstation.
        assert session.get(Enterprise, host).node_id == node  # type: ignore[union-attr]
        assert {p.node_id for p in session.query(Person).filter(Person.enterprise_id == host)} == {node}
        assert {c.node_id for c in session.query(Case).filter(Case.enterprise_id == host)} == {node}
        assert {v.node_id for v in session.query(Visit).filter(Visit.enterprise_id == host)} == {node}
        user = session.query(User).filter(User.username == head["username"]).one()
        assert (user.role, user.node_id, user.display_name, user.active) == ("enterprise", node, "李站长", True)
        assert session.get(Node, node).head_user_id == user.id  # type: ignore[union-attr]

    # The head sets a password by the link, once, and works at the new workstation.
    path = "/" + head["setup_url"].split("/", 3)[3]
    anonymous = clients()
    form = anonymous.get(path, headers=HTML)
    assert form.status_code == 200 and 'name="password"' in form.text

    # A head change: the new head gets an account, the one replaced is disabled at once.
    ws = clients("workstation_1")
    asked = ws.post("/api/v1/applications", json={"kind": "head_change", "target_node": "ws-demo-1",
                                                   "head_name": "赵新站长", "head_phone": "13811112222",
                                                   "reason": "原负责人调离"})
    assert asked.status_code == 201, asked.text
    changed = office.post(f"/api/v1/applications/{asked.json()['id']}/decision", json={"decision": "approve"})
    assert changed.status_code == 200, changed.text
    new_head = changed.json()["head_account"]["username"]
    with db.reads() as session:
        accounts = {u.username: u for u in session.query(User).filter(User.node_id == "ws-demo-1")}
        assert accounts["workstation_1"].active is False and accounts[new_head].active is True
        assert session.get(Node, "ws-demo-1").head_user_id == accounts[new_head].id  # type: ignore[union-attr]
    assert ws.get("/api/v1/enterprises").status_code == 401  # the former head's session ended with the account

    # Through the page, the link is shown once with the decision.
    page_asked = clients("subcenter_sz").post("/api/v1/applications", json={
        "kind": "head_change", "target_node": "sc-suzhou", "head_name": "钱主任", "head_phone": "13822223333",
        "reason": "换届"})
    assert page_asked.status_code == 201, page_asked.text
    shown = decide(office, page_asked.json()["id"], "approve", "同意")
    assert shown.status_code == 200 and "负责人账号：head_sc_suzhou" in shown.text and "/setup/" in shown.text
    assert "no-store" in shown.headers["cache-control"]
