"""Page plumbing: one helper decides fragment vs page, login redirects, and pages stay inside the caller's scope."""
from __future__ import annotations

from typing import Any


def test_fragment_for_htmx_swaps_page_otherwise(clients: Any) -> None:
    office = clients("office")
    page = office.get("/enterprises?q=测试")
    assert page.status_code == 200 and "<html" in page.text and 'id="roster-rows"' in page.text
    fragment = office.get("/enterprises?q=测试", headers={"HX-Request": "true"})
    assert "<html" not in fragment.text and fragment.text.lstrip().startswith("<section id=\"roster-rows\"")
    restore = office.get("/enterprises?q=测试", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert "<html" in restore.text
    boosted = office.get("/enterprises", headers={"HX-Request": "true", "HX-Boosted": "true"})
    assert "<html" in boosted.text
    assert "HX-Request" in fragment.headers["vary"]


def test_pages_send_strangers_to_login_and_htmx_gets_a_client_redirect(clients: Any) -> None:
    anonymous = clients()
    page = anonymous.get("/enterprises", headers={"Accept": "text/html"}, follow_redirects=False)
    assert page.status_code in (302, 303) and page.headers["location"].startswith("/login?next=/enterprises")
    swap = anonymous.get("/enterprises", headers={"Accept": "text/html", "HX-Request": "true"}, follow_redirects=False)
    assert swap.status_code == 204 and swap.headers["hx-redirect"].startswith("/login")


def test_login_never_redirects_off_site(clients: Any) -> None:
    client = clients()
    client.fetch_csrf()
    for target, expected in (("https://evil.example/", "/"), ("//evil.example", "/"), ("/enterprises", "/enterprises")):
        client.cookies.clear()
        client.fetch_csrf()
        response = client.post("/login", data={"username": "office", "password": "lianfu-demo", "csrf_token": client.csrf,
                                               "next": target}, follow_redirects=False)
        assert response.headers["location"] == expected


def test_enterprise_page_of_another_tenant_is_not_found(clients: Any, world: dict[str, Any]) -> None:
    sub = clients("subcenter_sh")
    own = sub.get(f"/enterprises/{world['enterprises']['sh']}", headers={"Accept": "text/html"})
    assert own.status_code == 200 and "启东测试sh" in own.text
    assert "********" in own.text  # ID numbers masked for the sub-center
    other = sub.get(f"/enterprises/{world['enterprises']['sz']}", headers={"Accept": "text/html"})
    assert other.status_code == 404 and "启东测试sz" not in other.text and "<html" in other.text
    listing = sub.get("/enterprises?q=测试", headers={"Accept": "text/html"}).text
    assert "启东测试sh" in listing and "启东测试ws" in listing and "启东测试sz" not in listing and "启东测试hub" not in listing


def test_the_pager_keeps_the_lists_filters_encoded() -> None:
    from common.web.templating import environment

    template = environment().from_string(
        '{% from "_macros.html" import pager with context %}{{ pager("/cases", params, 30, 30, True) }}')
    html = template.render(params={"q": "建材 公司", "status": "open"})
    assert 'href="/cases?q=%E5%BB%BA%E6%9D%90+%E5%85%AC%E5%8F%B8&amp;status=open&amp;offset=0"' in html
    assert 'href="/cases?q=%E5%BB%BA%E6%9D%90+%E5%85%AC%E5%8F%B8&amp;status=open&amp;offset=60"' in html
    none_before = environment().from_string(
        '{% from "_macros.html" import pager with context %}{{ pager("/visits", {}, 0, 30, False) }}').render()
    assert "href" not in none_before
