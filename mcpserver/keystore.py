"""The per-process cache of the public keys that verify access tokens.

The keys come from our own database (oauth.keys.published_keys: the active
key and recently retired ones) or, in resource-server mode, from the
configured issuer's JWKS (mcpserver/jwks_cache.py), never from a URL a
token names. In the combined mode the background poller
(mcpserver/revocations.py) reloads them with every poll; a token with an
unknown `kid` (a rotation this process has not seen yet) triggers one
extra reload, at most once per second per process.
"""

import time
from dataclasses import dataclass
from typing import Any

import jwt

from mcpserver.aio import LoopLock
from mcpserver.db import run_db
from oauth.keys import published_keys

ALLOWED_ALGORITHMS = frozenset({"RS256", "ES256"})
UNKNOWN_KID_RELOAD_SECONDS = 1.0


@dataclass(frozen=True)
class VerificationKey:
    kid: str
    algorithm: str
    public_jwk: dict[str, Any]
    key: Any


KeyRow = tuple[str, str, dict[str, Any]]


def load_key_rows() -> list[KeyRow]:
    """Return (kid, algorithm, public JWK) of every published key (sync, DB)."""
    return [(key.kid, key.algorithm, dict(key.public_jwk)) for key in published_keys()]


class KeyStore:
    """The verification keys of this process, by `kid`."""

    def __init__(self) -> None:
        self._keys: dict[str, VerificationKey] = {}
        self._last_unknown_reload = float("-inf")
        self._reload_lock = LoopLock()

    def get(self, kid: str) -> VerificationKey | None:
        return self._keys.get(kid)

    def kids(self) -> frozenset[str]:
        return frozenset(self._keys)

    def replace(self, rows: list[KeyRow]) -> None:
        """Make `rows` the published keys; unchanged keys are not re-parsed.

        A key with an algorithm other than RS256/ES256 is ignored, so a token
        can never select a weaker algorithm through its key.
        """
        keys: dict[str, VerificationKey] = {}
        for kid, algorithm, jwk in rows:
            if algorithm not in ALLOWED_ALGORITHMS:
                continue
            current = self._keys.get(kid)
            if current is not None and (current.algorithm, current.public_jwk) == (
                algorithm,
                jwk,
            ):
                keys[kid] = current
                continue
            parsed = jwt.PyJWK(jwk, algorithm=algorithm).key
            keys[kid] = VerificationKey(kid, algorithm, jwk, parsed)
        self._keys = keys

    async def reload_for_unknown_kid(self, kid: str) -> bool:
        """Reload from the database if allowed; return whether `kid` is now known.

        Reloads at most once per UNKNOWN_KID_RELOAD_SECONDS; concurrent
        callers wait for the reload in progress instead of starting another.
        """
        async with self._reload_lock.get():
            if kid in self._keys:
                return True
            now = time.monotonic()
            if now - self._last_unknown_reload < UNKNOWN_KID_RELOAD_SECONDS:
                return False
            self._last_unknown_reload = now
            self.replace(await run_db(load_key_rows))
            return kid in self._keys

    def clear(self) -> None:
        self._keys = {}
        self._last_unknown_reload = float("-inf")


KEYS = KeyStore()
