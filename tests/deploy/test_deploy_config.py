"""The shipped configuration against the code it configures: every LIANFU_* setting the code reads is in an env
example with a Chinese note, the examples start a hub and a spoke, and the nginx site's body limits and timeouts are
the app's own (read from the routes of a real hub app, not copied by hand)."""
from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import crossplane
import pytest

from common.settings import Settings, check_hub_settings, load_settings
from deploy_support import DEPLOY, ROOT, SITE, SPOKE_SITE, read_env_file

HUB_ENV = DEPLOY / "hub.env.example"
SPOKE_ENV = DEPLOY / "spoke.env.example"
SETTING = re.compile(r"LIANFU_[A-Z0-9_]+")
CHINESE = re.compile(r"[\u4e00-\u9fff]")
# Settings being added by work in progress elsewhere; the examples list them ahead of the code.
COMING: set[str] = set()
# Set by `lianfu hub serve` for its own workers (hub/hosts.py), never by an operator: no example names them.
SET_BY_SERVE = {"LIANFU_SERVE_PID", "LIANFU_SERVE_WORKERS", "LIANFU_SERVE_STARTED"}
REQUIRED_ON_A_HUB = {"LIANFU_BASE_URL", "LIANFU_SECRET_KEY", "LIANFU_DB", "LIANFU_TRUSTED_PROXIES"}
MB = 1024 * 1024
# nginx's own default for proxy_read_timeout; longer than this is a "long" timeout.
SHORT_SECONDS = 60


@pytest.fixture
def db_kind() -> str:
    return "sqlite"


def _read_by_code() -> set[str]:
    names: set[str] = set()
    for package in ("common", "hub", "spoke", "sync"):
        for path in (ROOT / package).rglob("*.py"):
            names |= set(SETTING.findall(path.read_text(encoding="utf-8")))
    return names - SET_BY_SERVE


def _notes(path: Path) -> dict[str, str]:
    """Each setting of an example with the comment lines just above it (or its own, for a commented-out one)."""
    notes: dict[str, str] = {}
    comment: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not stripped:
            comment = []
        elif stripped.startswith("#"):
            comment.append(stripped)
            for name in SETTING.findall(stripped):
                if re.match(rf"#\s*{name}=", stripped):
                    notes.setdefault(name, "\n".join(comment))
        else:
            name = stripped.partition("=")[0]
            notes[name] = "\n".join(comment)
    return notes


def test_every_setting_the_code_reads_is_in_an_example_with_a_chinese_note() -> None:
    hub, spoke = _notes(HUB_ENV), _notes(SPOKE_ENV)
    missing = (_read_by_code() | COMING) - set(hub) - set(spoke)
    assert not missing, f"not in deploy/*.env.example: {sorted(missing)}"
    for example, notes in (("hub", hub), ("spoke", spoke)):
        unexplained = [name for name, note in notes.items() if not CHINESE.search(note)]
        assert not unexplained, f"{example}: settings without a Chinese note: {unexplained}"
        unknown = set(notes) - _read_by_code() - COMING
        assert not unknown, f"{example}: settings the code does not read: {sorted(unknown)}"


def test_the_hub_example_marks_what_is_required() -> None:
    notes = _notes(HUB_ENV)
    for name in REQUIRED_ON_A_HUB:
        assert "【必填】" in notes[name], name
    assert "secrets.token_urlsafe(48)" in notes["LIANFU_SECRET_KEY"]


def test_the_examples_are_settings_a_hub_and_a_spoke_start_with(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(__import__("os").environ):
        if name.startswith("LIANFU_"):
            monkeypatch.delenv(name)
    for name, value in read_env_file(HUB_ENV).items():
        monkeypatch.setenv(name, value)
    hub = load_settings("hub")
    check_hub_settings(hub)
    assert hub.cookie_secure and hub.base_url.startswith("https://")
    assert hub.trusted_proxies == ("127.0.0.1",)
    assert hub.database_url.startswith("postgresql+psycopg://")
    for name in read_env_file(HUB_ENV):
        monkeypatch.delenv(name)
    for name, value in read_env_file(SPOKE_ENV).items():
        monkeypatch.setenv(name, value)
    spoke = load_settings("spoke")
    assert spoke.port == 8601 and spoke.sync.interval_seconds == 60


# --- the nginx site against the app ---------------------------------------------------------------------------------

def _size(text: str) -> int:
    units = {"k": 1024, "m": MB, "g": 1024 * MB}
    return int(text[:-1]) * units[text[-1].lower()] if text[-1].lower() in units else int(text)


def _seconds(text: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600}
    return int(text[:-1]) * units[text[-1]] if text[-1] in units else int(text)


def _https_server(site: Path = SITE) -> list[dict[str, Any]]:
    parsed = crossplane.parse(str(site), check_ctx=False, check_args=False, single=True)
    assert parsed["status"] == "ok", parsed["errors"]
    servers = [d for d in parsed["config"][0]["parsed"] if d["directive"] == "server"]
    (https,) = [s for s in servers if any(d["directive"] == "ssl_certificate" for d in s["block"])]
    return https["block"]


def _value(block: list[dict[str, Any]], directive: str) -> str | None:
    found = [d["args"][0] for d in block if d["directive"] == directive]
    return found[-1] if found else None


def _locations() -> tuple[list[dict[str, Any]], dict[str, dict[str, str]]]:
    """The server block, and each proxied location with its effective settings (its own, else the server's)."""
    server = _https_server()
    locations = {}
    for directive in server:
        if directive["directive"] != "location":
            continue
        block = directive["block"]
        if _value(block, "proxy_pass") is None:
            continue
        effective = {name: _value(block, name) or _value(server, name) or ""
                     for name in ("client_max_body_size", "proxy_read_timeout")}
        locations[" ".join(directive["args"])] = effective
    return server, locations


def _upload_files(handler: Any) -> int | None:
    """How many files a route's `upload_limit(files)` middleware allows; None for a route without one."""
    for middleware in handler.middleware or ():
        code = getattr(middleware, "__code__", None)
        if code is not None and "files" in code.co_freevars and middleware.__qualname__.startswith("upload_limit"):
            return middleware.__closure__[code.co_freevars.index("files")].cell_contents
    return None


def _hub_routes(settings: Settings) -> list[tuple[str, Any]]:
    from litestar.routes import HTTPRoute

    from hub.app import create_app

    app = create_app(settings)
    try:
        return [(route.path, handler) for route in app.routes if isinstance(route, HTTPRoute)
                for handler in route.route_handlers], app.request_max_body_size  # type: ignore[return-value]
    finally:
        app.state.db.dispose()


def _example_path(path: str) -> str:
    return re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)


def test_the_sites_body_limits_are_the_apps(settings: Settings) -> None:
    from common.attachments.pages import form_limit
    from sync.wire import MAX_BATCH_BYTES

    server, locations = _locations()
    routes, app_default = _hub_routes(settings)
    assert _size(_value(server, "client_max_body_size") or "1m") == app_default
    assert _size(locations["/api/v1/sync/"]["client_max_body_size"]) == MAX_BATCH_BYTES * 2
    regexes = {name: re.compile(name.split(" ", 1)[1]) for name in locations if name.startswith("~ ")}
    uploads = 0
    for path, handler in routes:
        files = _upload_files(handler)
        if handler.resolve_request_max_body_size() is not None:
            continue  # Litestar's own limit, the server's default
        assert files is not None, f"{path} lifts Litestar's body limit without upload_limit()"
        uploads += 1
        matching = [name for name, regex in regexes.items() if regex.match(_example_path(path))]
        assert matching, f"{path}: no location of the site gives it its upload limit"
        allowed = _size(locations[matching[0]]["client_max_body_size"])
        # The app's refusal (in the person's language) comes first; nginx stops only what the app would refuse anyway.
        limit = form_limit(Settings(), files)
        assert limit <= allowed < limit + MB, (path, limit, allowed)
    assert uploads >= 8


def test_long_timeouts_only_on_the_sync_paths(settings: Settings) -> None:
    _server, locations = _locations()
    long = {name for name, effective in locations.items() if _seconds(effective["proxy_read_timeout"]) > SHORT_SECONDS}
    assert long == {"/api/v1/sync/"}
    routes, _default = _hub_routes(settings)
    sync_paths = {path for path, _handler in routes if path.startswith("/api/v1/sync")}
    assert sync_paths and all(path.startswith("/api/v1/sync/") for path in sync_paths)


def test_nothing_is_cached_and_the_apps_headers_are_not_repeated() -> None:
    text = SITE.read_text(encoding="utf-8")
    assert not re.search(r"^\s*proxy_cache\b", text, re.M)
    _server, _locations_ = _locations()
    server = _https_server()
    app_owned = {"content-security-policy", "x-frame-options", "x-content-type-options", "referrer-policy",
                 "strict-transport-security"}
    for directive in server:
        headers = [d["args"][0].lower() for d in (directive.get("block") or []) if d["directive"] == "add_header"]
        if directive["directive"] == "add_header":
            headers = [directive["args"][0].lower()]
        if directive["directive"] == "location" and _value(directive["block"], "proxy_pass") is None:
            continue  # nginx's own answers carry them instead
        assert not app_owned & set(headers), (directive["args"], headers)


def test_the_spoke_site_gives_the_forms_the_hub_sites_limits() -> None:
    """The upload forms are the same routes in both apps (common/): the spoke site repeats the hub site's locations
    for them, which test_the_sites_body_limits_are_the_apps holds against the routes."""

    def limits(site: Path) -> dict[str, str | None]:
        server = _https_server(site)
        found = {" ".join(d["args"]): _value(d["block"], "client_max_body_size") for d in server
                 if d["directive"] == "location" and d["args"][0] == "~"}
        found["server"] = _value(server, "client_max_body_size")
        return found

    assert limits(SPOKE_SITE) == limits(SITE)
    spoke_locations = [" ".join(d["args"]) for d in _https_server(SPOKE_SITE) if d["directive"] == "location"]
    assert "/api/v1/sync/" not in spoke_locations


# --- the guide's commands against the CLI ---------------------------------------------------------------------------

GUIDE = DEPLOY / "README.md"
# Commands the guide may document ahead of their arrival: none now, every command it writes exists.
COMING_COMMANDS: set[tuple[str, ...]] = set()
GUIDE_CALL = re.compile(r"(?:/opt/lianfu/deploy/lianfu-as /etc/lianfu/\S+\.env|/opt/lianfu/venv/bin/lianfu) ([^`|#\n]+)")


def _guide_calls() -> list[list[str]]:
    import shlex

    calls = []
    for match in GUIDE_CALL.finditer(GUIDE.read_text(encoding="utf-8")):
        line = re.sub(r"\$\(date \+\\?%F\)", "2026-12-01", match.group(1)).strip()
        calls.append(shlex.split(line))
    return calls


def test_every_lianfu_command_in_the_guide_is_one_the_cli_takes() -> None:
    """Each `lianfu …` the guide writes, parsed and its values converted as a run would do, without running it."""
    import click

    from common.cli import cli

    calls = _guide_calls()
    assert len(calls) >= 15
    checked = 0
    for args in calls:
        command: click.Command = cli
        rest = list(args)
        path: list[str] = []
        while isinstance(command, click.Group) and rest and not rest[0].startswith("-"):
            found = command.get_command(click.Context(command), rest[0])
            if found is None:
                break
            path.append(rest.pop(0))
            command = found
        missing = rest[0] if rest and not rest[0].startswith("-") and isinstance(command, click.Group) else None
        if missing is not None and (*path, missing) in COMING_COMMANDS:
            continue  # not there yet; checked like the others once it is
        assert missing is None, f"the guide's `lianfu {' '.join(args)}`: no command {missing!r}"
        if "--help" in rest:
            continue
        command.make_context(" ".join(["lianfu", *path]), rest)  # raises on an unknown flag or a bad value
        checked += 1
    assert checked >= 12
