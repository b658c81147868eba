"""The enterprise picker every form shares: matches in the caller's scope, told apart by credit code and region."""
from __future__ import annotations

import re
from typing import Any

from common.validation import make_credit_code

HTML = {"Accept": "text/html"}
HTMX = {"Accept": "text/html", "HX-Request": "true"}


def choices(html: str, field: str = "enterprise_id") -> list[str]:
    return re.findall(rf'<input type="radio" name="{field}" value="([0-9a-f-]{{36}})"', html)


def test_the_picker_finds_as_one_types_and_tells_namesakes_apart(clients: Any, world: dict[str, Any]) -> None:
    office = clients("office")
    made = []
    for n, region in enumerate(["310115", "320583"] + ["310104"] * 21):
        response = office.post("/api/v1/enterprises", json={
            "name": "启东建工集团有限公司分公司", "credit_code": make_credit_code("9", "1", region, f"P{n:07d}"),
            "region_code": region, "industry": "construction", "node": "hub"})
        assert response.status_code == 201, response.text
        made.append(response.json())
    fragment = office.get("/enterprises/picker", params={"q": "jg"}, headers=HTMX)
    assert fragment.status_code == 200
    html = fragment.text
    assert html.lstrip().startswith('<fieldset id="picker-results-enterprise_id"') and "<html" not in html
    assert len(choices(html)) == 20 and "只显示前 20 个" in html  # at most twenty, and says so
    # Two branches of one name: each shows its credit code and its region.
    two = office.get("/enterprises/picker", params={"q": made[0]["credit_code"][:17]}, headers=HTMX).text
    assert choices(two) == [made[0]["id"]] and made[0]["credit_code"] in two and "上海市 浦东新区" in two
    other = office.get("/enterprises/picker", params={"enterprise_q": made[1]["credit_code"]}, headers=HTMX).text
    assert choices(other) == [made[1]["id"]] and "江苏省 苏州市 昆山市" in other
    assert "没有符合条件的企业" in office.get("/enterprises/picker", params={"q": "无此企业"}, headers=HTMX).text
    # The one already chosen stays among the matches of a new search, chosen.
    kept = office.get("/enterprises/picker", params={"q": "无此企业", "enterprise_id": made[1]["id"]}, headers=HTMX).text
    assert choices(kept) == [made[1]["id"]] and re.search(rf'value="{made[1]["id"]}" checked>', kept)
    # The application form's host: the same picker fills host_enterprise_id.
    host = office.get("/enterprises/picker", params={"field": "host_enterprise_id", "host_enterprise_q": "测试sh"},
                      headers=HTMX).text
    assert choices(host, "host_enterprise_id") == [str(world["enterprises"]["sh"])]
    assert 'id="picker-results-host_enterprise_id"' in host


def test_a_sub_center_never_sees_another_subtree_in_the_picker(clients: Any, world: dict[str, Any]) -> None:
    sh, sz = str(world["enterprises"]["sh"]), str(world["enterprises"]["sz"])
    suzhou = clients("subcenter_sz")
    for term in ("测试", "qdcs", "jsgc", "启东"):
        found = choices(suzhou.get("/enterprises/picker", params={"q": term}, headers=HTMX).text)
        assert found == [sz], term
    # Naming another subtree's enterprise as the chosen one shows nothing of it.
    smuggled = suzhou.get("/enterprises/picker", params={"q": "无此", "enterprise_id": sh}, headers=HTMX).text
    assert choices(smuggled) == [] and "启东测试sh" not in smuggled
    page = suzhou.get("/cases/new", params={"enterprise_id": sh, "enterprise_q": "测试"}, headers=HTML).text
    assert choices(page) == [sz] and "启东测试sh" not in page
    shanghai = choices(clients("subcenter_sh").get("/enterprises/picker", params={"q": "测试"}, headers=HTMX).text)
    assert set(shanghai) == {sh, str(world["enterprises"]["ws"])}  # its subtree: its own and its workstation's
    stranger = clients(None).get("/enterprises/picker", params={"q": "测试"}, headers=HTMX)
    assert stranger.headers.get("HX-Redirect", "").startswith("/login") and "启东测试" not in stranger.text


def test_the_case_form_without_javascript_and_with_a_preset_enterprise(clients: Any, world: dict[str, Any]) -> None:
    office = clients("office")
    sh = str(world["enterprises"]["sh"])
    preset = office.get(f"/cases/new?enterprise_id={sh}", headers=HTML).text
    assert choices(preset) == [sh] and re.search(rf'value="{sh}" checked>', preset) and "启东测试sh" in preset
    assert 'name="enterprise_id" value="" >' not in preset
    # The search box belongs to a small GET form outside the case's form: without JavaScript it reloads the page
    # with the matches, which are then the form's choices.
    assert re.search(r'<form id="picker-find-enterprise_id" class="picker-find" method="get"', preset)
    assert 'form="picker-find-enterprise_id"' in preset
    assert preset.index('id="picker-find-enterprise_id"') < preset.index('<form class="panel case-form"')
    found = office.get("/cases/new", params={"enterprise_q": "qdcssz"}, headers=HTML).text
    assert choices(found) == [str(world["enterprises"]["sz"])] and 'value="qdcssz"' in found
    # The office may leave the enterprise unknown (a 110 call); the radio for that is there.
    assert re.search(r'<input type="radio" name="enterprise_id" value="" checked>', found)
    made = office.post("/cases/new", data={"enterprise_id": str(world["enterprises"]["sz"]), "channel": "hotline",
                                           "category": "economic_dispute", "urgency": "routine", "jurisdiction": "local",
                                           "title": "拖欠货款"}, headers=HTML)
    assert made.status_code in (200, 303), made.text
    listed = office.get("/api/v1/cases", params={"q": "拖欠货款"}).json()["items"]
    assert [c["enterprise_id"] for c in listed] == [str(world["enterprises"]["sz"])]
