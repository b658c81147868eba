"""Security headers on every answer, and pages that run under our Content-Security-Policy: nothing inline, nothing
from another host. The pages of the main journeys are rendered for each role and parsed, not grepped."""
from __future__ import annotations

import asyncio
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from common.web.headers import HANDOFF_PATHS, SecurityHeaders, content_security_policy, origin_of

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"

# What the headers say does not depend on the database: one engine is enough.
@pytest.fixture
def db_kind() -> str:
    return "sqlite"


# --- reading a page -------------------------------------------------------------------------------------------------

EXTERNAL = re.compile(r"^\s*(https?:)?//", re.IGNORECASE)
# The attributes through which a page loads something or sends the browser somewhere.
URL_ATTRIBUTES = ("src", "href", "action", "formaction", "data", "poster", "srcset")


class PageAudit(HTMLParser):
    """Everything in a page that our CSP would refuse or that reaches for another host."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.scripts: list[str] = []
        self.stylesheets: list[str] = []
        self._in_inline_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name.lower(): value or "" for name, value in attrs}
        for name, value in values.items():
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=…> handler")
            if name == "style":
                self.problems.append(f"<{tag} style=…> inline style")
            if name.startswith(("hx-on", "data-hx-on")):
                self.problems.append(f"<{tag} {name}> htmx eval")
            if name in ("hx-vals", "hx-vars", "hx-headers") and value.lstrip().startswith(("js:", "javascript:")):
                self.problems.append(f"<{tag} {name}> evaluates JavaScript")
            if name == "hx-trigger" and any("[" in spec.split()[0] for spec in value.split(",") if spec.strip()):
                self.problems.append(f"<{tag} hx-trigger={value!r}> filter evaluates JavaScript")
            if name in URL_ATTRIBUTES and value.strip().lower().startswith("javascript:"):
                self.problems.append(f"<{tag} {name}=javascript:…>")
        if tag == "script":
            kind = values.get("type", "").lower()
            if "src" in values:
                self.scripts.append(values["src"])
            elif kind not in ("application/json", "application/ld+json"):
                self._in_inline_script = True
                self.problems.append("inline <script>")
        if tag == "style":
            self.problems.append("<style> element")
        if tag == "link" and "stylesheet" in values.get("rel", "").lower():
            self.stylesheets.append(values.get("href", ""))
        if tag in ("script", "link", "img", "iframe", "source", "object", "embed", "video", "audio"):
            for name in ("src", "href", "data", "srcset"):
                if name in values and EXTERNAL.match(values[name]):
                    self.problems.append(f"<{tag} {name}={values[name]!r}> from another host")


def audit(html: str) -> PageAudit:
    parser = PageAudit()
    parser.feed(html)
    parser.close()
    return parser


def assert_protected(response: Any, *, handoff: bool = False) -> None:
    headers = response.headers
    policy = headers.get("content-security-policy", "")
    where = f"{response.request.method} {response.request.url.path} → {response.status_code}"
    for directive in ("default-src 'self'", "script-src 'self'", "style-src 'self'", "object-src 'none'",
                      "base-uri 'self'", "frame-ancestors 'none'"):
        assert directive in policy, f"{where}: {directive!r} missing from {policy!r}"
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy, f"{where}: {policy!r}"
    assert ("form-action" not in policy) if handoff else ("form-action 'self'" in policy), f"{where}: {policy!r}"
    assert headers.get("referrer-policy") == "same-origin", where
    assert headers.get("x-content-type-options") == "nosniff", where
    assert headers.get("x-frame-options") == "DENY", where


def assert_clean_page(response: Any) -> PageAudit:
    assert response.headers["content-type"].startswith("text/html"), response.request.url
    page = audit(response.text)
    assert page.problems == [], f"{response.request.url.path}: {page.problems}"
    for url in page.scripts + page.stylesheets:
        assert url.startswith("/static/"), f"{response.request.url.path} loads {url}"
    return page


# --- the journeys ---------------------------------------------------------------------------------------------------

ROLE_PAGES = {
    "office": ["/", "/enterprises", "/enterprises/{e_sh}", "/cases", "/cases/new", "/cases/{c_sh}", "/cases/routing",
               "/visits", "/visits/new", "/visits/{v_sh}", "/visits/plan", "/visits/settings", "/applications",
               "/applications/{a_sh}", "/applications/{a_sh}/print", "/bulletins", "/bulletins/new",
               "/bulletins/{b_all}", "/sync", "/stats", "/oauth/clients"],
    "leader": ["/", "/enterprises", "/cases", "/stats"],
    "liaison_xz": ["/", "/enterprises", "/cases", "/cases/{c_sh}"],
    "subcenter_sh": ["/", "/enterprises", "/cases", "/cases/new", "/visits", "/visits/new", "/applications",
                     "/applications/new", "/bulletins", "/bulletins/{b_all}"],
    "workstation_1": ["/", "/enterprises", "/cases", "/cases/new", "/bulletins", "/applications"],
}


def _fill(path: str, world: dict[str, Any]) -> str:
    return path.format(e_sh=world["enterprises"]["sh"], c_sh=world["cases"]["sh"], v_sh=world["visits"]["sh"],
                       a_sh=world["applications"]["sh"], b_all=world["bulletins"]["all"])


@pytest.mark.parametrize("role", sorted(ROLE_PAGES))
def test_every_page_of_a_role_carries_the_headers_and_nothing_inline(clients: Any, world: dict[str, Any],
                                                                      role: str) -> None:
    client = clients(role)
    for template in ROLE_PAGES[role]:
        path = _fill(template, world)
        response = client.get(path, headers={"Accept": "text/html"})
        assert response.status_code == 200, f"{role} {path}: {response.status_code}"
        assert_protected(response)
        assert_clean_page(response)


def test_the_login_pages_leave_form_action_to_the_authorization_server(clients: Any) -> None:
    anonymous = clients()
    login = anonymous.get("/login")
    assert login.status_code == 200
    assert_protected(login, handoff=True)
    assert_clean_page(login)
    assert "/login" in HANDOFF_PATHS and "/oauth/authorize" in HANDOFF_PATHS


def test_fragments_errors_redirects_and_machine_answers_are_covered_too(clients: Any, world: dict[str, Any]) -> None:
    office = clients("office")
    fragment = office.get("/enterprises?q=启东", headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert_protected(fragment)
    assert audit(fragment.text).problems == []
    # No route at all: Litestar's route middleware never runs for these, the headers come all the same.
    missing = office.get("/no-such-page", headers={"Accept": "text/html"})
    assert missing.status_code == 404
    assert_protected(missing)
    assert audit(missing.text).problems == []
    assert_protected(office.get("/static/no-such-file.js"))
    assert_protected(office.delete("/healthz"))  # 405
    redirect = clients().get("/enterprises", headers={"Accept": "text/html"}, follow_redirects=False)
    assert redirect.status_code in (302, 303)
    assert_protected(redirect)
    for path in ("/healthz", "/api/v1/enterprises", "/schema/openapi.json", "/static/lianfu.css"):
        assert_protected(office.get(path))


def test_strict_transport_security_only_when_cookies_are_secure(clients: Any, settings: Any) -> None:
    assert settings.cookie_secure
    assert clients().get("/login").headers["strict-transport-security"].startswith("max-age=")

    async def start(hook: SecurityHeaders) -> dict[bytes, bytes]:
        message: dict[str, Any] = {"type": "http.response.start", "status": 200, "headers": []}
        await hook(message, {"type": "http", "path": "/"})  # type: ignore[arg-type]
        return dict(message["headers"])

    assert b"strict-transport-security" not in asyncio.run(start(SecurityHeaders(strict_transport=False)))
    assert b"strict-transport-security" in asyncio.run(start(SecurityHeaders(strict_transport=True)))


def test_a_response_with_its_own_policy_keeps_it() -> None:
    own = b"sandbox; default-src 'none'"
    message: dict[str, Any] = {"type": "http.response.start", "status": 200,
                               "headers": [(b"Content-Security-Policy", own), (b"x-frame-options", b"SAMEORIGIN")]}
    asyncio.run(SecurityHeaders()(message, {"type": "http", "path": "/attachments/x"}))  # type: ignore[arg-type]
    policies = [v for k, v in message["headers"] if k.lower() == b"content-security-policy"]
    assert policies == [own]
    assert [v for k, v in message["headers"] if k.lower() == b"x-frame-options"] == [b"SAMEORIGIN"]
    assert (b"referrer-policy", b"same-origin") in message["headers"]
    body = {"type": "http.response.body", "body": b"x"}
    asyncio.run(SecurityHeaders()(body, {"type": "http", "path": "/"}))  # type: ignore[arg-type]
    assert "headers" not in body


def test_a_spoke_may_send_its_forms_to_its_hub_only() -> None:
    assert origin_of("http://127.0.0.1:8600/") == "http://127.0.0.1:8600"
    assert origin_of("https://hub.example/issuer") == "https://hub.example"
    assert origin_of("javascript:alert(1)") is None
    policy = content_security_policy(["http://127.0.0.1:8600", "https://hub.example"])
    form_action = next(d for d in policy.split("; ") if d.startswith("form-action"))
    assert form_action == "form-action 'self' http://127.0.0.1:8600 https://hub.example"
    hook = SecurityHeaders(form_targets=["http://127.0.0.1:8600/", "http://127.0.0.1:8600", "not a url"])
    message: dict[str, Any] = {"type": "http.response.start", "status": 200, "headers": []}
    asyncio.run(hook(message, {"type": "http", "path": "/cases"}))  # type: ignore[arg-type]
    sent = dict(message["headers"])[b"content-security-policy"].decode()
    assert "form-action 'self' http://127.0.0.1:8600;" in sent + ";"


# --- the API reference ----------------------------------------------------------------------------------------------

def test_api_docs_come_from_our_own_files(clients: Any) -> None:
    anonymous = clients()
    for path in ("/schema", "/schema/swagger"):
        response = anonymous.get(path)
        assert response.status_code == 200, path
        assert_protected(response)
        page = assert_clean_page(response)
        assert "/static/api-docs.js" in page.scripts
        for url in page.scripts + page.stylesheets:
            assert anonymous.get(url).status_code == 200, url
    schema = anonymous.get("/schema/openapi.json")
    assert schema.status_code == 200 and schema.json()["openapi"].startswith("3.1")
    # Litestar's other viewers load their scripts from CDNs: not served here.
    for path in ("/schema/redoc", "/schema/elements", "/schema/rapidoc", "/schema/scalar"):
        gone = anonymous.get(path)
        assert gone.status_code == 404, path
        assert_protected(gone)
        assert audit(gone.text).problems == []


# --- the templates themselves ---------------------------------------------------------------------------------------

def test_no_template_holds_inline_script_handlers_or_styles() -> None:
    """Also the partials no journey above happens to render."""
    offending = re.compile(r"<script(?![^>]*\b(?:src=|type=\"application/json\"))[^>]*>|\son[a-z]+\s*=|\sstyle\s*=|<style\b"
                           r"|javascript:|\shx-on|\bjs:", re.IGNORECASE)
    found = [f"{path.relative_to(TEMPLATES)}:{n}: {line.strip()}"
             for path in sorted(TEMPLATES.rglob("*.html"))
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if offending.search(line)]
    assert found == []
