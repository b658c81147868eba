"""The command line's plain answers: the version, the status of an unmigrated database, and one line (no traceback)
with a non-zero exit when the database cannot be reached or its URL makes no sense."""
from __future__ import annotations

import json
import logging
import os
import subprocess
from pathlib import Path

import pytest

from common.migrate import head_and_previous
from tests.live_hub import LIANFU, ROOT

UNREACHABLE = "postgresql://nobody:hunter2@127.0.0.1:1/lianfu"


def _lianfu(*args: str, data_dir: Path, extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("LIANFU_")}
    env.update({"LIANFU_DATA_DIR": str(data_dir), "LIANFU_COOKIE_SECURE": "0", **(extra or {})})
    return subprocess.run([*LIANFU, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_version_names_the_release_and_the_schema_it_expects(tmp_path: Path) -> None:
    from importlib.metadata import version

    done = _lianfu("--version", data_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"lianfu {version('lianfu')} (schema {head_and_previous()[0]})"


@pytest.mark.parametrize("command", [
    ["hub", "serve", "--db", UNREACHABLE, "--port", "1"],
    ["hub", "migrate", "--db", UNREACHABLE],
    ["hub", "status", "--db", UNREACHABLE],
    ["hub", "jobs", "--db", UNREACHABLE],
])
def test_an_unreachable_database_is_one_line_and_a_non_zero_exit(command: list[str], tmp_path: Path) -> None:
    done = _lianfu(*command, data_dir=tmp_path)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: database unreachable: ") and "Connection refused" in lines[0]
    assert "Traceback" not in done.stderr + done.stdout and "hunter2" not in done.stderr


def test_a_url_with_no_database_behind_it_is_one_line_too(tmp_path: Path) -> None:
    for url, reason in (("nosuchdb://x/y", "database URL not understood"),
                        (f"sqlite:///{tmp_path}/missing/dir/lianfu.db", "database unreachable")):
        done = _lianfu("hub", "migrate", "--db", url, data_dir=tmp_path)
        assert done.returncode != 0
        assert done.stderr.strip().startswith(f"error: {reason}") and len(done.stderr.strip().splitlines()) == 1


def test_a_spoke_whose_database_cannot_be_opened_is_one_line(tmp_path: Path) -> None:
    """A spoke's data dir whose database file is a directory: `lianfu sync status` cannot open it."""
    spoke_dir = tmp_path / "spoke"
    spoke_dir.mkdir()
    (spoke_dir / "spoke.json").write_text(json.dumps({
        "node_id": "sc-x", "node_name": "x", "hub_url": "http://127.0.0.1:1", "issuer": "http://127.0.0.1:1",
        "client_id": "c"}), encoding="utf-8")
    (spoke_dir / "lianfu.db").mkdir()
    done = _lianfu("sync", "status", "--data-dir", str(spoke_dir), data_dir=spoke_dir)
    assert done.returncode != 0
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stderr.startswith("error: ") and "Traceback" not in done.stderr


def test_status_of_an_unmigrated_database_says_so_and_fails(tmp_path: Path) -> None:
    done = _lianfu("hub", "status", "--json", data_dir=tmp_path)
    assert done.returncode == 1, done.stderr
    status = json.loads(done.stdout)
    assert status["schema"] == {"current": None, "expected": head_and_previous()[0], "up_to_date": False,
                                "verdict": "not migrated"}
    assert status["database"] == {"kind": "sqlite", "path": str((tmp_path / "lianfu.db").resolve())}
    assert status["hosts"] == [] and status["jobs"] == []

    assert _lianfu("hub", "migrate", data_dir=tmp_path).returncode == 0
    text = _lianfu("hub", "status", data_dir=tmp_path)
    assert text.returncode == 0, text.stderr
    assert "up to date" in text.stdout and "none seen" in text.stdout and "deliveries" in text.stdout


def test_status_shows_a_postgresql_database_without_its_password() -> None:
    from hub.status import describe_database

    assert describe_database("postgresql+psycopg://lianfu:hunter2@db.example:5433/hub") == {
        "kind": "postgresql", "host": "db.example", "port": 5433, "name": "hub", "user": "lianfu"}


def test_a_json_log_line_holds_its_traceback_in_one_field(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from common.ops import logs

    monkeypatch.setenv("LIANFU_LOG_FORMAT", "json")
    handler = logging.FileHandler(tmp_path / "out.log", encoding="utf-8")
    handler.setFormatter(logs.make_formatter())
    handler.addFilter(logs.ContextFilter())
    logger = logging.getLogger("lianfu.test.json")
    logger.addHandler(handler)
    logger.propagate = False
    token = logs.REQUEST_ID.set("rid-7")
    try:
        try:
            raise ZeroDivisionError("division by zero")
        except ZeroDivisionError:
            logger.exception("it broke")
    finally:
        logs.REQUEST_ID.reset(token)
        logger.removeHandler(handler)
        handler.close()
    lines = (tmp_path / "out.log").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["message"] == "it broke" and record["level"] == "ERROR" and record["request_id"] == "rid-7"
    assert record["exception"].startswith("Traceback") and "ZeroDivisionError" in record["exception"]


def test_an_unknown_log_format_is_refused_in_one_line(tmp_path: Path) -> None:
    done = _lianfu("hub", "serve", "--port", "1", data_dir=tmp_path, extra={"LIANFU_LOG_FORMAT": "xml"})
    assert done.returncode != 0
    assert done.stderr.strip() == "error: LIANFU_LOG_FORMAT must be one of text, json, not 'xml'"


def test_a_data_dir_that_cannot_be_made_is_one_line(tmp_path: Path) -> None:
    """`hub migrate` with a data dir under a file (as under a directory the service account may not write): the path
    and the reason in one line, not a traceback."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    done = _lianfu("hub", "migrate", data_dir=blocker / "hub")
    assert done.returncode == 4, done.stderr
    assert done.stderr.strip() == f"error: cannot use {blocker / 'hub'}: Not a directory"
