"""A spoke's link to its hub: its enrolled identity, its key, the hub's published metadata and keys, its node token.

Everything the spoke learns from the hub (discovery, JWKS) is kept in the data dir, so a spoke that starts while
the hub is unreachable can still verify the hub's tokens and let its own people in offline.
"""
from __future__ import annotations

import json
import os
import secrets
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

CONFIG_FILE = "spoke.json"
KEY_FILE = Path("keys") / "client.jwk.json"
CACHE_DIR = "hub"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_ALG = "ES256"
# How long an unreachable hub is believed down before the next attempt (so each page does not wait on it).
DOWN_FOR = 15.0


class HubUnreachable(Exception):
    """The hub could not be reached (network, timeout, or it answered 5xx)."""


class HubRefused(Exception):
    """The hub answered, and said no; `status` and `body` are its answer."""

    def __init__(self, status: int, body: Any, headers: Any = None) -> None:
        detail = body.get("detail") or body.get("error_description") or body.get("error") if isinstance(body, dict) else body
        super().__init__(f"the hub refused ({status}): {detail}")
        self.status = status
        self.body = body
        self.headers = {k.lower(): v for k, v in dict(headers or {}).items()}


@dataclass(frozen=True)
class SpokeConfig:
    """What enrollment leaves in the data dir: which hub, which node, which client."""

    hub_url: str
    issuer: str
    node_id: str
    node_name: str
    client_id: str
    protocol: int = 1

    @classmethod
    def load(cls, data_dir: Path) -> "SpokeConfig | None":
        path = data_dir / CONFIG_FILE
        if not path.exists():
            return None
        raw = json.loads(path.read_text(encoding="utf-8"))
        return cls(**{k: raw[k] for k in cls.__dataclass_fields__ if k in raw})

    def save(self, data_dir: Path) -> None:
        write_private(data_dir / CONFIG_FILE, json.dumps(asdict(self), ensure_ascii=False, indent=2))


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read, atomically (a crash leaves the old file or the new, never half)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # A name of its own per write: two threads of one spoke (a login and the scheduled round) may refresh one file.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def new_client_key(data_dir: Path) -> dict[str, Any]:
    """Make the spoke's key pair in its data dir; only the public half ever leaves it."""
    key = ECKey.generate_key("P-256", parameters={"kid": secrets.token_urlsafe(12), "alg": ASSERTION_ALG, "use": "sig"},
                             private=True)
    write_private(data_dir / KEY_FILE, json.dumps(key.as_dict(private=True)))
    return {"keys": [key.as_dict(private=False)]}


class HubLink:
    """Blocking calls from a spoke to its hub (run them in a worker thread from async code)."""

    def __init__(self, data_dir: Path, config: SpokeConfig, timeout: float = 10.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.data_dir = data_dir
        self.config = config
        self.timeout = timeout
        self.transport = transport
        self._lock = threading.RLock()
        self._client: httpx.Client | None = None
        self._token: tuple[str, float] | None = None
        self._down_until = 0.0
        self._key: ECKey | None = None

    # --- plumbing -------------------------------------------------------------------------------------------------

    def http(self) -> httpx.Client:
        """One client for the link's life: its TLS context and kept-alive connection are made once, not per call."""
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(base_url=self.config.hub_url, timeout=self.timeout, transport=self.transport,
                                            headers={"User-Agent": f"lianfu-spoke/{self.config.node_id}"},
                                            follow_redirects=False)
            return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def believed_down(self) -> bool:
        return time.monotonic() < self._down_until

    def _request(self, method: str, path: str, timeout: float | None = None, **kwargs: Any) -> httpx.Response:
        try:
            response = self.http().request(method, path, timeout=timeout or self.timeout, **kwargs)
        except httpx.HTTPError as exc:
            self._down_until = time.monotonic() + DOWN_FOR
            raise HubUnreachable(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code >= 500 or response.status_code in (429, 503):
            self._down_until = time.monotonic() + DOWN_FOR
            raise HubUnreachable(f"the hub answered {response.status_code}")
        self._down_until = 0.0
        return response

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        try:
            body = response.json()
        except ValueError:
            body = response.text[:300]
        if response.status_code >= 400:
            raise HubRefused(response.status_code, body, response.headers)
        return body

    def _cached(self, name: str, fetch: Any, refresh: bool) -> Any:
        """The copy kept in the data dir, or (on `refresh`, or when there is none) a fresh one from the hub."""
        path = self.data_dir / CACHE_DIR / name
        if not refresh and path.exists():
            return json.loads(path.read_text(encoding="utf-8"))
        value = fetch()
        write_private(path, json.dumps(value))
        return value

    # --- what the hub publishes -----------------------------------------------------------------------------------

    def metadata(self, refresh: bool = False, timeout: float | None = None) -> dict[str, Any]:
        return self._cached("openid-configuration.json",
                            lambda: self._json(self._request("GET", "/.well-known/openid-configuration", timeout)),
                            refresh)

    def jwks(self, refresh: bool = False) -> KeySet:
        return KeySet.import_key_set(self._cached("jwks.json", lambda: self._json(self._request("GET", "/oauth/jwks")),
                                                  refresh))

    def key_for(self, kid: str) -> KeySet | None:
        """The hub's published key with this id; an unknown id fetches the set again (the hub may have rotated)."""
        keyset = self.jwks()
        if not any(k.kid == kid for k in keyset.keys) and not self.believed_down():
            try:
                keyset = self.jwks(refresh=True)
            except HubUnreachable:
                return None
        matching = [k for k in keyset.keys if k.kid == kid]
        return KeySet(matching) if matching else None

    # --- the node's own credentials -------------------------------------------------------------------------------

    def private_key(self) -> ECKey:
        if self._key is None:
            self._key = ECKey.import_key(json.loads((self.data_dir / KEY_FILE).read_text(encoding="utf-8")))
        return self._key

    def client_assertion(self) -> dict[str, str]:
        """RFC 7523 client authentication: a one-time signed statement that this node is asking."""
        now = int(time.time())
        key = self.private_key()
        claims = {"iss": self.config.client_id, "sub": self.config.client_id, "aud": self.config.issuer,
                  "iat": now, "exp": now + 60, "jti": secrets.token_urlsafe(16)}
        assertion = jwt.encode({"alg": ASSERTION_ALG, "kid": key.kid}, claims, key, algorithms=[ASSERTION_ALG])
        return {"client_id": self.config.client_id, "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": assertion}

    def node_token(self, timeout: float | None = None) -> str:
        """The node's access token (client credentials), reused until shortly before it expires."""
        with self._lock:
            if self._token and self._token[1] > time.monotonic() + 30:
                return self._token[0]
            body = self._json(self._request("POST", "/oauth/token", timeout,
                                            data={"grant_type": "client_credentials", "scope": "sync",
                                                  **self.client_assertion()}))
            self._token = (body["access_token"], time.monotonic() + float(body.get("expires_in", 300)))
            return self._token[0]

    def forget_token(self) -> None:
        with self._lock:
            self._token = None

    def call(self, method: str, path: str, timeout: float | None = None, raw: bool = False,
             want_response: bool = False, **kwargs: Any) -> Any:
        """A call to the hub's sync API as this node; a token the hub no longer takes is renewed once.

        The answer as JSON builtins, or with `raw` its bytes (for the caller to decode into its own structs).
        """
        extra_headers = kwargs.pop("headers", {})
        for attempt in (1, 2):
            headers = {**extra_headers, "Authorization": f"Bearer {self.node_token(timeout)}"}
            response = self._request(method, path, timeout, headers=headers, **kwargs)
            if response.status_code == 401 and attempt == 1:
                self.forget_token()
                continue
            if raw and response.status_code < 400:
                return response if want_response else response.content
            return self._json(response)
        raise AssertionError("unreachable")

    def introspect(self, token: str) -> dict[str, Any]:
        return self._json(self._request("POST", "/oauth/introspect", timeout=5,
                                        data={"token": token, "token_type_hint": "access_token",
                                              **self.client_assertion()}))
