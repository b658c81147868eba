"""OAuth scopes of the API: which scope each path and method needs, for the hub and the spokes alike."""
from __future__ import annotations

from common.i18n import N_

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# API areas each have a read and a write scope; people belong to the roster area of enterprises.
API_AREAS = ("enterprises", "cases", "visits", "bulletins", "applications", "nodes", "audit", "users", "notifications")
# The police units are the federation's reference data, in the area of the nodes.
AREA_OF_PATH = {"enterprises": "enterprises", "people": "enterprises", "cases": "cases", "visits": "visits",
                "bulletins": "bulletins", "applications": "applications", "nodes": "nodes", "units": "nodes",
                "audit": "audit", "users": "users", "notifications": "notifications"}
SCOPES: dict[str, str] = {
    "openid": N_("Confirm who you are"),
    "profile": N_("Your name, role, node and unit"),
    "sync": N_("Synchronise a node's data with the hub"),
    **{f"{area}:{mode}": text for area in API_AREAS
       for mode, text in (("read", N_("Read {area}")), ("write", N_("Change {area}")))},
}
AREA_NAMES = {
    "enterprises": N_("enterprises and their people"), "cases": N_("cases"), "visits": N_("visits"),
    "bulletins": N_("bulletins"), "applications": N_("applications"), "nodes": N_("nodes"),
    "audit": N_("the audit trail"), "users": N_("accounts"), "notifications": N_("your notifications"),
}
DEFAULT_PERSON_SCOPE = "openid profile " + " ".join(f"{a}:{m}" for a in API_AREAS for m in ("read", "write"))
DEFAULT_NODE_SCOPE = "sync " + " ".join(f"{a}:read" for a in API_AREAS)
# What a spoke's own client may ask for: people's logins through the hub, and its node's sync.
SPOKE_CLIENT_SCOPE = "openid profile sync"


def needed_scope(path: str, method: str) -> str:
    """The scope an API call needs: `/api/v1/cases` with POST needs `cases:write`; the sync API needs `sync`."""
    parts = path.split("/")  # "", "api", "v1", area, ...
    area = parts[3] if len(parts) > 3 else ""
    if area == "sync":
        return "sync"
    return f"{AREA_OF_PATH.get(area, area or 'api')}:{'read' if method in SAFE_METHODS else 'write'}"
