from http import HTTPStatus

import pytest
from django.conf import settings
from django.test import Client

pytestmark = pytest.mark.django_db


def _no_nulls(value) -> bool:
    if isinstance(value, dict):
        return all(v is not None and _no_nulls(v) for v in value.values())
    if isinstance(value, list):
        return all(v is not None and _no_nulls(v) for v in value)
    return True


def test_authorization_server_metadata_is_complete_and_absolute():
    response = Client().get("/.well-known/oauth-authorization-server")
    assert response.status_code == HTTPStatus.OK
    data = response.json()
    base = settings.PUBLIC_URL
    assert data["issuer"] == base
    assert data["authorization_endpoint"] == f"{base}/authorize"
    assert data["token_endpoint"] == f"{base}/token"
    assert data["revocation_endpoint"] == f"{base}/revoke"
    assert data["introspection_endpoint"] == f"{base}/introspect"
    assert data["registration_endpoint"] == f"{base}/register"
    assert data["jwks_uri"] == f"{base}/.well-known/jwks.json"
    assert data["code_challenge_methods_supported"] == ["S256"]
    assert data["response_types_supported"] == ["code"]
    assert data["grant_types_supported"] == ["authorization_code", "refresh_token"]
    assert set(data["token_endpoint_auth_methods_supported"]) == {
        "none",
        "client_secret_basic",
        "client_secret_post",
    }
    assert set(data["scopes_supported"]) == {"tools:call", "admin"}
    assert data["authorization_response_iss_parameter_supported"] is True
    assert _no_nulls(data)


@pytest.mark.parametrize(
    "path",
    [
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
    ],
)
def test_protected_resource_metadata_names_the_mcp_resource(path):
    response = Client().get(path, HTTP_HOST="127.0.0.1:8000")
    assert response.status_code == HTTPStatus.OK
    data = response.json()
    assert data["resource"] == f"{settings.PUBLIC_URL}/mcp"
    assert data["authorization_servers"] == [settings.PUBLIC_URL]
    assert "tools:call" in data["scopes_supported"]
    assert _no_nulls(data)


def test_protected_resource_metadata_for_an_unknown_path_is_404():
    response = Client().get("/.well-known/oauth-protected-resource/other")
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.json()["error"] == "not_found"


def test_jwks_publishes_the_active_signing_key():
    from oauth.keys import active_signing_key

    kid = active_signing_key().kid
    keys = Client().get("/.well-known/jwks.json").json()["keys"]
    assert [key["kid"] for key in keys] == [kid]
    assert keys[0]["alg"] == "RS256"
    assert keys[0]["use"] == "sig"
    assert "d" not in keys[0]  # never the private part


def test_client_id_metadata_documents_can_be_switched_off(settings):
    """OAUTH_CIMD_ENABLED=false: not advertised, so clients register instead."""
    assert (
        Client()
        .get("/.well-known/oauth-authorization-server")
        .json()["client_id_metadata_document_supported"]
        is True
    )
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "CIMD_ENABLED": False}
    data = Client().get("/.well-known/oauth-authorization-server").json()
    assert "client_id_metadata_document_supported" not in data
    assert data["registration_endpoint"].endswith("/register")
