"""An operator on a closed network installs Lianfu from a wheel (deploy/README.md): the wheel holds what the code
reads besides Python — the page templates, the style sheets, the translations, the migrations — and a node run
from the installed wheel (not the source tree) finds them."""
from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _source(target: Path) -> Path:
    """The project's files as a fresh clone holds them: a build in the working tree would reuse what an editable
    install left there (its egg-info lists files a clean build would not take)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def test_a_wheel_install_finds_its_templates_translations_and_migrations(tmp_path: Path) -> None:
    source = _source(tmp_path / "source")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(source), "-w", str(tmp_path / "dist")],
                           capture_output=True, text=True, cwd=tmp_path)
    if built.returncode != 0 and ("Could not find a version" in built.stderr or "connection" in built.stderr.lower()):
        pytest.skip(f"no package index to build the wheel with: {built.stderr.strip().splitlines()[-1]}")
    assert built.returncode == 0, built.stderr
    [wheel] = (tmp_path / "dist").glob("lianfu-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    source_templates = {str(p.relative_to(ROOT)) for p in (ROOT / "templates").rglob("*.html")}
    assert source_templates and source_templates <= names
    for needed in ("common/static/lianfu.css", "common/reports/pdf.css", "common/migrations/env.py",
                   "common/locale/zh_Hans/LC_MESSAGES/messages.po"):
        assert needed in names, needed

    site = tmp_path / "site"
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
                               capture_output=True, text=True)
    assert installed.returncode == 0, installed.stderr
    probe = (
        "import common, common.web.templating as t, common.migrate as m\n"
        "from common import i18n\n"
        "print(common.__file__)\n"
        "print(t.environment().get_template('base.html').filename)\n"
        "print(i18n.translate('Administration', 'zh_Hans'))\n"
        "print(m.head_and_previous()[0])\n"
    )
    ran = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path,
                         env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"})
    assert ran.returncode == 0, ran.stderr
    module, template, translated, head = ran.stdout.splitlines()
    assert module.startswith(str(site)) and template.startswith(str(site))
    assert translated == "管理" and head
