"""The annual satisfaction questionnaire (年度恳谈会): sent by the office to every workstation, answered at the
workstation (at its spoke, offline if need be), summarised for the annual meeting."""
from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from common import policy
from common.errors import Conflict, InvalidField, NotFound
from common.i18n import N_
from common.meetings.models import Meeting, Survey, SurveyAnswer
from common.models import Node, Task
from common.notify.service import Audience, Notice, notify
from common.orm import utcnow
from common.policy import Principal
from common.service import audit_write

RATINGS = (1, 2, 3, 4, 5)
DEFAULT_QUESTIONS = (
    "对警企联服中心受理、处置企业诉求的总体满意度",
    "对案件办理进度与结果反馈的满意度",
    "对安全巡访、法制宣传工作的满意度",
    "对风险预警信息发布及时性、有用性的满意度",
    "对民警服务态度与工作作风的满意度",
)


def create_survey(session: Session, p: Principal, year: int, title: str = "",
                  questions: list[str] | None = None) -> Survey:
    """The year's questionnaire, sent at once: one answer row for every active workstation, told in its inbox."""
    policy.require_office(p)
    if not isinstance(year, int) or not 2000 <= year <= 2100:
        raise InvalidField("year", N_("Not one of the allowed values"))
    ensure_not_sent_twice(session, year)
    texts = [q.strip() for q in (questions or DEFAULT_QUESTIONS) if isinstance(q, str) and q.strip()]
    if not texts or len(texts) > 20 or any(len(q) > 200 for q in texts):
        raise InvalidField("questions", N_("At most {max} items"), max=20)
    survey = Survey(year=year, title=(title or f"{year}年度警企联服满意度问卷").strip()[:200], created_by=p.user_id,
                    questions=[{"key": f"q{n + 1}", "text": q, "kind": "rating"} for n, q in enumerate(texts)],
                    sent_at=utcnow())
    session.add(survey)
    session.flush()
    stations = session.scalars(select(Node.id).where(Node.kind == "workstation", Node.status == "active")
                               .order_by(Node.id)).all()
    for node in stations:
        session.add(SurveyAnswer(survey_id=survey.id, title=survey.title, questions=survey.questions, node_id=node))
    session.flush()
    audit_write(session, p, "survey.sent", "survey", survey.id, {"year": year, "nodes": list(stations)})
    if stations:
        notify(session, f"survey:{survey.id}:sent", Notice(kind="survey.sent", title=f"请填写：{survey.title}",
                                                          link=f"/surveys/{survey.id}"), Audience(nodes=tuple(stations)))
    return survey


def surveys(session: Session, p: Principal) -> list[dict[str, Any]]:
    """The questionnaires `p` sees: every one for the office, a node's own answer rows otherwise."""
    if p.is_office:
        return [{"id": str(s.id), "title": s.title, "year": s.year} for s in
                session.scalars(select(Survey).where(Survey.deleted_at.is_(None)).order_by(Survey.year.desc()))]
    return [{"id": str(a.survey_id), "title": a.title, "answered": a.answered_at is not None} for a in
            session.scalars(policy.scoped(SurveyAnswer, p).order_by(SurveyAnswer.created_at.desc()))]


def own_answer(session: Session, p: Principal, survey_id: uuid.UUID) -> SurveyAnswer:
    """The answer row of `p`'s own node to a questionnaire; another node's is never reached from here."""
    answer = session.scalars(policy.scoped(SurveyAnswer, p).where(SurveyAnswer.survey_id == survey_id,
                                                                  SurveyAnswer.node_id == p.node_id)).first()
    if answer is None:
        raise NotFound()
    return answer


def answer_survey(session: Session, p: Principal, survey_id: uuid.UUID, ratings: dict[str, Any],
                  comment: str = "") -> SurveyAnswer:
    """A workstation's answer (once more replaces the last), written through the ORM so a spoke's syncs back."""
    answer = own_answer(session, p, survey_id)
    policy.require_write(p, "survey_answer", "update", answer.node_id)
    keys = [q["key"] for q in answer.questions]
    clean: dict[str, int] = {}
    for key in keys:
        try:
            value = int(ratings.get(key))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise InvalidField(key, N_("This field is required")) from None
        if value not in RATINGS:
            raise InvalidField(key, N_("Not one of the allowed values"))
        clean[key] = value
    if len(comment or "") > 4000:
        raise InvalidField("comment", N_("At most {max} characters"), max=4000)
    answer.ratings = clean
    answer.comment = (comment or "").strip()
    answer.answered_at = utcnow()
    answer.answered_by = p.user_id
    audit_write(session, p, "survey.answered", "survey_answer", answer.id)
    return answer


def get_survey(session: Session, p: Principal, survey_id: uuid.UUID) -> Survey:
    policy.require_office(p)
    survey = session.get(Survey, survey_id)
    if survey is None or survey.deleted_at is not None:
        raise NotFound()
    return survey


def summary(session: Session, survey: Survey) -> dict[str, Any]:
    """Per question the count of each rating and the average; the comments; how many answered of how many."""
    answers = session.scalars(select(SurveyAnswer).where(SurveyAnswer.survey_id == survey.id,
                                                         SurveyAnswer.deleted_at.is_(None))
                              .order_by(SurveyAnswer.node_id)).all()
    done = [a for a in answers if a.answered_at is not None]
    names = dict(session.execute(select(Node.id, Node.name).where(Node.id.in_([a.node_id for a in answers]))).all())
    questions = []
    for q in survey.questions:
        values = [int(a.ratings[q["key"]]) for a in done if isinstance(a.ratings, dict) and q["key"] in a.ratings]
        questions.append({"key": q["key"], "text": q["text"], "counts": {str(r): values.count(r) for r in RATINGS},
                          "average": round(sum(values) / len(values), 2) if values else None})
    return {"survey_id": str(survey.id), "title": survey.title, "year": survey.year, "sent": len(answers),
            "answered": len(done), "questions": questions,
            "comments": [{"node": a.node_id, "name": names.get(a.node_id, a.node_id), "comment": a.comment}
                         for a in done if a.comment],
            "pending": [{"node": a.node_id, "name": names.get(a.node_id, a.node_id)} for a in answers
                        if a.answered_at is None]}


def year_survey(session: Session, year: int) -> Survey | None:
    return session.scalars(select(Survey).where(Survey.year == year, Survey.deleted_at.is_(None))
                           .order_by(Survey.created_at.desc())).first()


def year_resolutions(session: Session, year: int) -> list[dict[str, Any]]:
    """Every resolution of the year's meetings and the state of its task."""
    meetings = {m.id: m for m in session.scalars(select(Meeting).where(Meeting.period.like(f"{year}%"),
                                                                       Meeting.deleted_at.is_(None)))}
    if not meetings:
        return []
    tasks = session.scalars(select(Task).where(Task.source == "resolution", Task.meeting_id.in_(list(meetings)),
                                               Task.deleted_at.is_(None)).order_by(Task.due, Task.id)).all()
    return [{"task_id": str(t.id), "title": t.title, "status": t.status, "due": t.due.isoformat() if t.due else None,
             "meeting": meetings[t.meeting_id].title, "owner": t.owner_unit or t.owner_node or str(t.owner_user)}
            for t in tasks]


def ensure_not_sent_twice(session: Session, year: int) -> None:
    if year_survey(session, year) is not None:
        raise Conflict(N_("The questionnaire of {year} has been sent already."), year=year)
