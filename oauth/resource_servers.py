"""The resource-server registry: the resources tokens may be issued for.

An operator registers a resource server (`manage.py register_resource_server`
or the admin); that records its canonical resource URL and creates the
confidential client it authenticates with (an Application with the
client-credentials grant and a hashed secret, its profile marked
`is_resource_server`). The secret is returned once, to be shown once:
only its hash is stored (DOT's `ClientSecretField`).
"""

import ipaddress
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.db import transaction
from oauth2_provider.generators import generate_client_secret
from oauth2_provider.models import get_application_model

from audit.models import AuditEvent
from audit.services import record_event
from oauth.models import ClientProfile, ResourceServer

_DEFAULT_PORTS = {"https": 443, "http": 80}


class InvalidResource(ValueError):
    """A resource URL that cannot be registered; the message says why."""


class RegistrationRefused(ValueError):
    """A registration or secret rotation that cannot be done; says why."""


@dataclass(frozen=True)
class Registration:
    """A registered resource server and its client's secret, in the clear once."""

    resource_server: ResourceServer
    client_id: str
    client_secret: str


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def canonical_resource_url(url: str) -> str:
    """The canonical form of resource URL `url`, or InvalidResource.

    https (or http on a loopback host), with a host, no user info, query or
    fragment; scheme and host lower-case, a default port dropped, a trailing
    slash on the path dropped (MCP's canonical server URI).
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise InvalidResource(f"not a URL: {url!r}") from exc
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if not host:
        raise InvalidResource(f"no host in {url!r}")
    if scheme != "https" and not (scheme == "http" and _is_loopback(host)):
        raise InvalidResource("the scheme must be https (http only on loopback)")
    if parts.username is not None or parts.password is not None:
        raise InvalidResource("a resource URL carries no user info")
    if parts.query or "?" in url:
        raise InvalidResource("a resource URL has no query")
    if parts.fragment or "#" in url:
        raise InvalidResource("a resource URL has no fragment")
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc = f"{netloc}:{port}"
    return urlunsplit((scheme, netloc, parts.path.rstrip("/"), "", ""))


def enabled_resource(url: str) -> str | None:
    """The registered, enabled resource `url` names (canonically), if any."""
    try:
        canonical = canonical_resource_url(url)
    except InvalidResource:
        return None
    exists = ResourceServer.objects.filter(resource=canonical, enabled=True).exists()
    return canonical if exists else None


def _new_client(*, name: str) -> tuple[Any, str]:
    secret = generate_client_secret()
    Application = get_application_model()
    application = Application(
        name=name,
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
        client_secret=secret,
        hash_client_secret=True,
        redirect_uris="",
    )
    application.save()
    ClientProfile.objects.create(
        application=application,
        registration=ClientProfile.Registration.ADMIN,
        is_resource_server=True,
    )
    return application, secret


@transaction.atomic
def register_resource_server(
    *,
    resource: str,
    name: str = "",
    actor_id: int | None = None,
    rotate_secret: bool = False,
) -> Registration:
    """Register `resource` (or give its client a new secret) and audit it.

    Canonicalises `resource` (InvalidResource if it cannot be one, or is
    this server's own /mcp, for which tokens are always issued). A new
    resource gets a row and a new confidential client. A registered one
    raises RegistrationRefused, unless `rotate_secret`: then its client
    gets a new secret (the old one stops working) and nothing else changes;
    `rotate_secret` for an unregistered resource raises RegistrationRefused.
    Runs in (or joins) one transaction with its `admin_action` audit row.
    """
    canonical = canonical_resource_url(resource)
    if canonical == canonical_resource_url(settings.MCP_RESOURCE_URL):
        raise InvalidResource(f"{canonical} is this server's own /mcp")
    existing = (
        ResourceServer.objects.select_for_update()
        .select_related("application")
        .filter(resource=canonical)
        .first()
    )
    if existing is not None and not rotate_secret:
        raise RegistrationRefused(
            f"{canonical} is already registered (client "
            f"{existing.application.client_id}); pass --rotate-secret to "
            "issue its client a new secret."
        )
    if existing is not None:
        secret = generate_client_secret()
        application = existing.application
        application.client_secret = secret
        application.hash_client_secret = True
        application.save(update_fields=["client_secret", "hash_client_secret"])
        server, action = existing, "rotated the client secret of"
    elif rotate_secret:
        raise RegistrationRefused(f"{canonical} is not registered: nothing to rotate.")
    else:
        label = name or canonical
        application, secret = _new_client(name=f"Resource server {label}"[:255])
        server = ResourceServer.objects.create(
            resource=canonical, name=name, application=application
        )
        action = "registered resource server"
    record_event(
        event=AuditEvent.Event.ADMIN_ACTION,
        user_id=actor_id,
        client_id=application.client_id,
        reason=f"{action} {canonical}",
    )
    return Registration(
        resource_server=server,
        client_id=application.client_id,
        client_secret=secret,
    )
