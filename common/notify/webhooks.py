"""A WeCom group robot's address (企业微信群机器人 webhook) as units and nodes keep it: checked when it is set, and
shown masked wherever it is shown at all — its key lets whoever holds it post to the group."""
from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from common.i18n import N_
from common.service import Problems

MAX_LENGTH = 500
MSG_NOT_A_URL = N_("A web address starting with https:// (or http:// on a closed network), e.g. "
                   "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…")


def clean_webhook_url(problems: Problems, data: dict[str, Any], name: str = "webhook_url") -> str | None:
    """The robot's address from `data[name]`: None to have none (empty or null), else an http(s) URL with a host."""
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        problems.add(name, MSG_NOT_A_URL)
        return None
    value = value.strip()
    if not value:
        return None
    try:
        parts = urlsplit(value)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:
        ok = False
    if not ok or len(value) > MAX_LENGTH or any(c.isspace() for c in value):
        problems.add(name, MSG_NOT_A_URL)
        return None
    return value


def mask_webhook(url: str | None) -> str:
    """Only the host and the last 4 characters of the key: qyapi.weixin.qq.com …c8d30 → "qyapi.weixin.qq.com ****8d30"."""
    if not url:
        return ""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        key = (parse_qs(parts.query).get("key") or [""])[0] or parts.path.rstrip("/").rsplit("/", 1)[-1]
    except ValueError:
        return "****"
    return f"{host} ****{key[-4:]}" if key else host


def masked_change(changed: dict[str, list[Any]], name: str = "webhook_url") -> dict[str, list[Any]]:
    """An audit entry's change list with the robot's address masked on both sides."""
    if name in changed:
        changed = {**changed, name: [mask_webhook(v) or None for v in changed[name]]}
    return changed
