"""Files attached to visits, cases, enterprises and applications: the row syncs at once, the bytes when needed."""
from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from common.attachments import filetypes
from common import policy, rules
from common.attachments.blobs import Blobs
from common.errors import Forbidden, InvalidField
from common.i18n import N_
from common.models import Attachment
from common.policy import Principal
from common.service import audit_write

MB = 1024 * 1024
NOT_ACCEPTED = N_("“{name}” is not a kind of file accepted here: attach a picture (PNG, JPEG, GIF or WebP), a PDF, an "
                  "Office document, plain text or a ZIP archive.")
TOO_LARGE = N_("“{name}” is larger than {size} MB: each file may be at most {size} MB.")
# What a file may be attached to: the write rules' table, one for every door.
OWNERS = rules.ATTACHMENT_OWNERS
# A liaison works on cases of other nodes' subtrees: they attach to the cases their unit handles (and may see).
LIAISON_OWNERS = frozenset({"case", "case_event"})


def add_attachment(session: Session, p: Principal, store: Blobs, entity_type: str, entity_id: uuid.UUID,
                   filename: str, content_type: str, data: bytes) -> Attachment:
    """Attach a file to a row the person may see and belongs to their subtree (the office: any).

    The file must be of a kind `filetypes.sniff` accepts; `content_type`, what the sender's browser claimed, is
    not used for anything.
    """
    model = OWNERS.get(entity_type)
    if model is None:
        raise InvalidField("entity_type", N_("Not one of the allowed values"))
    owner = policy.get_visible(session, model, entity_id, p)
    liaison_case = p.role == "liaison" and entity_type in LIAISON_OWNERS
    if not p.is_office and not liaison_case and owner.node_id not in p.subtree:
        raise Forbidden(N_("This belongs to a node outside your scope."))
    if not data:
        raise InvalidField("file", N_("The file is empty."))
    name = (filename or "file")[:255]
    check_upload(store, name, data)
    kind = filetypes.sniff(data)
    if kind is None:
        raise InvalidField("file", NOT_ACCEPTED, name=name)
    sha = store.put(data)
    # The type is what the bytes are, never what the sender's browser said (`content_type` is not trusted).
    attachment = Attachment(node_id=owner.node_id, sha256=sha, size=len(data), content_type=kind.media_type,
                            filename=name, entity_type=entity_type, entity_id=owner.id)
    session.add(attachment)
    session.flush()
    audit_write(session, p, "create", "attachment", attachment.id, {"entity": entity_type, "size": len(data),
                                                                    "sha256": sha})
    return attachment


def check_upload(store: Blobs, name: str, data: bytes, field: str = "file") -> None:
    """One file within the node's upload limit, or refused naming the limit."""
    limit = store.max_upload_bytes
    if limit is not None and len(data) > limit:
        raise InvalidField(field, TOO_LARGE, name=name, size=limit // MB)
