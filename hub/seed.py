"""Demo data: the nodes and accounts of the contract and a realistic roster of the city's enterprises elsewhere."""
from __future__ import annotations

import random
from datetime import date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from pypinyin import Style, lazy_pinyin
from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session
from uuid_utils.compat import uuid7

from common.audit import trail as audit
from common.clock import clock
from common.demo import DEMO_ACCOUNTS as ACCOUNTS, DEMO_PASSWORD
from common.models import Case, CaseUnit, Enterprise, Node, Person, User, Visit
from common.notify.service import Audience, Notice, notify
from common.identity.passwords import hash_password
from common.policy import load_principal
from common.cases import service as case_service
from common.federation.service import add_node
from common.roster.service import name_pinyin
from common.validation import make_credit_code, make_id_number
from sync import bulk

CST = ZoneInfo("Asia/Shanghai")

NODES = [
    # id, kind, name, parent, region
    ("sc-shanghai", "subcenter", "上海分中心", "hub", "310000"),
    ("sc-suzhou", "subcenter", "苏州分中心", "hub", "320500"),
    ("ws-demo-1", "workstation", "启东建工集团上海工作站", "sc-shanghai", "310115"),
]
# The enterprise hosting ws-demo-1 (the first of the roster drawn under sc-shanghai, renamed).
HOST_NAME = "启东建工集团有限公司上海分公司"


# Where the city's enterprises operate: (node, region code, place name, share of the roster).
PLACES = [
    ("sc-shanghai", "310115", "上海", 0.22), ("sc-shanghai", "310112", "上海", 0.10), ("sc-shanghai", "310104", "上海", 0.08),
    ("sc-suzhou", "320505", "苏州", 0.12), ("sc-suzhou", "320506", "苏州", 0.08), ("sc-suzhou", "320583", "昆山", 0.08),
    ("hub", "330106", "杭州", 0.08), ("hub", "440305", "深圳", 0.07), ("hub", "650102", "乌鲁木齐", 0.05),
    ("hub", "110105", "北京", 0.06), ("hub", "510107", "成都", 0.06),
]

BRANDS = ["华顺", "海通", "江海", "汇龙", "东疆", "恒达", "宏盛", "联峰", "瑞丰", "吕四", "滨江", "通启", "金海", "启隆",
          "振华", "永固", "长江", "天汇", "圆陀", "惠萍", "南阳", "合作", "近海", "北新", "东元", "和合", "寅阳", "王鲍"]
INDUSTRY_WORDS = {
    "construction": ["建设工程", "建筑安装", "市政工程", "装饰工程"],
    "shipbuilding": ["船舶重工", "海洋工程", "船舶配套"],
    "manufacturing": ["机械制造", "精密机械", "电动工具"],
    "textiles": ["纺织服饰", "家纺"],
    "electronics": ["电子科技", "智能科技"],
    "trade": ["物流", "国际贸易"],
    "food": ["食品", "餐饮管理"],
    "chemicals": ["化工", "新材料"],
    "services": ["劳务服务", "物业管理"],
}
SURNAMES = "张王李陈刘杨黄周吴徐孙朱马胡郭何高林罗郑梁宋谢唐韩曹许邓冯沈曾彭吕蔡施陆顾"
GIVEN = ["建国", "海峰", "志强", "晓燕", "丽华", "伟", "敏", "静", "军", "磊", "秀英", "建华", "国平", "红梅", "春生",
         "卫东", "小平", "雪梅", "永康", "海燕", "立新", "文杰", "佳怡", "子涵", "浩然"]
POSITIONS = ["总经理", "项目经理", "安全员", "财务主管", "劳资专员", "施工队长", "办公室主任", "技术员"]


def _pinyin_parts(words: list[str]) -> dict[str, tuple[str, str]]:
    return {w: ("".join(lazy_pinyin(w)).lower(), "".join(lazy_pinyin(w, style=Style.FIRST_LETTER)).lower()) for w in words}


def seed_reference_nodes(session: Session) -> None:
    for node_id, kind, name, parent, region in NODES:
        if session.get(Node, node_id) is None:
            add_node(session, node_id, kind, name, parent, region)


def seed_accounts(session: Session) -> dict[str, User]:
    users: dict[str, User] = {}
    password_hash = hash_password(DEMO_PASSWORD)
    for username, role, node, unit, leader, display in ACCOUNTS:
        user = session.scalars(select(User).where(User.username == username)).first()
        if user is None:
            user = User(username=username, role=role, node_id=node, unit_id=unit, is_leader=leader,
                        display_name=display, password_hash=password_hash)
            session.add(user)
        users[username] = user
    session.flush()
    # The demo's sub-centers and workstation are headed by their demo accounts (as an approval would record).
    for username, role, node_id, *_ in ACCOUNTS:
        node = session.get(Node, node_id)
        if role in ("subcenter", "enterprise") and node is not None and node.head_user_id is None:
            node.head_user_id = users[username].id
    return users


def seed_roster(session: Session, count: int, rng: random.Random, batch: int = 5000) -> list[dict[str, Any]]:
    """Bulk-insert `count` enterprises with two or three people each; returns a small sample for visits and cases."""
    already = session.scalar(select(func.count()).select_from(Enterprise)) or 0
    words = [w for ws in INDUSTRY_WORDS.values() for w in ws]
    pinyin = _pinyin_parts(BRANDS + words + [p[2] for p in PLACES] + ["启东", "集团", "有限公司", "分公司"])
    weights = [p[3] for p in PLACES]
    now = datetime.now(timezone.utc)
    sample: list[dict[str, Any]] = []
    enterprises: list[dict[str, Any]] = []
    people: list[dict[str, Any]] = []
    person_seq = 0

    def flush() -> None:
        # The bulk path of sync pushes (COPY at PostgreSQL): an ORM executemany there takes minutes per 100,000.
        bulk.insert_rows(session, Enterprise.__table__, enterprises)
        bulk.insert_rows(session, Person.__table__, people)
        enterprises.clear()
        people.clear()

    for i in range(already, already + count):
        node, region, place, _ = rng.choices(PLACES, weights)[0]
        industry = rng.choice(list(INDUSTRY_WORDS))
        brand, word = rng.choice(BRANDS), rng.choice(INDUSTRY_WORDS[industry])
        name = f"启东{brand}{word}有限公司{place}分公司"
        full = "qidong" + pinyin[brand][0] + pinyin[word][0] + "youxiangongsi" + pinyin[place][0] + "fengongsi"
        initials = "qd" + pinyin[brand][1] + pinyin[word][1] + "yxgs" + pinyin[place][1] + "fgs"
        # The organisation body is the row number spread over the alphabet: unique, deterministic, valid.
        body = f"{(i * 7919 + 13) % 100_000_000:08d}"
        enterprise_id = uuid7()
        row = {
            "id": enterprise_id, "node_id": node, "name": name, "name_pinyin": f"{full} {initials}",
            "credit_code": make_credit_code("9", "1", region, body), "region_code": region,
            "address": f"{place}{rng.choice(['浦东新区', '工业园区', '高新区', '经济开发区'])}{rng.randint(1, 999)}号",
            "industry": industry, "is_key": rng.random() < 0.08, "parent_company": f"启东{brand}集团有限公司",
            "risk_level": rng.choices(["low", "medium", "high"], [0.75, 0.2, 0.05])[0],
            "contact_name": rng.choice(SURNAMES) + rng.choice(GIVEN), "contact_phone": f"138{i % 100_000_000:08d}",
            "notes": "", "created_at": now, "updated_at": now, "version": clock.now(), "deleted_at": None,
        }
        enterprises.append(row)
        if len(sample) < 400:
            sample.append(row)
        for _ in range(rng.choice((2, 2, 3))):
            person_seq += 1
            birth = date(1960, 1, 1) + timedelta(days=rng.randint(0, 365 * 40))
            people.append({
                "id": uuid7(), "node_id": node, "enterprise_id": enterprise_id,
                "name": rng.choice(SURNAMES) + rng.choice(GIVEN),
                # Order codes 900–999 under the home city's code: valid in form, plainly not a real person's.
                "id_number": make_id_number("320681", birth, 900 + person_seq % 100),
                "phone": f"139{person_seq % 100_000_000:08d}", "position": rng.choice(POSITIONS),
                "created_at": now, "updated_at": now, "version": clock.now(), "deleted_at": None,
            })
        if len(enterprises) >= batch:
            flush()
    flush()
    return sample


def seed_visits(session: Session, sample: list[dict[str, Any]], users: dict[str, User], rng: random.Random) -> int:
    rows = []
    now = datetime.now(timezone.utc)
    for e in sample:
        if e["node_id"] == "hub" or rng.random() < 0.4:
            continue
        # Visits happen in working hours, China Standard Time.
        day = (now - timedelta(days=rng.randint(1, 200))).astimezone(CST).replace(hour=rng.randint(9, 16),
                                                                                  minute=rng.choice((0, 15, 30, 45)))
        visited = day.astimezone(timezone.utc)
        hazards = [] if rng.random() < 0.6 else [{"description": rng.choice(
            ["宿舍消防通道堆放杂物", "工地临时用电不规范", "外来务工人员登记不全", "工资发放记录缺失"]),
            "severity": rng.choice(["low", "medium", "high"])}]
        rows.append({
            "id": uuid7(), "node_id": e["node_id"], "enterprise_id": e["id"], "visited_at": visited,
            "kind": rng.choice(["safety", "safety", "legal_education", "follow_up"]),
            "visitors": users["subcenter_sh"].display_name if e["node_id"] != "sc-suzhou" else users["subcenter_sz"].display_name,
            "checklist": {"fire_safety": True, "security_staff": rng.random() < 0.8, "labour_relations": True,
                          "personnel_stability": rng.random() < 0.9},
            "findings": "企业安全管理制度健全，员工情绪稳定。" if not hazards else "发现隐患，已现场指导整改。",
            "hazards": hazards, "guidance": "加强消防安全培训，落实值班制度。", "topic": "", "attendance": None,
            "latitude": None, "longitude": None, "visitor_id": None,
            "created_at": visited, "updated_at": visited, "version": clock.now(), "deleted_at": None,
        })
    if rows:
        session.execute(insert(Visit), rows)
    return len(rows)


# The events that bring a case to each state, with who acts.
ACCEPTED = [("office", "accepted", None, None)]
FILED_BY_ECONOMIC_CRIME = [("office", "accepted", None, None), ("office", "dispatched", "economic-crime", None),
                           ("liaison_jz", "signed", None, None),
                           ("liaison_jz", "reported", None, "已约谈分包方负责人，约定分期支付。"), ("office", "filed", None, None)]

# Each story with who raises it (the workstation or sub-center of the enterprise, or the office taking a 110 call)
# and the journeys it goes through in turn: a dispute to economic crime, a theft reported as a major case under the
# emergency plan with a joint working group asked for, passports to exit-entry, a crowd of workers to public order.
CASE_STORIES: list[tuple[str, str, str, str, str, list[list[tuple[str, str, str | None, str | None]]]]] = [
    ("economic_dispute", "urgent", "分包方拖欠工程款引发纠纷", "分包方拖欠工程款约85万元，工人情绪激动，请求协调。", "local",
     [[("office", "accepted", None, None), ("office", "dispatched", "economic-crime", None)], FILED_BY_ECONOMIC_CRIME]),
    ("criminal_report", "major", "工地材料被盗", "夜间工地钢材被盗，价值约12万元，已向当地派出所报案。", "local",
     [[("office", "accepted", None, None), ("office", "escalated", None, None),
       ("office", "dispatched", "criminal-investigation", None),
       ("office", "jwg_requested", None, "涉案金额大、涉及两地，申请组建联合工作组。")],
      [("office", "accepted", None, None), ("office", "dispatched", "criminal-investigation", None),
       ("liaison_xz", "signed", None, None)]]),
    ("licensing", "routine", "外派员工护照加急办理", "三名员工需赴境外项目，申请出入境证件绿色通道。", "local",
     [[("office", "accepted", None, None), ("office", "dispatched", "exit-entry", None)], ACCEPTED]),
    ("dispute_mediation", "mass_incident", "农民工聚集讨薪", "约40名农民工在项目部聚集讨薪，请求协助处置。", "hotline",
     [[("office", "accepted", None, None), ("office", "dispatched", "public-order", None)]]),
    ("consultation", "routine", "劳动合同法律咨询", "咨询外地用工劳动合同签订及社保缴纳政策。", "local",
     [[], ACCEPTED]),
    ("certificate", "routine", "无犯罪记录证明办理", "项目投标需要法定代表人无犯罪记录证明。", "local",
     [ACCEPTED, []]),
]


def seed_cases(session: Session, sample: list[dict[str, Any]], users: dict[str, User], rng: random.Random, count: int) -> int:
    principals = {name: load_principal(session, user) for name, user in users.items()}
    made = 0
    for i, e in enumerate(e for e in sample if e["node_id"] != "hub"):
        if made >= count:
            break
        category, urgency, title, description, how, journeys = CASE_STORIES[i % len(CASE_STORIES)]
        raiser = "workstation_1" if e["node_id"] == "ws-demo-1" else ("subcenter_sz" if e["node_id"] == "sc-suzhou" else "subcenter_sh")
        if how == "hotline":
            raiser, channel = "office", "hotline"  # a mass incident is the police's call: taken in on 110
        elif raiser == "workstation_1":
            channel = "platform"
        else:
            channel = rng.choice(["platform", "wechat", "visit"])
        jurisdiction = "elsewhere" if raiser != "workstation_1" and rng.random() < 0.7 else "local"
        case = case_service.create_case(session, principals[raiser], {
            "enterprise_id": str(e["id"]), "channel": channel, "category": category, "urgency": urgency, "title": title,
            "description": description, "jurisdiction": jurisdiction})
        for actor, kind, unit, note in journeys[(i // len(CASE_STORIES)) % len(journeys)]:
            case_service.add_case_event(session, principals[actor], case.id, {"kind": kind, "unit": unit, "note": note})
        made += 1
    return made


def _case_for(session: Session, unit: str | None = None, node: str | None = None) -> Case | None:
    """A demo case to point a notice at: the oldest dispatched to `unit`, or raised at `node`."""
    stmt = select(Case).where(Case.deleted_at.is_(None)).order_by(Case.id).limit(1)
    if unit is not None:
        stmt = stmt.where(Case.id.in_(select(CaseUnit.case_id).where(CaseUnit.unit_id == unit)))
    if node is not None:
        stmt = stmt.where(Case.node_id == node)
    return session.scalars(stmt).first()


def seed_notices(session: Session, users: dict[str, User]) -> int:
    """A few notices in the demo accounts' inboxes, so the header's badge shows something. Their fixed event keys make
    seeding again add nothing."""
    told = 0

    def tell(key: str, who: str, notice: Notice) -> None:
        nonlocal told
        told += notify(session, f"demo:{key}", notice, Audience(users=(users[who].id,)), channels=("inbox",))

    def case_notice(kind: str, title: str, body: str, case: Case | None, urgent: bool = False) -> Notice:
        link = f"/cases/{case.id}" if case is not None else "/cases"
        what = f"{case.number} {case.title}" if case is not None else ""
        return Notice(kind=kind, title=title.format(case=what).strip("：: "), body=body, link=link, entity_type="case",
                      entity_id=case.id if case is not None else None, urgent=urgent)

    xz_case = _case_for(session, unit="criminal-investigation")
    jz_case = _case_for(session, unit="economic-crime") or _case_for(session)
    sh_case = _case_for(session, node="sc-shanghai")
    ws_case = _case_for(session, node="ws-demo-1")
    tell("office:raised", "office", case_notice("case.raised", "新的诉求待受理：{case}",
                                                "分中心提交了新的诉求，请尽快受理并派单。", sh_case))
    tell("office:overdue", "office", case_notice("case.overdue", "签收超时：{case}",
                                                 "派单后已超过签收时限，承办单位尚未签收，可催办或督办。", xz_case, urgent=True))
    tell("liaison_xz:dispatched", "liaison_xz", case_notice("case.dispatched", "新派单：{case}",
                                                            "中心办公室已将此案件派给刑侦大队，请及时签收。", xz_case))
    tell("liaison_xz:overdue", "liaison_xz", case_notice("case.overdue", "签收即将超时：{case}",
                                                         "请在时限内签收，逾期将由中心办公室催办。", xz_case, urgent=True))
    tell("liaison_jz:dispatched", "liaison_jz", case_notice("case.dispatched", "新派单：{case}",
                                                            "中心办公室已将此案件派给经侦大队，请及时签收。", jz_case))
    warning = Notice(kind="bulletin.published", title="预警：岁末年初谨防合同诈骗和拖欠工资引发的纠纷",
                     body="请各分中心、工作站组织企业负责人阅读预警并确认，排查合同和工资支付风险。", link="/bulletins",
                     urgent=True)
    for who in ("subcenter_sh", "subcenter_sz", "workstation_1"):
        tell(f"{who}:warning", who, warning)
    tell("subcenter_sh:dispatched", "subcenter_sh", case_notice(
        "case.dispatched", "已派单：{case}", "本辖区企业的诉求已受理并派给承办单位。", sh_case))
    tell("workstation_1:accepted", "workstation_1", case_notice(
        "case.accepted", "已受理：{case}", "您提交的诉求已由中心办公室受理。", ws_case))
    return told


def seed_demo(session: Session, enterprises: int, seed: int = 20200812) -> dict[str, int]:
    """Idempotent for nodes and accounts; each run adds `enterprises` more to the roster."""
    rng = random.Random(seed + (session.scalar(select(func.count()).select_from(Enterprise)) or 0))
    seed_reference_nodes(session)
    users = seed_accounts(session)
    sample = seed_roster(session, enterprises, rng)
    # ws-demo-1 is hosted by the first enterprise it holds; give it one if the draw gave none.
    ws = session.get(Node, "ws-demo-1")
    host = next((row for row in sample if row["node_id"] == "sc-shanghai"), None)
    if ws is not None and ws.host_enterprise_id is None and host is not None:
        session.execute(Enterprise.__table__.update().where(Enterprise.id == host["id"]).values(
            node_id="ws-demo-1", name=HOST_NAME, name_pinyin=name_pinyin(HOST_NAME), is_key=True))
        session.execute(Person.__table__.update().where(Person.enterprise_id == host["id"]).values(node_id="ws-demo-1"))
        host["node_id"] = "ws-demo-1"
        ws.host_enterprise_id = host["id"]
    visits = seed_visits(session, sample, users, rng)
    made_cases = seed_cases(session, sample, users, rng, min(36, max(6, enterprises // 10)))
    seed_notices(session, users)
    from common.reports.demo import seed_month
    month = seed_month(session, datetime.now(timezone.utc), rng)
    # Fresh statistics, so the query planner knows how the bulk-loaded rows spread over nodes and filters.
    session.execute(text("ANALYZE"))
    audit.record(session, "hub", "seed-demo", actor="lianfu", entity_type="roster",
                 detail={"enterprises": enterprises, "visits": visits, "cases": made_cases, **month})
    return {"enterprises": enterprises, "visits": visits, "cases": made_cases, "accounts": len(users), **month}

