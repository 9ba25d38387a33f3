"""This process's copy of the revocation feed, and what it refuses.

Filled by the in-process poll of a combined server (mcpserver/revocations.py,
from the database) or, in resource-server mode, by the feed read over HTTP
from the issuer (mcpserver/remote_feed.py). Either way the same entries
refuse the same tokens: the rows come from oauth/revocation_selectors.py.
"""

import time

from oauth.models import Revocation
from oauth.revocation_selectors import FULL_RELOAD_SECONDS, RevocationRow


class RevocationFeed:
    """This process's copy of the unexpired revocation feed."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self._jtis: dict[str, float] = {}
        # (kind, subject, tenant or None) -> (cutoff, expiry); a tenant in
        # the key limits a user or client entry to that tenant's tokens.
        self._cutoffs: dict[tuple[str, str, int | None], tuple[float, float]] = {}
        self._max_id: int | None = None
        self._last_full = float("-inf")
        self.fresh_at: float | None = None
        # Refused outright (resource-server mode: the feed's `disabled`).
        self._disabled_users: frozenset[int] = frozenset()
        self._disabled_tenants: frozenset[int] = frozenset()
        self._disabled_clients: frozenset[str] = frozenset()

    def set_disabled(
        self,
        *,
        users: frozenset[int],
        tenants: frozenset[int],
        clients: frozenset[str],
    ) -> None:
        """Replace the users, tenants and clients refused whatever they carry."""
        self._disabled_users = users
        self._disabled_tenants = tenants
        self._disabled_clients = clients

    def age(self) -> float:
        """Seconds since the start of the last successful poll (inf if none)."""
        if self.fresh_at is None:
            return float("inf")
        return time.monotonic() - self.fresh_at

    def wants_full(self, now: float) -> bool:
        return self._max_id is None or now - self._last_full >= FULL_RELOAD_SECONDS

    @property
    def max_id(self) -> int | None:
        return self._max_id

    def apply(self, rows: list[RevocationRow], *, full: bool, started: float) -> None:
        """Merge polled entries (replacing everything on a full read)."""
        if full:
            self._jtis, self._cutoffs = {}, {}
            self._last_full = started
        max_id = self._max_id or 0
        for row in rows:
            max_id = max(max_id, row.id)
            if row.kind == Revocation.Kind.JTI:
                self._jtis[row.subject] = max(
                    self._jtis.get(row.subject, 0.0), row.expires_at
                )
            else:
                key = (row.kind, row.subject, row.tenant_id)
                cutoff, expires = self._cutoffs.get(key, (0.0, 0.0))
                self._cutoffs[key] = (
                    max(cutoff, row.created_at),
                    max(expires, row.expires_at),
                )
        self._max_id = max_id
        now = time.time()
        self._jtis = {jti: exp for jti, exp in self._jtis.items() if exp > now}
        self._cutoffs = {k: v for k, v in self._cutoffs.items() if v[1] > now}

    def refusal(
        self, *, jti: str, user_id: int, client_id: str, tenant_id: int, issued_at: int
    ) -> str | None:
        """Why the feed refuses this token, or None."""
        if jti in self._jtis:
            return "token revoked"
        if user_id in self._disabled_users:
            return "user inactive or not a member of the tenant"
        if tenant_id in self._disabled_tenants:
            return "tenant inactive"
        if client_id in self._disabled_clients:
            return "client disabled"
        for kind, subject, scope in (
            (Revocation.Kind.USER, str(user_id), None),
            (Revocation.Kind.USER, str(user_id), tenant_id),
            (Revocation.Kind.CLIENT, client_id, None),
            (Revocation.Kind.CLIENT, client_id, tenant_id),
            (Revocation.Kind.TENANT, str(tenant_id), None),
            (
                Revocation.Kind.GRANT,
                Revocation.grant_subject(user_id=user_id, client_id=client_id),
                None,
            ),
        ):
            entry = self._cutoffs.get((kind, subject, scope))
            if entry is not None and issued_at <= entry[0]:
                return f"{kind} revoked"
        return None
