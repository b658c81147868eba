"""Every string the code and templates mark for translation has its Simplified Chinese; pages follow the language."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from babel.messages.pofile import read_po

from common.i18n import catalog, negotiate

ROOT = Path(__file__).resolve().parents[2]


def test_every_msgid_has_a_chinese_translation(tmp_path: Path) -> None:
    pot = tmp_path / "messages.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F", str(ROOT / "babel.cfg"), "-o",
                    str(pot), str(ROOT)], check=True, cwd=ROOT, capture_output=True)
    with pot.open("rb") as fh:
        msgids = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(fh) if m.id}
    assert len(msgids) > 100
    missing = sorted(msgids - set(catalog("zh_Hans")))
    assert missing == [], f"untranslated: {missing}"


def test_language_negotiation_order() -> None:
    assert negotiate(None, None) == "zh_Hans"
    assert negotiate("en", "zh-CN,zh;q=0.9") == "en"
    assert negotiate(None, "en-US,en;q=0.9,zh;q=0.5") == "en"
    assert negotiate(None, "fr-FR,zh-TW;q=0.8") == "zh_Hans"
    assert negotiate(None, "en-US", cookie_lang="zh_Hans") == "zh_Hans"


def test_pages_are_chinese_by_default_and_english_on_request(clients: Any) -> None:
    anonymous = clients()
    page = anonymous.get("/login")
    assert 'lang="zh-CN"' in page.text and "登录" in page.text and "用户名" in page.text
    english = anonymous.get("/login?lang=en")
    assert 'lang="en"' in english.text and "Log in" in english.text and "登录" not in english.text
    # The choice is remembered for the next page.
    assert 'lang="en"' in anonymous.get("/login").text


def test_api_problem_details_speak_the_callers_language(clients: Any) -> None:
    office = clients("office")
    body = {"name": "", "credit_code": "91320681MA1XXXXXX", "region_code": "999999"}
    chinese = office.post("/api/v1/enterprises", json=body)
    assert chinese.status_code == 422
    fields = {e["field"]: e["message"] for e in chinese.json()["errors"]}
    assert set(fields) >= {"name", "credit_code", "region_code"}
    assert fields["name"] == "此项必填"
    english = office.post("/api/v1/enterprises", json=body, headers={"Accept-Language": "en"})
    assert {e["field"]: e["message"] for e in english.json()["errors"]}["name"] == "This field is required"


def test_switching_language_keeps_the_search(clients: Any) -> None:
    page = clients("office").get("/enterprises?q=测试&industry=construction")
    assert "lang=en" in page.text and "q=%E6%B5%8B%E8%AF%95" in page.text and "industry=construction" in page.text
