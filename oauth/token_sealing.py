"""Successor tokens sealed for the refresh token they replaced.

A rotation's answer (the new access and refresh token) must be given again
to a client that retries the same refresh within the grace window (Claude
Code sessions race each other to refresh one token), but the values are
stored only as keyed hashes (oauth/token_hashing.py). So the answer is also
kept encrypted (AES-256-GCM) under a key derived (HKDF-SHA256) from the
refresh token that was presented: only a holder of that token can open it,
and a copy of the database, which holds no refresh token, opens nothing.

Sealed form: `s1$` + base64url(12-byte nonce + ciphertext and tag). The
associated data binds a sealed successor to the row it was written for.
"""

import base64
import binascii
import json
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PREFIX = "s1$"
_INFO = b"oauth.token_sealing refresh successor v1"
_NONCE_BYTES = 12


def _key(presented: str) -> AESGCM:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO)
    return AESGCM(derived.derive(presented.encode()))


def seal_successor(
    *, presented: str, access_token: str, refresh_token: str, context: str
) -> str:
    """Encrypt a rotation's tokens so that only `presented`'s holder can read them.

    `context` names what the sealed value belongs to (the presented refresh
    token's row); `open_successor` must be given the same.
    """
    nonce = os.urandom(_NONCE_BYTES)
    plain = json.dumps({"access_token": access_token, "refresh_token": refresh_token})
    sealed = _key(presented).encrypt(nonce, plain.encode(), context.encode())
    return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()


def open_successor(
    *, presented: str, sealed: str, context: str
) -> tuple[str, str] | None:
    """(access token, refresh token) sealed for `presented`, or None.

    None when the value is not a sealed successor, was sealed for another
    refresh token or context, or was altered.
    """
    if not sealed.startswith(PREFIX):
        return None
    try:
        blob = base64.urlsafe_b64decode(sealed[len(PREFIX) :])
        nonce, ciphertext = blob[:_NONCE_BYTES], blob[_NONCE_BYTES:]
        plain = _key(presented).decrypt(nonce, ciphertext, context.encode())
        values = json.loads(plain)
    except (binascii.Error, ValueError, InvalidTag):
        return None
    if not isinstance(values, dict):
        return None
    access, refresh = values.get("access_token"), values.get("refresh_token")
    if not isinstance(access, str) or not isinstance(refresh, str):
        return None
    return access, refresh
