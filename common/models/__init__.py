"""All entities, imported together so the metadata is complete for Alembic and the app."""
from common.audit.models import AuditEntry, AuditHead
from common.identity.models import WebSession
from common.orm import Base, new_id, utcnow
from common.cases.models import Case, CaseEvent, CaseMonth, CaseSequence, CaseUnit, UnitCaseMonth, UnitMonth
from common.attachments.models import Attachment, HubBlob, HubBlobChunk
from common.bulletins.models import Bulletin, BulletinAck, BulletinAudience, BulletinReminder
from common.visits.models import InfoReport, LastVisit, Visit, VisitMonth
from common.identity.oauth_models import AuthorizationCode, OAuthClient, OAuthToken, SigningKey, UsedAssertion
from common.federation.models import EnrollmentCode, Node, NodeApplication, Unit
from common.identity.models import User
from common.roster.models import Enterprise, Person, RosterImport
from common.notify.models import Delivery, JobRun, Notification
from common.tasks.models import Task
from common.keypersons.models import KeyPerson, KeyPersonFollowUp
from common.meetings.models import Meeting, Survey, SurveyAnswer
from common.reports.models import Report
from common.identity.models import AccountSetup, LoginChallenge, LoginThrottle, UserTotp
from common.center.models import Setting
from common.ops.models import HubHost
from sync.models import SyncBatch, SyncConflict, SyncMark, SyncMove, SyncOutbox, SyncPeer, SyncState

__all__ = [
    "AccountSetup", "Attachment", "HubBlob", "HubBlobChunk", "Delivery", "JobRun", "Notification", "AuditEntry", "AuditHead", "AuthorizationCode", "Base", "Bulletin", "BulletinAck", "BulletinAudience", "BulletinReminder", "Case",
    "CaseEvent", "CaseMonth", "CaseSequence", "CaseUnit", "UnitCaseMonth", "UnitMonth", "EnrollmentCode", "Enterprise", "HubHost", "InfoReport", "KeyPerson", "KeyPersonFollowUp", "LastVisit", "LoginChallenge", "LoginThrottle",
    "Node", "NodeApplication", "SyncBatch", "SyncConflict", "SyncMark", "SyncMove", "SyncOutbox", "SyncPeer", "SyncState", "Task", "Meeting", "Survey", "SurveyAnswer", "OAuthClient", "OAuthToken", "Person", "Report", "RosterImport", "Setting", "SigningKey", "Unit", "UsedAssertion", "User", "UserTotp",
    "Visit", "VisitMonth", "WebSession", "new_id", "utcnow",
]
