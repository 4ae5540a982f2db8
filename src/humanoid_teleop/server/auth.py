"""The operator model: one secret token (stored only as a salted scrypt hash) and one lease.

- The token is created on the first start (``secrets.token_urlsafe``); ``serve`` prints it
  once. The data folder keeps ``operator_token.json`` = {algorithm, salt, hash, params}.
- Control calls need ``Authorization: Bearer <token>``: missing -> 401, wrong -> 403.
- One operator at a time holds the **lease** (``POST /api/v1/operator/lease``); a control
  call from another client while it is held gets 409 until it expires (every control call
  by the holder renews it). While nobody holds it, any token holder may act.
- E-stop needs nothing (the routes do not ask this module).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from humanoid_teleop.fileio import write_atomic
from humanoid_teleop.timing import now_s

TOKEN_FILE = "operator_token.json"
# scrypt at n=2^14, r=8: ~16 MiB and tens of ms per check, so a stolen hash is slow to
# brute-force; verified tokens are remembered (as a digest) so control calls stay cheap.
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}


class AuthError(Exception):
    """A control call was refused; ``status`` is the HTTP status the route answers."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _scrypt(token: str, salt: bytes, params: dict) -> bytes:
    return hashlib.scrypt(token.encode(), salt=salt, maxmem=64 * 1024 * 1024, **params)


class OperatorToken:
    """Checks bearer tokens against the stored hash."""

    def __init__(self, salt: bytes, digest: bytes, params: dict):
        self._salt, self._digest, self._params = salt, digest, params
        self._verified: set[bytes] = set()  # sha256 of tokens that passed scrypt once
        self._lock = threading.Lock()

    @classmethod
    def open(cls, data_dir: Path) -> tuple[OperatorToken, str | None]:
        """Load the token hash, creating a token on the first start.

        Returns (checker, the new plaintext token or None when one already existed). The
        plaintext is never written anywhere; show it to the operator once.
        """
        path = Path(data_dir) / TOKEN_FILE
        if path.is_file():
            try:
                doc = json.loads(path.read_text())
                params = {k: int(doc["params"][k]) for k in _SCRYPT}
                return cls(bytes.fromhex(doc["salt"]), bytes.fromhex(doc["hash"]), params), None
            except (KeyError, ValueError, TypeError) as exc:
                raise ValueError(
                    f"{path}: unreadable operator token file ({exc}); delete it to create a "
                    "new token on the next start"
                ) from exc
        token = secrets.token_urlsafe(24)
        salt = secrets.token_bytes(16)
        digest = _scrypt(token, salt, _SCRYPT)
        doc = {"algorithm": "scrypt", "salt": salt.hex(), "hash": digest.hex(), "params": _SCRYPT}
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(doc, indent=1).encode())
        path.chmod(0o600)
        return cls(salt, digest, dict(_SCRYPT)), token

    def check(self, authorization: str | None) -> None:
        """Raise AuthError(401) without a bearer token, AuthError(403) for a wrong one."""
        if not authorization:
            raise AuthError(401, "operator token required: send 'Authorization: Bearer <token>'")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise AuthError(401, "operator token required: send 'Authorization: Bearer <token>'")
        quick = hashlib.sha256(token.encode()).digest()
        with self._lock:
            if quick in self._verified:
                return
        if not hmac.compare_digest(_scrypt(token, self._salt, self._params), self._digest):
            raise AuthError(403, "wrong operator token")
        with self._lock:
            self._verified.add(quick)


@dataclass(frozen=True)
class Lease:
    lease_id: str
    expires_s: float


class LeaseManager:
    """At most one operator lease; thread-safe."""

    def __init__(self, lease_s: float, clock: Callable[[], float] = now_s):
        self.lease_s = lease_s
        self._clock = clock
        self._lease: Lease | None = None
        self._lock = threading.Lock()

    def _current(self) -> Lease | None:
        if self._lease is not None and self._clock() >= self._lease.expires_s:
            self._lease = None
        return self._lease

    def acquire(self, presented: str | None) -> Lease:
        """A new lease, or the presented one renewed; AuthError(409) while another is held."""
        with self._lock:
            held = self._current()
            if held is not None and held.lease_id != presented:
                raise AuthError(409, self._held_message(held))
            lease_id = held.lease_id if held is not None else secrets.token_urlsafe(12)
            self._lease = Lease(lease_id, self._clock() + self.lease_s)
            return self._lease

    def renew(self, presented: str | None) -> Lease:
        """Renew the presented lease; 409 if another is held, 404-like 409 if it expired."""
        with self._lock:
            held = self._current()
            if held is None or held.lease_id != presented:
                if held is None:
                    raise AuthError(409, "no operator lease held (it expired): acquire a new one")
                raise AuthError(409, self._held_message(held))
            self._lease = Lease(held.lease_id, self._clock() + self.lease_s)
            return self._lease

    def for_control(self, presented: str | None) -> Lease | None:
        """What a control call needs: while a lease is held, it must be the caller's (and is
        renewed); while none is held, any token holder may act (a presented, expired lease
        is granted again). Control calls never take a lease implicitly: a client that did
        not ask for one could not know it holds it, and would lock itself out."""
        with self._lock:
            held = self._current()
            if held is None and presented is None:
                return None
            if held is not None and held.lease_id != presented:
                raise AuthError(409, self._held_message(held))
            self._lease = Lease(presented, self._clock() + self.lease_s)
            return self._lease

    def release(self, presented: str | None) -> None:
        with self._lock:
            held = self._current()
            if held is not None and held.lease_id == presented:
                self._lease = None

    def _held_message(self, held: Lease) -> str:
        left = max(0.0, held.expires_s - self._clock())
        return f"another operator holds the lease (expires in {left:.0f} s unless renewed)"
