"""Each role's home page and the statistics page: real counts from data made through the services, the app's clock
moved past deadlines, scope, the figures, the Excel download with the same numbers, and refusals."""
from __future__ import annotations

import io
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

from openpyxl import load_workbook
from sqlalchemy import func, select, update

from common.models import (
    Case,
    CaseEvent,
    Node,
    SyncPeer,
    Visit,
)
from common.bulletins import service as bulletins
from common.cases import service as cases
from common.federation import service as federation

APP_PER_CLIENT = True  # a test moves one client's clock (its app's)

HTML = {"Accept": "text/html"}
# Mid-June 2026 at noon in China: the window of the figures is July 2025 to June 2026.
FIXED = datetime(2026, 6, 15, 4, 0, tzinfo=UTC)
MONTHS = [f"2025-{m:02d}" for m in range(7, 13)] + [f"2026-{m:02d}" for m in range(1, 7)]


def section(html: str, section_id: str) -> str:
    """The HTML of one dashboard section (sections do not nest)."""
    start = html.index(f'id="{section_id}"')
    return html[start:html.index("</section>", start)]


def tile(html: str, tile_id: str) -> int:
    match = re.search(rf'id="{tile_id}" href="[^"]*">\s*<span class="tile-count">(\d+)</span>', html)
    assert match, f"no tile {tile_id}"
    return int(match.group(1))


def badge(html: str, section_id: str) -> int:
    """The count in a section's heading."""
    match = re.search(r'<h2 id="[^"]+">[^<]*<span class="badge[^"]*">(\d+)</span>', section(html, section_id))
    assert match, f"no count in {section_id}"
    return int(match.group(1))


def home(client: Any, when: datetime | None = None) -> str:
    if when is not None:
        client.http.app.state.clock = lambda: when
    page = client.get("/", headers=HTML)
    assert page.status_code == 200, page.text[-2000:]
    return page.text


def event_time(db: Any, case_id: Any, kind: str) -> datetime:
    with db.reads() as session:
        return session.scalar(select(CaseEvent.at).where(CaseEvent.case_id == case_id, CaseEvent.kind == kind))


def sign_by(db: Any, case_id: Any) -> datetime:
    """The sign-for deadline its dispatch kept (a routine case: the end of the next working day, Beijing time)."""
    with db.reads() as session:
        details = session.scalar(select(CaseEvent.details).where(CaseEvent.case_id == case_id, CaseEvent.kind == "dispatched"))
    return datetime.fromisoformat(details["sign_by"])


def add_events(db: Any, world: dict[str, Any], case_id: Any, *steps: tuple[str, str, str | None, str | None]) -> None:
    with db.transaction() as session:
        for actor, kind, unit, note in steps:
            cases.add_case_event(session, world["principals"][actor], case_id, {"kind": kind, "unit": unit, "note": note})


def new_case(db: Any, world: dict[str, Any], raiser: str, tenant: str, **fields: str) -> Any:
    with db.transaction() as session:
        case = cases.create_case(session, world["principals"][raiser], {
            "enterprise_id": str(world["enterprises"][tenant]),
            "channel": "platform" if raiser == "workstation_1" else "hotline", **fields})
        return case.id


# ── The office ────────────────────────────────────────────────────────────────────────────────────────────────

def test_an_overdue_sign_for_appears_once_the_clock_passes_the_deadline(clients: Any, world: dict[str, Any], db: Any) -> None:
    office, sh = clients("office"), world["cases"]["sh"]
    due = sign_by(db, sh)
    page = home(office)
    assert tile(page, "tile-overdue") == 0 and badge(page, "home-overdue") == 0
    assert "各单位均已按时签收分派的诉求。" in section(page, "home-overdue")

    # A routine case's unit signs for it by the end of the next working day.
    assert tile(home(office, due - timedelta(minutes=1)), "tile-overdue") == 0
    page = home(office, due + timedelta(minutes=1))
    assert tile(page, "tile-overdue") == 1 and badge(page, "home-overdue") == 1
    rows = section(page, "home-overdue")
    assert f'data-case="{sh}" data-unit="criminal-investigation"' in rows
    assert "刑侦大队" in rows and f'href="/cases/{sh}"' in rows and "逾期" in rows

    add_events(db, world, sh, ("liaison_xz", "signed", None, None))
    page = home(office)
    assert tile(page, "tile-overdue") == 0 and f'data-case="{sh}"' not in section(page, "home-overdue")


def test_the_office_sees_open_cases_by_urgency_and_emergencies(clients: Any, world: dict[str, Any], db: Any) -> None:
    office = clients("office")
    page = home(office)
    urgency = section(page, "home-urgency")
    assert badge(page, "home-urgency") == 4
    assert re.search(r'data-urgency="routine">.*?<strong class="urgency-count">4</strong>', urgency, re.DOTALL)
    assert re.search(r'data-urgency="urgent">.*?<strong class="urgency-count">0</strong>', urgency, re.DOTALL)
    assert 'href="/cases?status=open&amp;urgency=urgent"' in urgency

    urgent = new_case(db, world, "office", "sz", category="criminal_report", urgency="urgent", title="项目部遭冲击")
    add_events(db, world, urgent, ("office", "accepted", None, None), ("office", "escalated", None, None))
    # A case handed to the police where it happened is no longer open.
    add_events(db, world, world["cases"]["ws"], ("office", "accepted", None, None),
               ("office", "transferred", None, "协作函〔2026〕1号"))
    page = home(office)
    urgency = section(page, "home-urgency")
    assert badge(page, "home-urgency") == 4
    assert re.search(r'data-urgency="routine">.*?<strong class="urgency-count">3</strong>', urgency, re.DOTALL)
    assert re.search(r'data-urgency="urgent">.*?<strong class="urgency-count">1</strong>', urgency, re.DOTALL)
    assert tile(page, "tile-emergencies") == 1
    emergencies = section(page, "home-emergencies")
    assert f'data-case="{urgent}"' in emergencies and "项目部遭冲击" in emergencies and "应急" in emergencies
    assert f'href="/cases/{urgent}"' in emergencies


def test_the_office_sees_applications_and_warnings_not_yet_acknowledged(clients: Any, world: dict[str, Any], db: Any) -> None:
    office = clients("office")
    page = home(office)
    assert tile(page, "tile-applications") == 2
    waiting = section(page, "home-applications")
    assert "启东海工上海工作站" in waiting and "启东纺织昆山工作站" in waiting and 'href="/applications?status=submitted' in waiting
    # The only warning (to sc-suzhou) is not acknowledged; the news item to all is no warning.
    assert tile(page, "tile-warnings") == 1
    warnings = section(page, "home-warnings")
    assert f'data-bulletin="{world["bulletins"]["sz"]}"' in warnings and "1个节点中已有0个签收" in warnings
    assert f'data-bulletin="{world["bulletins"]["all"]}"' not in warnings
    assert f'href="/bulletins/{world["bulletins"]["sz"]}"' in warnings
    assert f'href="/applications/{world["applications"]["sh"]}"' in waiting

    p = world["principals"]
    with db.transaction() as session:
        federation.decide_application(session, p["office"], world["applications"]["sz"], "reject", "条件不具备")
        bulletins.acknowledge(session, p["subcenter_sz"], world["bulletins"]["sz"])
        to_all = bulletins.create_bulletin(session, p["office"], {"kind": "warning", "title": "台风预警", "body": "注意防范",
                                                                  "severity": "serious", "targets": {"all": True}})
        bulletins.acknowledge(session, p["subcenter_sh"], to_all.id)
        spokes = session.scalar(select(func.count()).select_from(Node).where(Node.kind != "hub", Node.status != "retired"))
    page = home(office)
    assert tile(page, "tile-applications") == 1 and "启东纺织昆山工作站" not in section(page, "home-applications")
    assert tile(page, "tile-warnings") == 1
    warnings = section(page, "home-warnings")
    assert f'data-bulletin="{world["bulletins"]["sz"]}"' not in warnings
    assert f'data-bulletin="{to_all.id}"' in warnings and f"{spokes}个节点中已有1个签收" in warnings and "严重" in warnings


def test_the_office_sees_the_sync_of_every_node(clients: Any, world: dict[str, Any], db: Any) -> None:
    with db.transaction() as session:
        session.add(SyncPeer(node_id="sc-shanghai", last_success_at=FIXED - timedelta(minutes=10), queued=7, lag_seconds=300,
                             digest_ok=True, last_error="", pushed_total=0, pulled_total=0, rejected_total=0))
        session.add(SyncPeer(node_id="ws-demo-1", last_success_at=FIXED - timedelta(hours=3), queued=0, lag_seconds=0,
                             digest_ok=False, last_error="connection refused", last_error_at=FIXED - timedelta(minutes=5),
                             pushed_total=0, pulled_total=0, rejected_total=0))
    page = home(clients("office"), FIXED)
    sync = section(page, "home-sync")
    shanghai = re.search(r'data-node="sc-shanghai">(.*?)</tr>', sync, re.DOTALL).group(1)  # type: ignore[union-attr]
    assert "✔</span> 正常" in shanghai and "10 分钟前" in shanghai and ">7<" in shanghai and "5 分钟前" in shanghai
    assert "一致" in shanghai
    workstation = re.search(r'data-node="ws-demo-1">(.*?)</tr>', sync, re.DOTALL).group(1)  # type: ignore[union-attr]
    assert "同步失败" in workstation and "connection refused" in workstation and "不一致" in workstation
    suzhou = re.search(r'data-node="sc-suzhou">(.*?)</tr>', sync, re.DOTALL).group(1)  # type: ignore[union-attr]
    assert "从未同步" in suzhou
    assert 'href="/sync' in sync


# ── Sub-centers, workstations, liaisons ───────────────────────────────────────────────────────────────────────

def test_a_subcenter_sees_its_own_cases_and_warnings_only(clients: Any, world: dict[str, Any], db: Any) -> None:
    shanghai, suzhou = home(clients("subcenter_sh")), home(clients("subcenter_sz"))
    mine = section(shanghai, "home-cases")
    assert "sh 工程款纠纷" in mine and "ws 工程款纠纷" in mine and "sz 工程款纠纷" not in mine
    assert badge(shanghai, "home-cases") == 2
    assert "sz 工程款纠纷" in section(suzhou, "home-cases") and "sh 工程款纠纷" not in section(suzhou, "home-cases")
    assert "id=\"home-overdue\"" not in shanghai and "id=\"home-sync\"" not in shanghai
    # The warning to sc-suzhou is Suzhou's, not Shanghai's; acknowledged, it leaves the list.
    assert badge(suzhou, "home-warnings") == 1 and "苏州预警" in section(suzhou, "home-warnings")
    assert f'href="/bulletins/{world["bulletins"]["sz"]}"' in section(suzhou, "home-warnings")
    assert badge(shanghai, "home-warnings") == 0 and "苏州预警" not in shanghai
    with db.transaction() as session:
        bulletins.acknowledge(session, world["principals"]["subcenter_sz"], world["bulletins"]["sz"])
    suzhou = home(clients("subcenter_sz"))
    assert badge(suzhou, "home-warnings") == 0 and "没有待签收的预警。" in section(suzhou, "home-warnings")


def test_a_workstation_sees_its_requests_with_their_status_and_warnings(clients: Any, world: dict[str, Any], db: Any) -> None:
    with db.transaction() as session:
        bulletins.create_bulletin(session, world["principals"]["office"], {"kind": "warning", "title": "汛期安全预警",
                                                                           "body": "注意", "targets": {"all": True}})
    ws = world["cases"]["ws"]
    add_events(db, world, ws, ("office", "accepted", None, None))
    new_case(db, world, "workstation_1", "ws", category="consultation", title="劳动合同咨询")
    page = home(clients("workstation_1"))
    requests = section(page, "home-requests")
    assert badge(page, "home-requests") == 2
    assert "ws 工程款纠纷" in requests and "劳动合同咨询" in requests and "sh 工程款纠纷" not in requests
    assert re.search(r'data-status="accepted">.*?已受理.*?<strong>1</strong>', requests, re.DOTALL)
    assert re.search(r'data-status="submitted">.*?<strong>1</strong>', requests, re.DOTALL)
    assert f'href="/cases/{ws}"' in requests
    assert "汛期安全预警" in section(page, "home-warnings") and badge(page, "home-warnings") == 1


def test_a_liaison_sees_its_units_queue_with_sign_for_deadlines(clients: Any, world: dict[str, Any], db: Any) -> None:
    sh = world["cases"]["sh"]
    deadline = sign_by(db, sh)
    xz, jz = clients("liaison_xz"), clients("liaison_jz")
    page = home(xz)
    queue = section(page, "home-queue")
    assert badge(page, "home-queue") == 1 and f'data-case="{sh}"' in queue and "sh 工程款纠纷" in queue
    assert tile(page, "tile-queue-unsigned") == 1 and tile(page, "tile-queue-overdue") == 0
    due = deadline.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Shanghai"))
    assert f"时限 {due:%Y-%m-%d %H:%M}" in queue
    assert badge(home(jz), "home-queue") == 0 and "sh 工程款纠纷" not in home(jz)

    late = deadline + timedelta(hours=1)
    page = home(xz, late)
    assert tile(page, "tile-queue-overdue") == 1 and f'data-case="{sh}" class="is-overdue"' in section(page, "home-queue")

    add_events(db, world, sh, ("liaison_xz", "signed", None, None))
    page = home(xz, late)
    assert tile(page, "tile-queue-unsigned") == 0 and tile(page, "tile-queue-overdue") == 0 and badge(page, "home-queue") == 1
    add_events(db, world, sh, ("liaison_xz", "reported", None, "已协调处理"))
    assert badge(home(xz, late), "home-queue") == 0


# ── Statistics ────────────────────────────────────────────────────────────────────────────────────────────────

def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def stats_world(db: Any, world: dict[str, Any]) -> dict[str, Any]:
    """Cases, visits and unit steps at known moments of the window ending June 2026 (China Standard Time)."""
    c = world["cases"]
    x = new_case(db, world, "office", "sz", category="criminal_report", urgency="urgent", title="材料被盗")
    y = new_case(db, world, "office", "sh", category="criminal_report", title="去年的旧案")
    z = new_case(db, world, "workstation_1", "ws", category="licensing", title="护照加急")
    add_events(db, world, c["sh"], ("liaison_xz", "signed", None, None))
    add_events(db, world, x, ("office", "accepted", None, None), ("office", "dispatched", "economic-crime", None),
               ("liaison_jz", "signed", None, None), ("liaison_jz", "reported", None, "已追回部分材料"))
    add_events(db, world, c["hub"], ("office", "accepted", None, None), ("office", "dispatched", "economic-crime", None))
    add_events(db, world, y, ("office", "accepted", None, None), ("office", "dispatched", "legal", None))
    with db.transaction() as session:
        def when(case_id: Any, moment: str, kind: str | None = None) -> None:
            if kind is None:
                session.execute(update(Case).where(Case.id == case_id).values(created_at=at(moment)))
            else:
                # A dispatch moved back in time is one written before dispatches kept their deadlines (no details):
                # it is judged by the urgency's constants from its `at`.
                session.execute(update(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.kind == kind)
                                .values(at=at(moment), **({"details": {}} if kind == "dispatched" else {})))
                if kind == "dispatched":  # accepted just before, so the timeline still reads in order
                    session.execute(update(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.kind == "accepted")
                                    .values(at=at(moment) - timedelta(minutes=5)))
        for key in ("sh", "sz", "ws", "hub"):
            when(c[key], "2026-05-10T02:00:00")
        when(x, "2026-05-31T17:00:00")  # 1 June, 01:00 in China: a June case
        when(y, "2025-06-10T02:00:00")  # before the window
        when(z, "2026-06-14T02:00:00")
        # Criminal investigation: dispatched 1 June, signed 10 h later (in time); report not due until 16 June.
        when(c["sh"], "2026-06-01T00:00:00", "dispatched")
        when(c["sh"], "2026-06-01T10:00:00", "signed")
        # Economic crime, urgent (2 h to sign, 3 days to report): signed after 5 h (late), reported after 2 days.
        when(x, "2026-06-10T00:00:00", "dispatched")
        when(x, "2026-06-10T05:00:00", "signed")
        when(x, "2026-06-12T00:00:00", "reported")
        # Economic crime, routine, never signed: overdue since 2 June; its report is not due yet.
        when(c["hub"], "2026-06-01T00:00:00", "dispatched")
        when(y, "2025-06-10T03:00:00", "dispatched")
        for tenant, moment in (("sh", "2026-04-03T02:00:00"), ("ws", "2026-04-20T02:00:00"), ("sz", "2026-06-02T02:00:00")):
            session.execute(update(Visit).where(Visit.id == world["visits"][tenant]).values(visited_at=at(moment)))
    # The timelines were rewritten behind the projection's back: each case's units are worked out again from them,
    # as every write of an event does.
    with db.transaction() as session:
        for case_id in (*c.values(), x, y, z):
            case = session.get(Case, case_id)
            cases.project(session, case, cases.case_state(session, case_id))
    return {"x": x, "y": y, "z": z}


def row_cells(html: str, table_id: str, key: str) -> list[str]:
    table = html[html.index(f'id="{table_id}"'):]
    table = table[:table.index("</table>")]
    match = re.search(rf'<tr data-key="{re.escape(key)}">(.*?)</tr>', table, re.DOTALL)
    assert match, f"no row {key} in {table_id}"
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", match.group(1), re.DOTALL)]


def months_row(counts: dict[str, int]) -> list[str]:
    values = [counts.get(m, 0) for m in MONTHS]
    return [str(v) for v in values] + [str(sum(values))]


def stats_of(client: Any, path: str = "/stats") -> Any:
    client.http.app.state.clock = lambda: FIXED
    return client.get(path, headers=HTML)


def test_the_office_statistics_count_what_was_made(clients: Any, world: dict[str, Any], db: Any) -> None:
    stats_world(db, world)
    page = stats_of(clients("office"))
    assert page.status_code == 200
    html = page.text
    assert "/static/vendor/echarts-5.6.0.min.js" in html and "/static/dashboard.js" in html
    assert html.count("<caption>") == 3 and "诉求数量（按类别、月份）" in html
    assert row_cells(html, "table-cases", "economic_dispute")[1:] == months_row({"2026-05": 4})
    assert row_cells(html, "table-cases", "criminal_report")[1:] == months_row({"2026-06": 1})
    assert row_cells(html, "table-cases", "licensing")[1:] == months_row({"2026-06": 1})
    assert 'data-key="key_person"' not in html  # nothing of that category in the window
    assert row_cells(html, "table-visits", "sc-shanghai") == ["上海分中心", *months_row({"2026-04": 2})]
    assert row_cells(html, "table-visits", "sc-suzhou")[1:] == months_row({"2026-06": 1})
    assert row_cells(html, "table-units", "criminal-investigation") == ["刑侦大队", "1", "1", "100.0%", "0", "0", "—", "0", "0"]
    assert row_cells(html, "table-units", "economic-crime") == ["经侦大队", "2", "0", "0.0%", "1", "1", "100.0%", "0", "0"]
    assert 'data-key="legal"' not in html  # its only dispatch is older than the window

    # The chart's data is the table's.
    data = json.loads(re.search(r'<script type="application/json" id="stats-data">(.*?)</script>', html, re.DOTALL).group(1))  # type: ignore[union-attr]
    assert data["cases"]["months"] == MONTHS
    series = {s["name"]: s["values"] for s in data["cases"]["series"]}
    assert series["经济纠纷指导"][MONTHS.index("2026-05")] == 4 and sum(series["经济纠纷指导"]) == 4
    assert data["units"]["units"] == ["刑侦大队", "经侦大队"]
    assert data["units"]["series"][0]["values"] == [100.0, 0.0] and data["units"]["series"][1]["values"] == [None, 100.0]

    english = clients("office").get("/stats?lang=en", headers=HTML).text
    assert "Requests by category and month" in english and "Criminal Investigation Brigade" in english


def test_the_excel_download_holds_the_same_numbers(clients: Any, world: dict[str, Any], db: Any) -> None:
    stats_world(db, world)
    office = clients("office")
    download = stats_of(office, "/stats.xlsx")
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    disposition = download.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="lianfu-stats-20260615.xlsx"')
    assert "警企联服统计-20260615.xlsx" in unquote(disposition)
    book = load_workbook(io.BytesIO(download.content))
    assert book.sheetnames == ["诉求", "巡访记录", "按时率"]
    rows = [list(r) for r in book["诉求"].iter_rows(values_only=True)]
    assert rows[0] == ["类别", *MONTHS, "合计"]
    by_label = {r[0]: r[1:] for r in rows[1:]}
    assert by_label["经济纠纷指导"] == [*[4 if m == "2026-05" else 0 for m in MONTHS], 4]
    assert by_label["合计"][-1] == 6 and by_label["合计"][MONTHS.index("2026-06")] == 2
    visits = {r[0]: r[1:] for r in book["巡访记录"].iter_rows(min_row=2, values_only=True)}
    assert visits["上海分中心"][MONTHS.index("2026-04")] == 2 and visits["上海分中心"][-1] == 2
    assert visits["苏州分中心"][-1] == 1
    units = [list(r) for r in book["按时率"].iter_rows(values_only=True)]
    assert units[0] == ["联动单位", "应签收", "按时签收", "按时签收率", "应反馈", "按时反馈", "按时反馈率", "催办次数", "督办次数"]
    assert units[1] == ["刑侦大队", 1, 1, 1.0, 0, 0, None, 0, 0]
    assert units[2] == ["经侦大队", 2, 0, 0.0, 1, 1, 1.0, 0, 0]
    # The page in English still downloads Chinese headers.
    assert load_workbook(io.BytesIO(office.get("/stats.xlsx?lang=en").content)).sheetnames == ["诉求", "巡访记录", "按时率"]


def test_statistics_stay_within_each_scope_and_other_tenants_figures_are_refused(clients: Any, world: dict[str, Any],
                                                                                  db: Any) -> None:
    stats_world(db, world)
    shanghai = stats_of(clients("subcenter_sh")).text
    assert row_cells(shanghai, "table-cases", "economic_dispute")[1:] == months_row({"2026-05": 2})
    assert row_cells(shanghai, "table-cases", "licensing")[1:] == months_row({"2026-06": 1})
    assert 'data-key="criminal_report"' not in shanghai.split('id="table-cases"')[1].split("</table>")[0]
    assert 'data-key="sc-suzhou"' not in shanghai and 'id="table-units"' not in shanghai
    book = load_workbook(io.BytesIO(stats_of(clients("subcenter_sh"), "/stats.xlsx").content))
    assert book.sheetnames == ["诉求", "巡访记录"]
    assert {r[0]: r[-1] for r in book["诉求"].iter_rows(min_row=2, values_only=True)}["合计"] == 3

    workstation = stats_of(clients("workstation_1")).text
    assert 'id="table-visits"' not in workstation and 'id="table-units"' not in workstation
    assert row_cells(workstation, "table-cases", "licensing")[1:] == months_row({"2026-06": 1})

    liaison = stats_of(clients("liaison_jz")).text
    assert row_cells(liaison, "table-units", "economic-crime")[1:] == ["2", "0", "0.0%", "1", "1", "100.0%", "0", "0"]
    assert 'data-key="criminal-investigation"' not in liaison and 'id="table-visits"' not in liaison

    # Another tenant's figures are the office's to see.
    for who, path in (("subcenter_sh", "/stats?node=sc-suzhou"), ("subcenter_sh", "/stats.xlsx?node=sc-suzhou"),
                      ("workstation_1", "/stats?node=sc-shanghai"), ("liaison_xz", "/stats?node=sc-shanghai")):
        assert stats_of(clients(who), path).status_code == 403, (who, path)
    suzhou = stats_of(clients("office"), "/stats?node=sc-suzhou").text
    assert row_cells(suzhou, "table-cases", "economic_dispute")[1:] == months_row({"2026-05": 1})
    assert 'data-key="sc-shanghai"' not in suzhou
    assert row_cells(suzhou, "table-units", "economic-crime")[1:] == ["1", "0", "0.0%", "1", "1", "100.0%", "0", "0"]
    # A head may narrow to a node below their own.
    assert stats_of(clients("subcenter_sh"), "/stats?node=ws-demo-1").status_code == 200
    assert clients().get("/stats", headers=HTML, follow_redirects=False).status_code in (302, 303, 401)


def test_the_home_page_in_english(clients: Any, world: dict[str, Any]) -> None:
    page = clients("office").get("/?lang=en", headers=HTML).text
    assert "Overdue sign-fors" in page and "Open cases by urgency" in page and "超时未签收" not in page
    assert 'href="/stats"' in page
