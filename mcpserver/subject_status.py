"""Which users, tenants and clients may still use their tokens, per process.

The status of each subject this process has accepted a token for recently:
the user is active and still a member of the token's tenant, with a role
that still entitles every scope of the token (a demoted administrator's
`admin` token stops), the tenant is active, and the client (DOT
Application) still exists and is not disabled
(oauth.ClientProfile.is_disabled). A subject seen for the first time is
looked up once before its token is accepted; after that the revocation
poller (mcpserver/revocations.py) re-checks every live subject with each
poll, and forgets subjects idle for _SUBJECT_IDLE_SECONDS.
"""

import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from oauth2_provider.models import get_application_model

from tenants.entitlements import entitled_scopes
from tenants.models import Membership, Tenant

_SUBJECT_IDLE_SECONDS = 20 * 60.0
_CHUNK = 500

K = TypeVar("K")


@dataclass(frozen=True)
class SubjectKeys:
    """Subjects to look up: (user, tenant) memberships, tenants, clients."""

    members: frozenset[tuple[int, int]] = frozenset()
    tenants: frozenset[int] = frozenset()
    clients: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.members or self.tenants or self.clients)


@dataclass(frozen=True)
class SubjectStates:
    """The answer to a SubjectKeys lookup: which of them are active."""

    queried: SubjectKeys
    active_members: frozenset[tuple[int, int]]
    active_tenants: frozenset[int]
    existing_clients: frozenset[str]
    member_roles: Mapping[tuple[int, int], str] = field(default_factory=dict)


def _chunks(values: Iterable[K]) -> Iterator[list[K]]:
    batch: list[K] = []
    for value in values:
        batch.append(value)
        if len(batch) == _CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


def load_subject_states(keys: SubjectKeys, *, clients: bool = True) -> SubjectStates:
    """Look up which of `keys` are active (sync, DB; a few queries per 500 keys).

    With `clients` false (resource-server mode) every client counts as
    existing here, and no OAuth table is read: the issuer's feed names the
    disabled ones (mcpserver/revocation_feed.py).
    """
    roles: dict[tuple[int, int], str] = {}
    for batch in _chunks(keys.members):
        wanted = set(batch)
        rows = Membership.objects.filter(
            user_id__in={user for user, _ in batch},
            tenant_id__in={tenant for _, tenant in batch},
            user__is_active=True,
        ).values_list("user_id", "tenant_id", "role")
        roles.update(
            ((user, tenant), role)
            for user, tenant, role in rows
            if (user, tenant) in wanted
        )
    tenants: set[int] = set()
    for batch in _chunks(keys.tenants):
        tenants.update(
            Tenant.objects.filter(pk__in=batch, is_active=True).values_list(
                "pk", flat=True
            )
        )
    found_clients: set[str] = set() if clients else set(keys.clients)
    application_model = get_application_model()
    for batch in _chunks(keys.clients if clients else ()):
        found_clients.update(
            application_model.objects.filter(client_id__in=batch)
            .exclude(profile__is_disabled=True)
            .values_list("client_id", flat=True)
        )
    return SubjectStates(
        queried=keys,
        active_members=frozenset(roles),
        active_tenants=frozenset(tenants),
        existing_clients=frozenset(found_clients),
        member_roles=roles,
    )


class _StatusMap(Generic[K]):
    """Subject -> (active, last seen); idle subjects are forgotten."""

    def __init__(self) -> None:
        self._entries: dict[K, tuple[bool, float]] = {}

    def __contains__(self, key: K) -> bool:
        return key in self._entries

    def is_active(self, key: K) -> bool:
        entry = self._entries.get(key)
        return entry is not None and entry[0]

    def touch(self, key: K, now: float) -> None:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries[key] = (entry[0], now)

    def set(self, keys: Iterable[K], active: frozenset[K], now: float) -> None:
        for key in keys:
            last_seen = self._entries.get(key, (False, now))[1]
            self._entries[key] = (key in active, last_seen)

    def live_keys(self, now: float) -> frozenset[K]:
        self._entries = {
            key: entry
            for key, entry in self._entries.items()
            if now - entry[1] < _SUBJECT_IDLE_SECONDS
        }
        return frozenset(self._entries)


class SubjectTracker:
    """Active users (as members), tenants and clients this process accepted."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self._members: _StatusMap[tuple[int, int]] = _StatusMap()
        self._tenants: _StatusMap[int] = _StatusMap()
        self._clients: _StatusMap[str] = _StatusMap()
        self._roles: dict[tuple[int, int], str] = {}

    def missing(self, *, user_id: int, tenant_id: int, client_id: str) -> SubjectKeys:
        """The subjects of a token that have never been looked up."""
        member = (user_id, tenant_id)
        return SubjectKeys(
            members=frozenset() if member in self._members else frozenset({member}),
            tenants=frozenset()
            if tenant_id in self._tenants
            else frozenset({tenant_id}),
            clients=frozenset()
            if client_id in self._clients
            else frozenset({client_id}),
        )

    def refusal(self, *, user_id: int, tenant_id: int, client_id: str) -> str | None:
        """Why the subjects of a token are refused, or None; marks them seen."""
        now = time.monotonic()
        self._members.touch((user_id, tenant_id), now)
        self._tenants.touch(tenant_id, now)
        self._clients.touch(client_id, now)
        if not self._members.is_active((user_id, tenant_id)):
            return "user inactive or not a member of the tenant"
        if not self._tenants.is_active(tenant_id):
            return "tenant inactive"
        if not self._clients.is_active(client_id):
            return "client disabled"
        return None

    def exceeds_role(
        self, *, user_id: int, tenant_id: int, scopes: frozenset[str]
    ) -> bool:
        """Whether `scopes` hold one the member's current role does not entitle.

        Call after `refusal` answered None (the membership is known). Scopes
        are granted from the role at issuance and re-checked here on every
        call, so a role change reaches live tokens with the next poll.
        """
        role = self._roles.get((user_id, tenant_id), "")
        return not scopes <= entitled_scopes(role)

    def all_keys(self) -> SubjectKeys:
        now = time.monotonic()
        return SubjectKeys(
            members=self._members.live_keys(now),
            tenants=self._tenants.live_keys(now),
            clients=self._clients.live_keys(now),
        )

    def apply(self, states: SubjectStates) -> None:
        now = time.monotonic()
        self._members.set(states.queried.members, states.active_members, now)
        for member in states.queried.members:
            role = states.member_roles.get(member)
            if role is None:
                self._roles.pop(member, None)
            else:
                self._roles[member] = role
        self._tenants.set(states.queried.tenants, states.active_tenants, now)
        self._clients.set(states.queried.clients, states.existing_clients, now)
