"""How a resource server reads its issuer's documents (no network)."""

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from mcpserver.issuer import metadata_url
from mcpserver.jwks_cache import cache_seconds, key_rows


@pytest.mark.parametrize(
    ("issuer", "url"),
    [
        (
            "https://as.example",
            "https://as.example/.well-known/oauth-authorization-server",
        ),
        (
            "https://as.example/tenant/one",
            "https://as.example/.well-known/oauth-authorization-server/tenant/one",
        ),
        (
            "http://127.0.0.1:8000/",
            "http://127.0.0.1:8000/.well-known/oauth-authorization-server",
        ),
    ],
)
def test_rfc_8414_path_insertion(issuer: str, url: str) -> None:
    assert metadata_url(issuer) == url


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("public, max-age=60", 60),
        ("max-age=3600", 300),  # bounded
        (None, 300),  # no max-age: the bound
        ("no-cache", 300),
        ("max-age=0", 10),  # never refetched nonstop
    ],
)
def test_the_jwks_is_kept_for_its_max_age_within_bounds(
    header: str | None, seconds: float
) -> None:
    assert cache_seconds(header, floor=10, bound=300) == seconds


def _jwk(private, algorithm: str, **extra: str) -> dict:
    to_jwk = jwt.algorithms.get_default_algorithms()[algorithm].to_jwk
    return {**to_jwk(private.public_key(), as_dict=True), "alg": algorithm, **extra}


def test_only_signature_keys_with_a_declared_rs256_or_es256_alg_are_kept() -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    document = {
        "keys": [
            _jwk(rsa_key, "RS256", kid="rsa"),
            _jwk(ec_key, "ES256", kid="ec"),
            {**_jwk(rsa_key, "RS256", kid="no-alg"), "alg": None},
            _jwk(rsa_key, "RS256", kid="enc", use="enc"),
            {**_jwk(rsa_key, "RS256", kid="hs"), "alg": "HS256"},
            {**_jwk(rsa_key, "RS256", kid="mismatch"), "alg": "ES256"},
            "not a key",
        ]
    }
    assert [(kid, alg) for kid, alg, _ in key_rows(document)] == [
        ("rsa", "RS256"),
        ("ec", "ES256"),
    ]
