"""Reads of the authorization server's token rows, by the tenant they were for.

DOT's token rows carry no tenant. Two things record it: each access
token's JWT (`tenant_id` claim, oauth/tokens.py; its row keeps the claims
next to the token's keyed hash, oauth/token_hashing.py), and the consent's
AuthorizationRecord, whose `token_family` is the family of every refresh
token (and so every access token) the consent's code issued.

Also here: where a client's registered redirect sends the browser.
"""

from collections.abc import Iterable
from typing import Any

from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from oauth2_provider.models import (
    AccessToken,
    RefreshToken,
    get_application_model,
)

from oauth.models import AuthorizationRecord
from oauth.redirect_uris import redirect_origin
from oauth.token_hashing import stored_claims


def registered_redirect_origin(*, client_id: str, redirect_uri: str) -> str | None:
    """The origin `redirect_uri` sends the browser to, if `client_id` may use it.

    None for an unknown client or a URI not registered for it (loopback
    URIs match on any port, as at /authorize). An empty `redirect_uri`
    stands for the client's one registered URI, as it does at /authorize
    (None when it has several). One read.
    """
    if not client_id:
        return None
    application = get_application_model().objects.filter(client_id=client_id).first()
    if application is None:
        return None
    registered = application.redirect_uris.split()
    # DOT's default_redirect_uri raises unless exactly one is registered.
    uri = redirect_uri or (registered[0] if len(registered) == 1 else "")
    if not uri or not application.redirect_uri_allowed(uri):
        return None
    return redirect_origin(uri)


def tenant_token_families(*, tenant_ids: Iterable[int]) -> QuerySet[Any]:
    """The refresh-token families issued for consents to `tenant_ids`."""
    return AuthorizationRecord.objects.filter(
        tenant_id__in=list(tenant_ids), token_family__isnull=False
    ).values("token_family")


def tenant_applications(*, tenant_ids: Iterable[int]) -> QuerySet[Any]:
    """The clients (DOT Applications) holding token rows for `tenant_ids`.

    A client holds a tenant's tokens when a refresh token, or an access token
    issued with or from one, belongs to a family of that tenant's consents.
    Revoked rows count: they are the history an operator investigates.
    """
    families = tenant_token_families(tenant_ids=tenant_ids)
    refresh = RefreshToken.objects.filter(token_family__in=families)
    access = AccessToken.objects.filter(
        Q(refresh_token__token_family__in=families)
        | Q(source_refresh_token__token_family__in=families)
    )
    return get_application_model().objects.filter(
        Q(pk__in=refresh.values("application_id"))
        | Q(pk__in=access.values("application_id"))
    )


def tenant_access_tokens(
    *,
    tenant_id: int,
    user_id: int | None = None,
    client_id: str | None = None,
) -> list[AccessToken]:
    """The unexpired access-token rows whose JWT says `tenant_id`.

    Narrowed to one user and/or one client (by client_id) when given. The
    tenant is read from each token's own `tenant_id` claim, so a token is
    never attributed to a tenant it was not issued for.
    """
    rows = AccessToken.objects.filter(expires__gt=timezone.now())
    if user_id is not None:
        rows = rows.filter(user_id=user_id)
    if client_id is not None:
        rows = rows.filter(application__client_id=client_id)
    wanted = str(tenant_id)
    return [
        row
        for row in rows.only("id", "token")
        if (claims := stored_claims(row.token)) is not None
        and claims.get("tenant_id") == wanted
    ]


def authorized_applications(*, user_id: int) -> QuerySet[Any]:
    """The clients `user_id` has authorized and not revoked, by name.

    A client counts while it holds an unexpired access token or an
    unrevoked refresh token of the user (DOT's rows), whichever tenant it
    was for. Each row carries `live_access_tokens` (the user's unexpired
    access tokens of that client) and `last_issued` (when its newest token
    for the user was issued).
    """
    now = timezone.now()
    access = AccessToken.objects.filter(user_id=user_id, expires__gt=now)
    refresh = RefreshToken.objects.filter(user_id=user_id, revoked__isnull=True)
    per_client = {"application_id": OuterRef("pk")}

    def newest(rows: QuerySet[Any]) -> QuerySet[Any]:
        return rows.order_by("-created").values("created")[:1]

    return (
        get_application_model()
        .objects.filter(
            Q(pk__in=access.values("application_id"))
            | Q(pk__in=refresh.values("application_id"))
        )
        .annotate(
            live_access_tokens=Coalesce(
                Subquery(
                    access.filter(**per_client)
                    .values("application_id")
                    .annotate(count=Count("pk"))
                    .values("count")
                ),
                0,
            ),
            last_issued=Coalesce(
                Subquery(newest(refresh.filter(**per_client))),
                Subquery(newest(access.filter(**per_client))),
            ),
        )
        .order_by("name", "client_id")
    )
