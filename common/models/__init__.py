"""All entities, imported together so the metadata is complete for Alembic and the app."""
from common.models.audit import AuditEntry, AuditHead, WebSession
from common.models.base import Base, new_id, utcnow
from common.models.cases import Case, CaseEvent, CaseSequence, CaseUnit
from common.models.field import Attachment, Bulletin, BulletinAck, BulletinAudience, BulletinReminder, InfoReport, Visit
from common.models.identity import AuthorizationCode, OAuthClient, OAuthToken, SigningKey, UsedAssertion
from common.models.nodes import EnrollmentCode, Node, NodeApplication, Unit, User
from common.models.roster import Enterprise, Person
from common.models.security import LoginChallenge, LoginThrottle, UserTotp
from common.models.settings import Setting
from common.models.sync import SyncBatch, SyncConflict, SyncMark, SyncMove, SyncOutbox, SyncPeer, SyncState

__all__ = [
    "Attachment", "AuditEntry", "AuditHead", "AuthorizationCode", "Base", "Bulletin", "BulletinAck", "BulletinAudience", "BulletinReminder", "Case",
    "CaseEvent", "CaseSequence", "CaseUnit", "EnrollmentCode", "Enterprise", "InfoReport", "LoginChallenge", "LoginThrottle",
    "Node", "NodeApplication", "SyncBatch", "SyncConflict", "SyncMark", "SyncMove", "SyncOutbox", "SyncPeer", "SyncState", "OAuthClient", "OAuthToken", "Person", "Setting", "SigningKey", "Unit", "UsedAssertion", "User", "UserTotp",
    "Visit", "WebSession", "new_id", "utcnow",
]
