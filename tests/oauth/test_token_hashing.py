"""The keyed-hash form of stored tokens, its keys, and sealed successors."""

import hashlib

import jwt
import pytest

from oauth.token_hashing import (
    PREFIX,
    candidate_checksums,
    candidate_forms,
    checksum,
    display_prefix,
    is_stored_form,
    rekey_sha256_digest,
    stored_claims,
    stored_form,
    unverified_claims,
)
from oauth.token_sealing import open_successor, seal_successor

REFRESH = "Yq3pF0d8sWk2Lr7TnV1bXc9ZaM4eGh"


@pytest.fixture
def keys(settings):
    settings.SECRET_KEY = "current-key-" + "x" * 40
    settings.SECRET_KEY_FALLBACKS = ["old-key-" + "y" * 40]
    return settings


def _jwt(**claims: object) -> str:
    return jwt.encode(claims, "s" * 32, algorithm="HS256")


def test_a_stored_form_is_prefixed_keyed_and_reveals_nothing(keys):
    form = stored_form(REFRESH)
    assert form.startswith(PREFIX)
    assert is_stored_form(form)
    assert REFRESH not in form
    assert hashlib.sha256(REFRESH.encode()).hexdigest() not in form
    assert form == stored_form(REFRESH)
    assert stored_form("another value") != form


def test_the_form_depends_on_the_secret_key(keys):
    before = stored_form(REFRESH)
    keys.SECRET_KEY = "another-key-" + "z" * 40
    assert stored_form(REFRESH) != before


def test_lookups_try_the_current_key_first_then_each_fallback(keys):
    current = stored_form(REFRESH)
    keys.SECRET_KEY, keys.SECRET_KEY_FALLBACKS = keys.SECRET_KEY_FALLBACKS[0], []
    old = stored_form(REFRESH)
    keys.SECRET_KEY_FALLBACKS = [keys.SECRET_KEY]
    keys.SECRET_KEY = "current-key-" + "x" * 40
    assert candidate_forms(REFRESH) == [current, old]
    assert candidate_checksums(REFRESH) == [checksum(current), checksum(old)]


def test_a_fallback_equal_to_the_key_adds_no_candidate(keys):
    keys.SECRET_KEY_FALLBACKS = [keys.SECRET_KEY]
    assert len(candidate_forms(REFRESH)) == 1


def test_a_stored_form_presented_as_a_token_matches_nothing(keys):
    form = stored_form(REFRESH)
    assert form not in candidate_forms(form)


def test_the_checksum_is_what_dots_checksum_field_computes(keys):
    form = stored_form(REFRESH)
    assert checksum(form) == hashlib.sha256(form.encode()).hexdigest()


def test_an_access_token_keeps_its_claims_but_not_its_signature(keys):
    token = _jwt(jti="j1", tenant_id="7", exp=2_000_000_000)
    form = stored_form(token)
    assert token not in form
    assert token.rsplit(".", 1)[1] not in form
    assert stored_claims(form) == {"jti": "j1", "tenant_id": "7", "exp": 2_000_000_000}
    assert unverified_claims(token) == stored_claims(form)


@pytest.mark.parametrize("value", ["", "not-a-jwt", "a.b", "a.b.c.d", "h1$abc"])
def test_values_without_claims_have_none(keys, value):
    assert stored_claims(value) is None
    assert stored_claims(stored_form(value or "x")) is None


def test_a_kept_sha256_digest_rekeys_to_the_stored_form(keys):
    digest = hashlib.sha256(REFRESH.encode()).hexdigest()
    assert rekey_sha256_digest(digest) == stored_form(REFRESH)


def test_the_admin_sees_a_prefix_of_the_digest_at_most(keys):
    form = stored_form(_jwt(jti="j1"))
    shown = display_prefix(form)
    assert shown == form[:11] + "…"
    assert display_prefix("a-clear-legacy-value") == "…"
    assert display_prefix("") == ""


def test_a_successor_opens_only_with_the_presented_token_and_context():
    # Values long enough that random base64 cannot contain them by chance
    # (a two-letter one did, now and then).
    access, refresh = "access-token-in-the-clear", "refresh-token-in-the-clear"
    sealed = seal_successor(
        presented=REFRESH, access_token=access, refresh_token=refresh, context="c1"
    )
    assert access not in sealed
    assert refresh not in sealed
    assert open_successor(presented=REFRESH, sealed=sealed, context="c1") == (
        access,
        refresh,
    )
    assert open_successor(presented=REFRESH + "x", sealed=sealed, context="c1") is None
    assert open_successor(presented=REFRESH, sealed=sealed, context="c2") is None
    tampered = sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB")
    assert open_successor(presented=REFRESH, sealed=tampered, context="c1") is None
    assert open_successor(presented=REFRESH, sealed="garbage", context="c1") is None


def test_each_seal_is_fresh():
    first, second = (
        seal_successor(
            presented=REFRESH, access_token="a", refresh_token="r", context="c"
        )
        for _ in range(2)
    )
    assert first != second
