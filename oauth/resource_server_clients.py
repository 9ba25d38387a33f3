"""Who may call the endpoints meant for resource servers.

Introspection (RFC 7662) and the revocation feed answer only confidential
clients an operator marked `is_resource_server` (a registered resource
server's client, oauth/resource_servers.py): DOT would answer any
authenticated client, which with open registration means anyone.
"""

from http import HTTPStatus

from django.http import HttpRequest, HttpResponse
from oauth2_provider.models import Application
from oauth2_provider.oauth2_backends import get_oauthlib_core
from oauthlib.common import Request as OAuthlibRequest

from oauth.errors import oauth_error
from oauth.models import ClientProfile


def authenticate_resource_server(
    request: HttpRequest, *, realm: str, action: str
) -> Application | HttpResponse:
    """The resource server's client making `request`, or the refusal to send.

    Client credentials as the token endpoint takes them (HTTP Basic or the
    body). Failed authentication: 401 `invalid_client` with `WWW-Authenticate:
    Basic realm="<realm>"`; another client: 403 `unauthorized_client`
    ("Only resource servers may <action>.").
    """
    core = get_oauthlib_core()
    uri, http_method, body, headers = core._extract_params(request)
    oauthlib_request = OAuthlibRequest(uri, http_method, body, headers)
    if not core.server.request_validator.authenticate_client(oauthlib_request):
        response = oauth_error(
            "invalid_client", "Client authentication failed.", HTTPStatus.UNAUTHORIZED
        )
        response["WWW-Authenticate"] = f'Basic realm="{realm}"'
        return response
    client = oauthlib_request.client
    if not ClientProfile.objects.filter(
        application=client, is_resource_server=True
    ).exists():
        return oauth_error(
            "unauthorized_client",
            f"Only resource servers may {action}.",
            HTTPStatus.FORBIDDEN,
        )
    return client
