"""The real client of a request behind reverse proxies: X-Forwarded-For is believed only from the proxies the
operator named (LIANFU_TRUSTED_PROXIES), so the login throttle and the audit trail count people, not the proxy."""
from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=16)
def parse_networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    """The trusted proxies as networks; an entry that is neither an address nor a CIDR is refused at start."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(f"LIANFU_TRUSTED_PROXIES: {entry!r} is not an address or a CIDR") from None
    return tuple(networks)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip().strip('"')
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1:text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address | None, networks: Iterable[Network]) -> bool:
    return address is not None and any(address in network for network in networks)


def client_address(peer: str, forwarded_for: list[str], networks: tuple[Network, ...]) -> str:
    """Who is asking: the peer itself unless it is a trusted proxy; then, walking X-Forwarded-For from the nearest hop
    back, the first address that is not a trusted proxy (a client can write whatever it likes in front of that)."""
    if not networks or not _trusted(_address(peer), networks):
        return peer
    hops = [hop for header in forwarded_for for hop in header.split(",") if hop.strip()]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            return peer  # a malformed hop: nothing before it can be believed
        if not _trusted(address, networks):
            return str(address)
    return str(_address(hops[0])) if hops else peer
