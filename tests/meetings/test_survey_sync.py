"""The annual questionnaire: the office sends it to every workstation, a workstation answers at its own spoke, offline,
the answer reaches the hub and shows in the annual meeting's summary; no node answers for another."""
from __future__ import annotations

import time
import uuid
from typing import Any

from litestar.testing import TestClient

from common.clock import clock
from common.errors import NotFound
from common.federation.service import add_node
from common.meetings import surveys
from common.meetings.models import Survey
from sync.wire import Change, PushBatch
from spoke.app import create_app as create_spoke_app
from tests.conftest import CSRF_RE
from tests.sync_support import Federation, rows
from tests.sync.test_sync import _push, fed, hub_rows  # noqa: F401 - `fed` is the federation fixture


def _send(fed: Federation, world: dict[str, Any]) -> uuid.UUID:
    with fed.hub_db.transaction(actor=world["principals"]["office"]) as session:
        add_node(session, "ws-other", "workstation", "启东纺织苏州工作站", "sc-suzhou", "320505")
        return surveys.create_survey(session, world["principals"]["office"], 2026).id


def _answers(fed: Federation) -> dict[str, dict[str, Any]]:
    """node -> its answer row at the hub."""
    return {row["node_id"]: {**row, "id": row_id} for row_id, row in hub_rows(fed, "survey_answer").items()}


def test_a_workstation_answers_at_its_spoke_and_the_summary_shows_it(fed: Federation, world: dict[str, Any],
                                                                     clients: Any) -> None:
    survey_id = _send(fed, world)
    assert set(_answers(fed)) == {"ws-demo-1", "ws-other"}
    ws = fed.enroll("ws-demo-1")
    assert ws.sync().ok
    held = rows(ws.db, "survey_answer")
    assert [row["node_id"] for row in held.values()] == ["ws-demo-1"]  # only its own

    # On the spoke's own page, logged in offline (the hub out of reach).
    app = create_spoke_app(ws.settings.with_overrides(cookie_secure=False))
    app.state.hub_link = ws.link
    with TestClient(app, base_url="http://ws-demo-1.test") as browser:
        ws.link._down_until = time.monotonic() + 600  # noqa: SLF001
        csrf = CSRF_RE.search(browser.get("/login").text).group(1)
        browser.post("/login", data={"username": "workstation_1", "password": "lianfu-demo", "csrf_token": csrf,
                                     "next": "/"})
        listed = browser.get("/surveys")
        assert listed.status_code == 200 and "2026年度警企联服满意度问卷" in listed.text and "尚未填写" in listed.text
        form = browser.get(f"/surveys/{survey_id}")
        assert form.status_code == 200 and 'name="q5"' in form.text
        csrf = CSRF_RE.search(form.text).group(1)
        answered = browser.post(f"/surveys/{survey_id}", data={
            "q1": "5", "q2": "4", "q3": "4", "q4": "3", "q5": "5", "comment": "希望多开展法制宣传", "csrf_token": csrf},
            follow_redirects=False)
        assert answered.status_code == 303, answered.text
        assert browser.get("/meetings").status_code == 403  # the office's, at the hub
    assert ws.queued() >= 1
    ws.link._down_until = 0.0  # noqa: SLF001
    result = ws.sync()
    assert result.ok and result.rejected == [], result
    answered = _answers(fed)["ws-demo-1"]
    assert answered["ratings"] == {"q1": 5, "q2": 4, "q3": 4, "q4": 3, "q5": 5}
    assert answered["answered_by"] is not None and _answers(fed)["ws-other"]["answered_at"] is None

    with fed.hub_db.reads() as session:
        summary = surveys.summary(session, session.get(Survey, survey_id))
    assert (summary["sent"], summary["answered"]) == (2, 1)
    assert summary["questions"][0]["counts"] == {"1": 0, "2": 0, "3": 0, "4": 0, "5": 1}
    assert summary["questions"][3]["average"] == 3.0
    assert summary["comments"] == [{"node": "ws-demo-1", "name": summary["comments"][0]["name"],
                                    "comment": "希望多开展法制宣传"}]
    assert [p["node"] for p in summary["pending"]] == ["ws-other"]

    # The office sees it on the annual meeting's page (the hub's own database, as the federation's hub).
    office = clients("office")
    meeting = office.post("/api/v1/meetings", json={"kind": "annual", "period": "2026"}).json()
    page = office.get(f"/meetings/{meeting['id']}")
    assert page.status_code == 200
    assert "希望多开展法制宣传" in page.text and "1 / 2" in page.text and "启东纺织苏州工作站" in page.text


def test_a_workstation_cannot_answer_for_another(fed: Federation, world: dict[str, Any]) -> None:
    survey_id = _send(fed, world)
    ws = fed.enroll("ws-demo-1")
    assert ws.sync().ok
    head = ws.principal("workstation_1")
    # At its own node it reaches only its own answer; another node's is not there to reach.
    other = _answers(fed)["ws-other"]
    with fed.hub_db.reads() as session:
        from common.models import User
        from common.policy import load_principal

        at_hub = load_principal(session, session.get(User, world["users"]["workstation_1"]))
    with fed.hub_db.transaction(actor=at_hub) as session:
        try:
            surveys.own_answer(session, at_hub, survey_id)  # its own: found
            from common.meetings.models import SurveyAnswer
            from common import policy
            assert session.scalars(policy.scoped(SurveyAnswer, at_hub)
                                   .where(SurveyAnswer.node_id == "ws-other")).first() is None
        except NotFound:  # pragma: no cover - its own must be found
            raise
    # Pushed as if answered for the other workstation: refused, and the other's row unchanged.
    stamp = [clock.now(), "ws-demo-1"]
    forged = Change("survey_answer", other["id"], {"ratings": {"q1": 1}, "comment": "冒答"},
                    fv={"ratings": stamp, "comment": stamp}, prior={"ratings": {}, "comment": ""},
                    actor=str(head.user_id))
    answer = _push(fed, ws, PushBatch("forged", [forged], upto=1))
    assert answer.status_code == 200, answer.text
    assert [r["id"] for r in answer.json()["rejected"]] == [other["id"]]
    assert _answers(fed)["ws-other"]["ratings"] == {} and _answers(fed)["ws-other"]["comment"] == ""
    # A workstation may not change the questions of its own either.
    own = _answers(fed)["ws-demo-1"]
    retitled = Change("survey_answer", own["id"], {"title": "改掉标题"}, fv={"title": stamp},
                      prior={"title": own["title"]}, actor=str(head.user_id))
    answer = _push(fed, ws, PushBatch("retitled", [retitled], upto=2))
    assert [r["id"] for r in answer.json()["rejected"]] == [own["id"]]


def test_pages_of_the_questionnaire_by_role(clients: Any, world: dict[str, Any], db: Any) -> None:
    office = clients("office")
    sent = office.post("/api/v1/surveys", json={"year": 2026})
    assert sent.status_code == 201, sent.text
    survey_id = sent.json()["survey_id"]
    assert office.post("/api/v1/surveys", json={"year": 2026}).status_code == 409  # once a year
    station = clients("workstation_1")
    form = station.get(f"/surveys/{survey_id}")
    assert form.status_code == 200 and 'name="q1"' in form.text
    answered = station.post(f"/surveys/{survey_id}", data={"q1": "4", "q2": "5", "q3": "5", "q4": "5", "q5": "5",
                                                          "comment": "满意"}, follow_redirects=False)
    assert answered.status_code == 303, answered.text
    incomplete = station.post(f"/api/v1/surveys/{survey_id}/answer", json={"ratings": {"q1": 9}})
    assert incomplete.status_code == 422
    # A sub-center holds its workstation's row in its subtree but may not answer for it; a sub-center elsewhere
    # does not even see it.
    assert clients("subcenter_sh").post(f"/api/v1/surveys/{survey_id}/answer",
                                        json={"ratings": {f"q{n}": 1 for n in range(1, 6)}}).status_code == 404
    assert clients("subcenter_sz").get(f"/surveys/{survey_id}").status_code == 404
    summary = office.get(f"/api/v1/surveys/{survey_id}").json()
    assert summary["answered"] == 1 and summary["questions"][0]["counts"]["4"] == 1
    assert summary["comments"][0]["comment"] == "满意"
