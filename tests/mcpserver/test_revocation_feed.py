"""The revocation feed as each process holds it: what an entry refuses."""

import time

from mcpserver.revocations import RevocationFeed, RevocationRow
from oauth.models import Revocation


def _feed(*rows: RevocationRow) -> RevocationFeed:
    feed = RevocationFeed()
    feed.apply(list(rows), full=True, started=time.monotonic())
    return feed


def _entry(kind: str, subject: str, tenant_id: int | None = None) -> RevocationRow:
    now = time.time()
    return RevocationRow(
        id=1,
        kind=kind,
        subject=subject,
        created_at=now,
        expires_at=now + 600,
        tenant_id=tenant_id,
    )


def _refusal(feed: RevocationFeed, *, tenant_id: int, client_id: str = "c1"):
    return feed.refusal(
        jti="j1",
        user_id=7,
        client_id=client_id,
        tenant_id=tenant_id,
        issued_at=int(time.time()) - 5,
    )


def test_a_tenant_scoped_client_entry_refuses_that_tenants_tokens_only() -> None:
    feed = _feed(_entry(Revocation.Kind.CLIENT, "c1", tenant_id=1))
    assert _refusal(feed, tenant_id=1) == "client revoked"
    assert _refusal(feed, tenant_id=2) is None
    assert _refusal(feed, tenant_id=1, client_id="c2") is None


def test_a_tenant_scoped_user_entry_refuses_that_tenants_tokens_only() -> None:
    feed = _feed(_entry(Revocation.Kind.USER, "7", tenant_id=2))
    assert _refusal(feed, tenant_id=2) == "user revoked"
    assert _refusal(feed, tenant_id=1) is None


def test_an_unscoped_entry_refuses_every_tenant() -> None:
    feed = _feed(_entry(Revocation.Kind.CLIENT, "c1"))
    assert _refusal(feed, tenant_id=1) == "client revoked"
    assert _refusal(feed, tenant_id=2) == "client revoked"


def test_tokens_issued_after_the_entry_pass() -> None:
    feed = _feed(_entry(Revocation.Kind.CLIENT, "c1", tenant_id=1))
    later = feed.refusal(
        jti="j2",
        user_id=7,
        client_id="c1",
        tenant_id=1,
        issued_at=int(time.time()) + 5,
    )
    assert later is None


def test_a_grant_entry_refuses_one_user_at_one_client() -> None:
    subject = Revocation.grant_subject(user_id=7, client_id="c1")
    feed = _feed(_entry(Revocation.Kind.GRANT, subject))
    assert _refusal(feed, tenant_id=1) == "grant revoked"
    assert _refusal(feed, tenant_id=2) == "grant revoked"
    assert _refusal(feed, tenant_id=1, client_id="c2") is None
    other_user = feed.refusal(
        jti="j1", user_id=8, client_id="c1", tenant_id=1, issued_at=0
    )
    assert other_user is None
