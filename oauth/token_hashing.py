"""Tokens at rest: the keyed-hash form under which token values are stored.

Refresh tokens, authorization codes and access tokens are never stored.
What DOT's `token` and `code` columns (and AuthorizationRecord.code_hash)
hold instead is the value's *stored form*:

    h1$<HMAC-SHA256 hex of SHA-256(value)>            refresh tokens, codes
    h1$<HMAC-SHA256 hex of SHA-256(value)>$<payload>  access tokens (JWTs)

The HMAC key is derived from DJANGO_SECRET_KEY with a purpose salt
(`salted_hmac`), so a copy of the database neither reveals a token nor lets
anyone check a guess against it; lookups try DJANGO_SECRET_KEY_FALLBACKS
too, so rotating the secret key does not log every client out. The HMAC
runs over the value's SHA-256 digest, not the value, so that rows which
only ever held that digest (AuthorizationRecord.code_hash before hashing
at rest, see `rekey_sha256_digest`) can be migrated without the value.

An access token keeps its JWT payload (the claims, without the header and
the signature): the revocation feed needs its `jti`, the console its
`tenant_id`, and without the signature the claims are not a credential.

DOT's `token_checksum` column is, as always, the SHA-256 of what the
`token` column holds (DOT's TokenChecksumField recomputes it on every
save), so here it is `checksum(stored form)`.

The `h1` format never changes once written: a new format gets a new prefix.
"""

import base64
import binascii
import hashlib
import json
import re
from typing import Any

from django.conf import settings
from django.utils.crypto import salted_hmac

PREFIX = "h1$"
_SALT = "oauth.token_hashing.tokens-at-rest"
_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")
DISPLAY_DIGITS = 8
"""How many digest digits the admin shows: enough to tell rows apart."""


def _secret_keys() -> list[str]:
    """The current secret key first, then each fallback (no repeats)."""
    keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return list(dict.fromkeys(keys))


def _keyed(sha256_hex: str, secret: str) -> str:
    return salted_hmac(_SALT, sha256_hex, secret=secret, algorithm="sha256").hexdigest()


def _jwt_payload(value: str) -> str:
    """The payload segment of `value` if it is shaped like a JWT, else ""."""
    parts = value.split(".")
    if len(parts) != 3 or not all(_SEGMENT.fullmatch(part) for part in parts):
        return ""
    return parts[1]


def _form(value: str, secret: str) -> str:
    form = PREFIX + _keyed(hashlib.sha256(value.encode()).hexdigest(), secret)
    payload = _jwt_payload(value)
    return f"{form}${payload}" if payload else form


def stored_form(value: str) -> str:
    """The form under which `value` is stored now (the current secret key)."""
    return _form(value, settings.SECRET_KEY)


def candidate_forms(value: str) -> list[str]:
    """Every form `value` may have been stored under, current key first.

    One per key in DJANGO_SECRET_KEY and DJANGO_SECRET_KEY_FALLBACKS. The
    presented value is always hashed: a stored form presented as a token
    (say, read from a copy of the database) matches nothing.
    """
    return [_form(value, secret) for secret in _secret_keys()]


def checksum(form: str) -> str:
    """DOT's `token_checksum` of a row whose `token` column holds `form`."""
    return hashlib.sha256(form.encode()).hexdigest()


def candidate_checksums(value: str) -> list[str]:
    """The `token_checksum` values a row storing `value` may have."""
    return [checksum(form) for form in candidate_forms(value)]


def is_stored_form(value: str) -> bool:
    """True if `value` is a stored form (what a migrated or new row holds)."""
    return value.startswith(PREFIX)


def rekey_sha256_digest(sha256_hex: str) -> str:
    """The stored form of the value whose plain SHA-256 hex digest is given.

    For rows that kept only an unkeyed digest: the result equals
    `stored_form(value)` for any value without a JWT payload.
    """
    return PREFIX + _keyed(sha256_hex, settings.SECRET_KEY)


def stored_claims(form: str) -> dict[str, Any] | None:
    """The JWT claims kept in an access token's stored form, or None.

    They were signed by this server when the token was issued; the
    signature itself is not kept, so they are read, not verified.
    """
    if not is_stored_form(form):
        return None
    _digest, _, payload = form[len(PREFIX) :].partition("$")
    return _decoded(payload)


def unverified_claims(value: str) -> dict[str, Any] | None:
    """The claims of a JWT-shaped `value`, not verified, or None."""
    return _decoded(_jwt_payload(value))


def _decoded(payload: str) -> dict[str, Any] | None:
    if not payload:
        return None
    try:
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        claims = json.loads(raw)
    except (binascii.Error, ValueError):
        return None
    return claims if isinstance(claims, dict) else None


def display_prefix(form: str) -> str:
    """What the admin may show of a stored token: its digest's first digits."""
    if not is_stored_form(form):
        return "…" if form else ""
    return form[: len(PREFIX) + DISPLAY_DIGITS] + "…"
