"""Pages name nodes by their names: a sub-center or a workstation is never shown by its id (`sc-shanghai`).

Each main page is rendered as the office and as a sub-center head, over a world where nodes turn up everywhere a page
may mention one: sync state and a conflict, a spoke's client, an enterprise moved between nodes, a spoke's own audit
entries. The visible text (attributes, scripts and styles left out) must hold no node id where a name belongs; the
id stays in reach for an operator in the name's title, or beside it as grey secondary text (`class="node-id"`) where
the operator is about to type it.
"""
from __future__ import annotations

import re
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any

import pytest

from common.audit import trail as audit
from common.models import OAuthClient, SyncConflict, SyncPeer, utcnow
from common.roster import service as roster

HTML = {"Accept": "text/html"}
NAMES = {"sc-shanghai": "上海分中心", "sc-suzhou": "苏州分中心", "ws-demo-1": "启东建工集团上海工作站"}
# An id as a word of its own: not part of a longer id such as a client's `sc-shanghai.k3j9`.
ID_RE = re.compile(r"(?<![\w.:-])(" + "|".join(map(re.escape, NAMES)) + r")(?![\w-]|\.\w)")
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class VisibleText(HTMLParser):
    """The page's text as a person reads it, one string per text node: no attributes, no script or style, and the
    ids a page shows on purpose beside a node's name (`class="node-id"`) kept apart."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[tuple[str, str]] = []  # (tag, what its text is: "", "hidden" or "node-id")
        self.texts: list[str] = []
        self.secondary_ids: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in VOID:
            return
        kind = "hidden" if tag in ("script", "style", "template") else ""
        if "node-id" in (dict(attrs).get("class") or "").split():
            kind = "node-id"
        self.open.append((tag, kind))

    def handle_endtag(self, tag: str) -> None:
        while self.open and self.open.pop()[0] != tag:
            pass

    def handle_data(self, data: str) -> None:
        kinds = {kind for _, kind in self.open}
        if not data.strip() or "hidden" in kinds:
            return
        (self.secondary_ids if "node-id" in kinds else self.texts).append(data.strip())


def visible(html: str) -> VisibleText:
    parser = VisibleText()
    parser.feed(html)
    parser.close()
    return parser


def ids_shown(text: VisibleText) -> list[str]:
    """Text that shows a node id, the hub's included (`hub` only as a whole text: it is also an English word)."""
    return [t for t in text.texts if ID_RE.search(t) or t == "hub" or "(hub)" in t]


@pytest.fixture
def db_kind() -> str:
    """What a page prints does not depend on the database: SQLite alone."""
    return "sqlite"


@pytest.fixture
def nodes_everywhere(db: Any, world: dict[str, Any]) -> dict[str, Any]:
    """The demo world with a node wherever a page may name one."""
    now = utcnow()
    p = world["principals"]
    with db.transaction(actor=p["office"]) as session:
        for node in ("sc-shanghai", "ws-demo-1"):
            session.add(SyncPeer(node_id=node, last_success_at=now - timedelta(hours=2), queued=3, lag_seconds=60,
                                 digest_ok=node == "sc-shanghai", last_error="connection refused",
                                 last_error_at=now - timedelta(minutes=5), pushed_total=1, pulled_total=1,
                                 rejected_total=0))
        session.add(SyncConflict(entity="enterprise", row_id=str(world["enterprises"]["sh"]), field="address",
                                 node_id="sc-shanghai", kept_value="测试路2号", kept_by=[3, "sc-shanghai"],
                                 other_value="测试路3号", other_by=[2, "hub"]))
        session.add(OAuthClient(id="sc-shanghai.k3j9", name="上海分中心节点", token_endpoint_auth_method="private_key_jwt",
                                grant_types=["client_credentials"], first_party=True, node_id="sc-shanghai"))
        # Given to the workstation and back: the trail records the node ids of both moves.
        roster.update_enterprise(session, p["office"], world["enterprises"]["sh"], {"node": "ws-demo-1"})
        roster.update_enterprise(session, p["office"], world["enterprises"]["sh"], {"node": "sc-shanghai"})
        audit.record(session, "hub", "node.enrolled", actor="node:sc-shanghai", entity_type="node",
                     entity_id="sc-shanghai", detail={"client_id": "sc-shanghai.k3j9"})
    return world


def office_pages(world: dict[str, Any]) -> list[str]:
    sh, application = world["enterprises"]["sh"], world["applications"]["sh"]
    return ["/", "/enterprises", f"/enterprises/{sh}", f"/enterprises/{sh}/edit", "/enterprises/new", "/cases",
            f"/cases/{world['cases']['sh']}", "/visits", f"/visits/{world['visits']['sh']}", "/visits/plan", "/bulletins",
            f"/bulletins/{world['bulletins']['sz']}", "/bulletins/new", "/applications", f"/applications/{application}",
            f"/applications/{application}/print", "/audit", "/admin/users", "/admin/users/new", "/admin/nodes", "/sync",
            "/oauth/clients", "/stats", "/account"]


def subcenter_pages(world: dict[str, Any]) -> list[str]:
    sh, application = world["enterprises"]["sh"], world["applications"]["sh"]
    return ["/", "/enterprises", f"/enterprises/{sh}", f"/enterprises/{sh}/edit", "/enterprises/new", "/cases",
            f"/cases/{world['cases']['sh']}", "/visits", f"/visits/{world['visits']['sh']}", "/visits/plan", "/bulletins",
            f"/bulletins/{world['bulletins']['all']}", "/applications", f"/applications/{application}",
            f"/applications/{application}/edit", "/applications/new", "/stats", "/account"]


@pytest.mark.parametrize("username,pages", [("office", office_pages), ("subcenter_sh", subcenter_pages)])
def test_no_page_shows_a_node_by_its_id(clients: Any, nodes_everywhere: dict[str, Any], username: str,
                                        pages: Any) -> None:
    client = clients(username)
    shown: dict[str, list[str]] = {}
    for path in pages(nodes_everywhere):
        page = client.get(path, headers=HTML)
        assert page.status_code == 200, (username, path, page.status_code)
        found = ids_shown(visible(page.text))
        if found:
            shown[path] = found
    assert shown == {}, f"node ids shown to {username} where a name belongs: {shown}"


def test_the_names_stand_where_the_ids_stood_and_the_ids_stay_in_reach(
        clients: Any, nodes_everywhere: dict[str, Any]) -> None:
    office = clients("office")

    def page(path: str) -> tuple[str, VisibleText]:
        answer = office.get(path, headers=HTML)
        assert answer.status_code == 200, (path, answer.status_code)
        return answer.text, visible(answer.text)

    html, text = page("/sync")
    row = re.search(r'<tr data-node="sc-shanghai">(.*?)</tr>', html, re.DOTALL).group(1)  # type: ignore[union-attr]
    assert '<strong title="sc-shanghai">上海分中心</strong>' in row
    conflict = re.search(r'class="panel stack conflict".*?</dl>', html, re.DOTALL).group(0)  # type: ignore[union-attr]
    said = " ".join(visible(conflict).texts)
    assert "测试路2号 ( 上海分中心 )" in said and "测试路3号 ( 启东市警企联动服务中心 )" in said, said

    html, text = page("/")
    assert 'title="ws-demo-1">启东建工集团上海工作站</a>' in html

    html, text = page("/admin/users")
    assert "上海分中心" in text.texts and "启东市警企联动服务中心" in text.texts
    assert '<option value="sc-shanghai">上海分中心</option>' in html

    html, text = page("/oauth/clients")
    assert '<span title="sc-shanghai">上海分中心</span>' in html and "sc-shanghai.k3j9" in text.texts

    # The trail: the move between nodes, the spoke that enrolled itself and the node it is about, all by name; the
    # line as recorded, with its ids, in the title.
    html, text = page("/audit")
    assert "上海分中心 → 启东建工集团上海工作站" in text.texts and "启东建工集团上海工作站 → 上海分中心" in text.texts
    assert 'title="sc-shanghai → ws-demo-1"' in html
    (enrolled,) = [row for row in re.findall(r'data-entry="[^"]+">(.*?)</tr>', html, re.DOTALL) if "node:sc-shanghai" in row]
    assert '<span title="node:sc-shanghai">上海分中心</span>' in enrolled and '<span title="sc-shanghai">上海分中心</span>' in enrolled
    assert '{"all": false, "regions": [], "industries": [], "nodes": ["苏州分中心"]}' in text.texts  # a warning's targets

    # The office's page of nodes has every id, for the commands an operator types, in its name's title.
    html, text = page("/admin/nodes")
    for node_id, name in NAMES.items():
        assert f'<strong class="node-name" title="{node_id}">{name}</strong>' in html

    html, text = page(f"/applications/{nodes_everywhere['applications']['sh']}")
    assert '<span title="sc-shanghai">上海分中心</span>' in html and text.secondary_ids == []
    # Approved, the node it created is shown with its id, which its enrollment will print.
    approved = office.post(f"/api/v1/applications/{nodes_everywhere['applications']['sh']}/decision",
                           json={"decision": "approve"})
    assert approved.status_code == 200, approved.text
    html, text = page(f"/applications/{nodes_everywhere['applications']['sh']}")
    created = approved.json()["node"]
    assert text.secondary_ids == [created] and f'<span title="{created}">启东海工上海工作站</span>' in html
