"""DOT's token and code admins, showing at most a prefix of the stored hash.

Rows hold keyed hashes, never token values (oauth/token_hashing.py); DOT's
admins would show the last characters of that column. Here a row is named
by the first digits of its digest, enough to tell rows apart, and the
columns that hold the hash and its checksum stay off the forms.
"""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from oauth2_provider.admin import AccessTokenAdmin, GrantAdmin, RefreshTokenAdmin
from oauth2_provider.models import (
    get_access_token_model,
    get_grant_model,
    get_refresh_token_model,
)

from oauth.token_hashing import display_prefix

HIDDEN = ("token", "token_checksum", "code")


class _HidesStoredValues:
    """Keep the stored hash and its checksum off every form of the admin."""

    def get_exclude(self, request: HttpRequest, obj: Any = None) -> Any:
        model_fields = {field.name for field in self.model._meta.fields}
        hidden = tuple(name for name in HIDDEN if name in model_fields)
        return (*(super().get_exclude(request, obj) or ()), *hidden)


class HashedAccessTokenAdmin(_HidesStoredValues, AccessTokenAdmin):
    @admin.display(description="token")
    def masked_token(self, obj: Any) -> str:
        return display_prefix(obj.token) if obj is not None else ""


class HashedRefreshTokenAdmin(_HidesStoredValues, RefreshTokenAdmin):
    @admin.display(description="token")
    def masked_token(self, obj: Any) -> str:
        return display_prefix(obj.token) if obj is not None else ""


class HashedGrantAdmin(_HidesStoredValues, GrantAdmin):
    @admin.display(description="code")
    def masked_code(self, obj: Any) -> str:
        return display_prefix(obj.code) if obj is not None else ""


for model, model_admin in (
    (get_access_token_model(), HashedAccessTokenAdmin),
    (get_refresh_token_model(), HashedRefreshTokenAdmin),
    (get_grant_model(), HashedGrantAdmin),
):
    admin.site.unregister(model)
    admin.site.register(model, model_admin)
