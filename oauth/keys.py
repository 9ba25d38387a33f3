"""Signing keys for access-token JWTs: creation, rotation, JWKS, signing.

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
from django.utils import timezone

from oauth.models import SigningKey

JWT_TYPE = "at+jwt"  # RFC 9068


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


def _new_key(algorithm: str, *, now: datetime) -> SigningKey:
    """An unsaved active key: a fresh key pair, the private half encrypted."""
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
    )


@transaction.atomic
def create_signing_key(*, algorithm: str = SigningKey.Algorithm.RS256) -> SigningKey:
    """Create a key and make it the active one; the previous active key retires.

    The retired key stays in the JWKS until every token it signed has
    expired (`published_keys`). Runs in (or joins) one transaction; the
    active-key row is locked so two rotations cannot both win.
    """
    now = timezone.now()
    previous = list(SigningKey.objects.select_for_update().filter(is_active=True))
    for key in previous:
        key.is_active = False
        key.retired_at = now
        key.save(update_fields=["is_active", "retired_at"])
    key = _new_key(algorithm, now=now)
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


def rotate_signing_key(*, algorithm: str = SigningKey.Algorithm.RS256) -> SigningKey:
    """Add a new active key; earlier keys keep verifying their live tokens."""
    with transaction.atomic(durable=True):
        return create_signing_key(algorithm=algorithm)


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
    """The kid of `using`'s active key if this server's secrets cannot open it.

    Decrypts afresh (never the per-process cache), under DJANGO_SECRET_KEY
    and each of DJANGO_SECRET_KEY_FALLBACKS. None when there is no active
    key or it opens.
    """
    key = SigningKey.objects.using(using).filter(is_active=True).first()
    if key is None:
        return None
    try:
        _fernet().decrypt(key.private_key_encrypted.encode())
    except InvalidToken:
        return key.kid
    return None


def active_signing_key() -> LoadedKey:
    """Return the active key, loaded for signing (`ensure_signing_key`)."""
    return _load(ensure_signing_key())


def published_keys() -> list[SigningKey]:
    """Keys whose tokens may still be live: the active one and recent retirees."""
    horizon = timezone.now() - max_token_lifetime() - timedelta(minutes=5)
    return [
        key
        for key in SigningKey.objects.order_by("-created_at")
        if key.is_active or (key.retired_at is not None and key.retired_at > horizon)
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
