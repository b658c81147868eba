"""The walls of the house: shared code does not ask which node it runs on, the office's own work is mounted by the hub
alone and refused at a spoke with a reason, the spoke never loads the hub's code, and no module imports itself back."""
from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from litestar import Litestar
from litestar.di import Provide

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("common", "hub", "spoke", "sync")


def _modules() -> dict[str, Path]:
    out: dict[str, Path] = {}
    for folder in PACKAGES:
        for path in (ROOT / folder).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            out[name.removesuffix(".__init__")] = path
    return out


def test_shared_code_does_not_ask_which_node_it_runs_on() -> None:
    asks = re.compile(r"""(settings\.role|node_role)\s*(==|!=)|role\s*(==|!=)\s*["'](hub|spoke)["']""")
    found = []
    for folder in ("common", "sync"):
        for path in (ROOT / folder).rglob("*.py"):
            if path == ROOT / "common/settings.py":
                continue  # the loader: a node's defaults follow its role
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                # The node this code runs on (not a row's node) compared with the hub.
                node_is_hub = re.search(r"""(info\.get\(["']node_id["']\)|settings\.node_id).*(==|!=)\s*["']hub["']""", line)
                if (asks.search(line) or node_is_hub) and "principal.role" not in line:
                    found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    for path in (ROOT / "templates").rglob("*.html"):
        if "node_role" in path.read_text(encoding="utf-8"):
            found.append(str(path.relative_to(ROOT)))
    assert found == []


def _routes(handlers: list) -> set[tuple[str, str]]:
    # The API's handlers take the caller from the app's `principal` dependency.
    app = Litestar(route_handlers=handlers, openapi_config=None,
                  dependencies={"principal": Provide(lambda: None, sync_to_thread=False)})
    return {(method, route.path) for route in app.routes for method in getattr(route, "methods", ())
            if method not in ("HEAD", "OPTIONS")}


def test_every_route_of_the_office_is_refused_at_a_spoke_with_a_reason() -> None:
    from common.web.app import API_HANDLERS
    from hub.office import HUB_API_HANDLERS, OFFICE_HANDLERS
    from spoke.hub_only import HUB_ONLY, HUB_ONLY_HANDLERS

    office = _routes(OFFICE_HANDLERS) | (_routes(HUB_API_HANDLERS) - _routes(API_HANDLERS))
    assert office == {(method, path) for method, path, _ in HUB_ONLY}
    assert _routes(HUB_ONLY_HANDLERS) == office


def test_the_spoke_never_loads_the_hubs_own_code() -> None:
    probe = ("import sys, spoke.app, spoke.cli, sync.cli; "
             "print('\\n'.join(m for m in sys.modules if m.startswith('hub') or m.endswith(('.office', '.office_api'))))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


def test_no_module_imports_itself_back() -> None:
    """Imports anywhere in a module count, also those inside a function; those for type annotations only (under
    `if TYPE_CHECKING:`) do not, as they never run."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for block in [n for n in ast.walk(tree) if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING"]:
            block.body = []
        deps: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    deps.add(full if full in modules else node.module)
            elif isinstance(node, ast.Import):
                deps.update(alias.name for alias in node.names)
        graph[name] = {d for d in deps if d in modules and d != name}

    # Tarjan's strongly connected components: a component of more than one module is a cycle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    assert cycles == []


def test_a_spoke_refuses_the_offices_own_work_in_chinese_and_offers_none_of_it(
        settings: Any, db: Any, world: dict[str, Any], tmp_path: Path) -> None:
    """At a spoke the office's actions are neither offered nor done: each answers 403 with where it is done."""
    import time

    from litestar.testing import TestClient

    from spoke.app import create_app as create_spoke_app
    from tests.conftest import CSRF_RE
    from tests.sync_support import Federation

    fed = Federation(settings, db, tmp_path / "spokes")
    try:
        sh = fed.enroll("sc-shanghai")
        assert sh.sync().ok
        app = create_spoke_app(sh.settings.with_overrides(cookie_secure=False))
        app.state.hub_link = sh.link
        with TestClient(app, base_url="http://sc-shanghai.test") as browser:
            sh.link._down_until = time.monotonic() + 60  # noqa: SLF001 - log in offline, at the spoke itself
            csrf = CSRF_RE.search(browser.get("/login").text).group(1)  # type: ignore[union-attr]
            browser.post("/login", data={"username": "subcenter_sh", "password": "lianfu-demo", "csrf_token": csrf,
                                         "next": "/"})
            listing = browser.get("/bulletins")
            assert listing.status_code == 200 and 'href="/bulletins/new"' not in listing.text
            csrf = CSRF_RE.search(listing.text).group(1)  # type: ignore[union-attr]
            headers = {"X-CSRF-Token": csrf}
            page = browser.get("/bulletins/new")
            assert page.status_code == 403 and "预警资讯由中心办公室在中心节点发布。" in page.text
            api = browser.post("/api/v1/bulletins", json={"kind": "news", "title": "t", "body": "b",
                                                          "targets": {"all": True}}, headers=headers)
            assert api.status_code == 403 and "中心节点" in api.json()["detail"]
            # What every node answers still works on the paths the refusals share.
            assert browser.get("/api/v1/bulletins").status_code == 200
            assert browser.get(f"/api/v1/bulletins/{world['bulletins']['all']}").status_code == 200
            assert browser.delete(f"/api/v1/bulletins/{world['bulletins']['all']}", headers=headers).status_code == 403
            routing = browser.post("/cases/routing", data={"csrf_token": csrf}, headers=headers)
            assert routing.status_code == 403 and "此项只能由中心办公室在中心节点修改。" in routing.text
            decided = browser.post(f"/applications/{world['applications']['sh']}/decision",
                                   data={"decision": "approved", "csrf_token": csrf}, headers=headers)
            assert decided.status_code == 403
            renamed = browser.patch("/api/v1/nodes/sc-shanghai", json={"name": "上海"}, headers=headers)
            assert renamed.status_code == 403 and "中心节点" in renamed.json()["detail"]
            assert browser.get("/api/v1/nodes/sc-shanghai").status_code == 200
    finally:
        fed.close()


def test_settings_are_read_from_the_environment_by_the_loader_alone() -> None:
    """Elsewhere the environment is only handed on (to a server process a command starts), never read."""
    reads = re.compile(r"os\.environ\.get\(|os\.getenv\(|os\.environ\[[^\]]+\](?!\s*=[^=])")
    found = [f"{path.relative_to(ROOT)}:{number}" for name, path in _modules().items() if name != "common.settings"
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if reads.search(line)]
    assert found == []
