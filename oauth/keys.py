"""Signing keys for access-token JWTs: creation, rotation, JWKS, signing.

A rotation publishes the new key at once but signs with it only after
OAUTH_SIGNING_KEY_PREPUBLISH_SECONDS, longer than any resource server may
cache the JWKS (its Cache-Control max-age), so no resource server meets a
token whose key it has not fetched; the previous key keeps signing until
then and stays published until its last token has expired.

Private keys are stored encrypted with a Fernet key derived from
DJANGO_SECRET_KEY (and tried against DJANGO_SECRET_KEY_FALLBACKS), so a
database dump alone cannot mint tokens. Loaded key objects are cached per
process: PyJWT would otherwise re-parse a PEM on every call.
"""

import base64
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import record_event
from oauth.models import SigningKey

JWT_TYPE = "at+jwt"  # RFC 9068
PUBLICATION_MARGIN = timedelta(minutes=5)
"""How long a retired key outlives its last token in the JWKS: resource
servers accept a token a little after `exp` (their clock leeway)."""


@dataclass(frozen=True)
class LoadedKey:
    kid: str
    algorithm: str
    private_key: Any


_private_cache: dict[str, LoadedKey] = {}


def _fernet() -> MultiFernet:
    secrets_ = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    keys = [
        Fernet(
            base64.urlsafe_b64encode(
                hashlib.sha256(f"oauth.signing-key:{secret}".encode()).digest()
            )
        )
        for secret in secrets_
    ]
    return MultiFernet(keys)


def _generate(algorithm: str) -> tuple[Any, dict[str, Any]]:
    if algorithm == SigningKey.Algorithm.ES256:
        private = ec.generate_private_key(ec.SECP256R1())
        jwk = jwt.algorithms.ECAlgorithm.to_jwk(private.public_key(), as_dict=True)
    else:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)
    return private, jwk


def max_token_lifetime() -> timedelta:
    """The longest an access token signed now can stay valid."""
    return timedelta(seconds=settings.OAUTH2_PROVIDER["ACCESS_TOKEN_EXPIRE_SECONDS"])


def prepublication_window() -> timedelta:
    """How long a rotated-in key is published before it signs."""
    return timedelta(seconds=settings.OAUTH_SIGNING_KEY_PREPUBLISH_SECONDS)


def published_until(key: SigningKey) -> datetime | None:
    """When `key` leaves the JWKS; None while no successor has replaced it."""
    if key.withdrawn_at is not None:
        return key.withdrawn_at
    if key.retired_at is None:
        return None
    return key.retired_at + max_token_lifetime() + PUBLICATION_MARGIN


def _new_key(
    algorithm: str, *, now: datetime, activates_at: datetime | None = None
) -> SigningKey:
    """An unsaved newest key: a fresh key pair, the private half encrypted."""
    private, jwk = _generate(algorithm)
    kid = secrets.token_urlsafe(12)
    jwk.update({"kid": kid, "alg": algorithm, "use": "sig"})
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return SigningKey(
        kid=kid,
        algorithm=algorithm,
        private_key_encrypted=_fernet().encrypt(pem).decode(),
        public_jwk=jwk,
        is_active=True,
        created_at=now,
        activates_at=now if activates_at is None else activates_at,
    )


def _signing_row(now: datetime) -> SigningKey | None:
    """The newest key whose activation time has come and that still signs."""
    return (
        SigningKey.objects.filter(activates_at__lte=now, withdrawn_at__isnull=True)
        .filter(Q(retired_at__isnull=True) | Q(retired_at__gt=now))
        .order_by("-activates_at", "-created_at")
        .first()
    )


@transaction.atomic
def create_signing_key(
    *,
    algorithm: str = SigningKey.Algorithm.RS256,
    activates_in: timedelta = timedelta(0),
    withdraw_previous: bool = False,
) -> SigningKey:
    """Create the newest key, published now and signing `activates_in` from now.

    The previous newest key signs until then (its `retired_at`) and stays
    in the JWKS until every token it signed has expired (`published_keys`).
    With nothing signing now (an empty table), the key signs at once.
    `withdraw_previous` (a compromised key): every earlier key leaves the
    JWKS now and the new key signs at once. Runs in (or joins) one
    transaction; the newest-key row is locked so two rotations cannot both
    win.
    """
    now = timezone.now()
    previous = list(SigningKey.objects.select_for_update().filter(is_active=True))
    activates_at = now + activates_in
    if withdraw_previous or _signing_row(now) is None:
        activates_at = now
    for key in previous:
        key.is_active = False
        key.retired_at = activates_at
        key.save(update_fields=["is_active", "retired_at"])
    if withdraw_previous:
        SigningKey.objects.filter(withdrawn_at__isnull=True).update(withdrawn_at=now)
        SigningKey.objects.filter(
            Q(retired_at__isnull=True) | Q(retired_at__gt=now)
        ).update(retired_at=now)
    key = _new_key(algorithm, now=now, activates_at=activates_at)
    key.save(force_insert=True)
    return key


def ensure_signing_key(*, using: str = DEFAULT_DB_ALIAS) -> SigningKey:
    """Return the active key, creating the first one if there is none.

    Called after every `migrate` (oauth/apps.py), so a server publishes its
    key before it mints a token, and on the mint path for a database that
    was emptied since. Exactly one key results however many processes call
    this at once, on SQLite and PostgreSQL alike: the partial unique
    constraint `oauth_signingkey_one_active` admits one active row, so a
    concurrent loser's INSERT fails (on PostgreSQL it first waits for the
    winner to commit), its savepoint rolls back, and it returns the
    winner's key. Joins the caller's transaction (in a savepoint) or runs
    in its own.
    """
    keys = SigningKey.objects.using(using)
    key = keys.filter(is_active=True).first()
    if key is not None:
        return key
    key = _new_key(SigningKey.Algorithm.RS256, now=timezone.now())
    try:
        with transaction.atomic(using=using):
            key.save(using=using, force_insert=True)
    except IntegrityError:
        return keys.get(is_active=True)
    return key


def rotate_signing_key(
    *,
    algorithm: str = SigningKey.Algorithm.RS256,
    activates_in: timedelta | None = None,
    immediately: bool = False,
) -> SigningKey:
    """Rotate without a gap, and audit it (`create_signing_key`).

    The new key signs after `activates_in` (default the pre-publication
    window) and earlier keys keep verifying their live tokens; or, with
    `immediately` (a compromised key), it signs now and every earlier key
    is withdrawn from the JWKS at once, so the tokens they signed stop
    verifying. Durable, with its `admin_action` audit row.
    """
    window = prepublication_window() if activates_in is None else activates_in
    with transaction.atomic(durable=True):
        key = create_signing_key(
            algorithm=algorithm, activates_in=window, withdraw_previous=immediately
        )
        how = "withdrawing every earlier key" if immediately else "pre-published"
        record_event(
            event=AuditEvent.Event.ADMIN_ACTION,
            reason=f"rotated the signing key to {key.kid} ({how}); signs from "
            f"{key.activates_at.isoformat()}",
        )
    return key


def _load(key: SigningKey) -> LoadedKey:
    cached = _private_cache.get(key.kid)
    if cached is None:
        try:
            pem = _fernet().decrypt(key.private_key_encrypted.encode())
        except InvalidToken as exc:
            raise RuntimeError(
                f"Signing key {key.kid} cannot be decrypted: was "
                "DJANGO_SECRET_KEY changed without keeping the old one in "
                "DJANGO_SECRET_KEY_FALLBACKS?"
            ) from exc
        private = serialization.load_pem_private_key(pem, password=None)
        cached = LoadedKey(kid=key.kid, algorithm=key.algorithm, private_key=private)
        _private_cache[key.kid] = cached
    return cached


def undecryptable_active_key(*, using: str = DEFAULT_DB_ALIAS) -> str | None:
    """The kid of a key of `using` that signs now or will, if it cannot open.

    Decrypts afresh (never the per-process cache), under DJANGO_SECRET_KEY
    and each of DJANGO_SECRET_KEY_FALLBACKS. None when there is no such key
    or each opens.
    """
    now = timezone.now()
    keys = SigningKey.objects.using(using).filter(withdrawn_at__isnull=True)
    for key in keys.filter(Q(retired_at__isnull=True) | Q(retired_at__gt=now)):
        try:
            _fernet().decrypt(key.private_key_encrypted.encode())
        except InvalidToken:
            return key.kid
    return None


def active_signing_key() -> LoadedKey:
    """The key that signs now, loaded: the newest whose activation has come.

    When none has (an emptied table; keys retired by hand), the newest key
    (`ensure_signing_key`, which creates one if there is none): it is
    published, so what it signs verifies.
    """
    return _load(_signing_row(timezone.now()) or ensure_signing_key())


def published_keys(*, now: datetime | None = None) -> list[SigningKey]:
    """The keys in the JWKS at `now` (default: now), newest first.

    Every key not withdrawn, from its creation (pre-published keys too)
    until its last token has expired (`published_until`).
    """
    at = timezone.now() if now is None else now
    keys = SigningKey.objects.filter(withdrawn_at__isnull=True)
    return [
        key
        for key in keys.order_by("-created_at")
        if (until := published_until(key)) is None or until > at
    ]


def jwks() -> dict[str, list[dict[str, Any]]]:
    """The JSON Web Key Set (RFC 7517) of every published public key."""
    return {"keys": [dict(key.public_jwk) for key in published_keys()]}


def sign_access_token(claims: dict[str, Any]) -> str:
    """Sign `claims` as an RFC 9068 access token with the active key."""
    key = active_signing_key()
    return jwt.encode(
        claims,
        key.private_key,
        algorithm=key.algorithm,
        headers={"kid": key.kid, "typ": JWT_TYPE},
    )
