"""DOT's validator, storing every token and code as a keyed hash.

`HashedTokenStorage` sits between DOT's OAuth2Validator and this server's
policy (oauth/validators.py). DOT writes token values through
`_set_token_value` and codes through `_create_authorization_code`; here
both store the value's keyed-hash form (oauth/token_hashing.py) instead.
DOT looks values up by `code=<value>` and by `token_checksum=SHA-256(value)`;
here each presented value is first translated into the form its row holds
(whose SHA-256 is that row's checksum), and DOT's own logic runs unchanged
on it: expiry, PKCE, the refresh grace window and reuse protection.

DOT's grace path answers a retried refresh with the successor's stored
values, which are hashes now (with DOT's own hashed storage it fails with
a 500). So every rotation also seals its answer for the presented refresh
token (oauth/token_sealing.py, the RefreshSuccessor row) and a retry opens
it with the token it presents.

Read against django-oauth-toolkit 3.4.1 (tests/oauth/test_token_storage.py
pins the version): `_set_token_value`, `_create_authorization_code`,
`_check_and_set_request_resource` and `_load_access_token` are private.
"""

import hashlib
from collections.abc import Callable
from typing import Any

from django.db.models import Model
from oauth2_provider.models import AccessToken, Grant, RefreshToken
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauthlib.common import Request
from oauthlib.oauth2.rfc6749 import errors

from oauth.models import RefreshSuccessor
from oauth.token_hashing import candidate_forms, checksum, stored_form
from oauth.token_sealing import open_successor, seal_successor

PRESENTED_KEY = "mcp_presented_refresh_token"
TOKEN_KEYS = ("access_token", "refresh_token")


def _resolved(value: str, present: Callable[[list[str]], str | None]) -> str:
    """The form `value` is stored under, or its current form if none matches.

    With no fallback key there is one candidate and no query is needed.
    """
    forms = candidate_forms(value)
    if len(forms) == 1:
        return forms[0]
    return present(forms) or forms[0]


def stored_token(model: type[Model], value: str) -> str:
    """What a `model` (AccessToken or RefreshToken) row storing `value` holds.

    Pass the result where DOT expects the token: its SHA-256 is the row's
    `token_checksum`. An unknown value yields a form no row holds.
    """

    def present(forms: list[str]) -> str | None:
        checksums = [checksum(form) for form in forms]
        rows = model.objects.filter(token_checksum__in=checksums)
        return rows.values_list("token", flat=True).first()

    return _resolved(value, present)


def stored_code(value: str) -> str:
    """What a Grant row for the authorization code `value` holds as `code`."""

    def present(forms: list[str]) -> str | None:
        rows = Grant.objects.filter(code__in=forms)
        return rows.values_list("code", flat=True).first()

    return _resolved(value, present)


def _any_stored_token(value: str) -> str:
    """The stored form of `value` as an access token, else as a refresh token."""
    access = stored_token(AccessToken, value)
    if AccessToken.objects.filter(token_checksum=checksum(access)).exists():
        return access
    return stored_token(RefreshToken, value)


class HashedTokenStorage(OAuth2Validator):
    """OAuth2Validator that keeps token values only as keyed hashes."""

    # --- writes -------------------------------------------------------------
    def _set_token_value(self, token_instance: Any, raw_token: str) -> None:
        # DOT's TokenChecksumField derives the checksum from the column.
        token_instance.token = stored_form(raw_token)
        token_instance._raw_token = None

    def _create_authorization_code(
        self, request: Request, code: dict[str, str], expires: Any = None
    ) -> Any:
        # A copy: oauthlib sends the client the value in `code`.
        hashed = {**code, "code": stored_form(code["code"])}
        return super()._create_authorization_code(request, hashed, expires)

    # --- authorization codes -----------------------------------------------
    def validate_code(
        self,
        client_id: str,
        code: str,
        client: Any,
        request: Request,
        *args: Any,
        **kwargs: Any,
    ) -> bool:
        return super().validate_code(
            client_id, stored_code(code), client, request, *args, **kwargs
        )

    def confirm_redirect_uri(
        self,
        client_id: str,
        code: str,
        redirect_uri: str,
        client: Any,
        *args: Any,
        **kwargs: Any,
    ) -> bool:
        return super().confirm_redirect_uri(
            client_id, stored_code(code), redirect_uri, client, *args, **kwargs
        )

    def get_code_challenge(self, code: str, request: Request) -> str | None:
        return super().get_code_challenge(stored_code(code), request)

    def get_code_challenge_method(self, code: str, request: Request) -> str | None:
        return super().get_code_challenge_method(stored_code(code), request)

    def get_authorization_code_scopes(
        self, client_id: str, code: str, redirect_uri: str, request: Request
    ) -> list[str]:
        return super().get_authorization_code_scopes(
            client_id, stored_code(code), redirect_uri, request
        )

    def get_authorization_code_nonce(
        self, client_id: str, code: str, redirect_uri: str, request: Request
    ) -> str | None:
        return super().get_authorization_code_nonce(
            client_id, stored_code(code), redirect_uri, request
        )

    def invalidate_authorization_code(
        self, client_id: str, code: str, request: Request, *args: Any, **kwargs: Any
    ) -> None:
        super().invalidate_authorization_code(
            client_id, stored_code(code), request, *args, **kwargs
        )

    def _check_and_set_request_resource(self, request: Request) -> None:
        if request.grant_type != "authorization_code" or not request.code:
            super()._check_and_set_request_resource(request)
            return
        # DOT reads the grant by `request.code` here, not by an argument.
        presented = request.code
        request.code = stored_code(presented)
        try:
            super()._check_and_set_request_resource(request)
        finally:
            request.code = presented

    # --- access and refresh tokens -----------------------------------------
    def _load_access_token(self, token: str) -> Any:
        return super()._load_access_token(stored_token(AccessToken, token))

    def validate_refresh_token(
        self,
        refresh_token: str,
        client: Any,
        request: Request,
        *args: Any,
        **kwargs: Any,
    ) -> bool:
        vars(request)[PRESENTED_KEY] = refresh_token
        stored = stored_token(RefreshToken, refresh_token)
        valid = super().validate_refresh_token(stored, client, request, *args, **kwargs)
        # DOT hands oauthlib the value it was given: it must be the client's.
        request.refresh_token = refresh_token
        return valid

    def revoke_token(
        self,
        token: str,
        token_type_hint: str | None,
        request: Request,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        super().revoke_token(
            _any_stored_token(token), token_type_hint, request, *args, **kwargs
        )

    def _save_bearer_token(
        self, token: dict[str, Any], request: Request, *args: Any, **kwargs: Any
    ) -> Any:
        issued = {key: token.get(key) for key in TOKEN_KEYS}
        consumed = vars(request).get("refresh_token_instance")
        presented = vars(request).get(PRESENTED_KEY)
        result = super()._save_bearer_token(token, request, *args, **kwargs)
        if (
            request.grant_type != "refresh_token"
            or not isinstance(consumed, RefreshToken)
            or not isinstance(presented, str)
            or not self.rotate_refresh_token(request)
        ):
            return result
        if token.get("access_token") == issued["access_token"]:
            _seal(consumed, presented, token)
        else:
            # DOT's grace path: it answered with the stored (hashed) values of
            # the successor it found; give the client the values instead.
            _reveal(consumed, presented, token, issued, request)
        return result


def _context(consumed: RefreshToken) -> str:
    return f"refresh-successor:{consumed.pk}"


def _seal(consumed: RefreshToken, presented: str, token: dict[str, Any]) -> None:
    """Keep this rotation's answer for a retry of `presented` (joins DOT's
    transaction, so the answer and its sealed copy commit together)."""
    if consumed.token_family is not None:
        # Earlier members' successors: their grace ended when this one was
        # issued (DOT refuses them now), so nothing may open them again.
        RefreshSuccessor.objects.filter(
            refresh_token__token_family=consumed.token_family
        ).exclude(refresh_token_id=consumed.pk).delete()
    RefreshSuccessor.objects.update_or_create(
        refresh_token_id=consumed.pk,
        defaults={
            "sealed": seal_successor(
                presented=presented,
                access_token=token["access_token"],
                refresh_token=token["refresh_token"],
                context=_context(consumed),
            )
        },
    )


def _reveal(
    consumed: RefreshToken,
    presented: str,
    token: dict[str, Any],
    issued: dict[str, Any],
    request: Request,
) -> None:
    """Replace the stored forms DOT put in `token` with the values they hash.

    The values come from the sealed successor (or, where DOT re-issued a
    refresh token for the successor, from this request's own new values)
    and must hash to exactly what DOT found; otherwise the retry is refused
    with invalid_grant, never answered with a hash.
    """
    row = RefreshSuccessor.objects.filter(refresh_token_id=consumed.pk).first()
    opened = (
        open_successor(
            presented=presented, sealed=row.sealed, context=_context(consumed)
        )
        if row is not None
        else None
    )
    sealed = dict(zip(TOKEN_KEYS, opened, strict=True)) if opened else {}
    for key in TOKEN_KEYS:
        choices = [value for value in (sealed.get(key), issued[key]) if value]
        value = next(
            (value for value in choices if token.get(key) in candidate_forms(value)),
            None,
        )
        if value is None:
            raise errors.InvalidGrantError(
                description="The refresh token was already used.", request=request
            )
        token[key] = value


def hash_registration_token(value: str) -> None:
    """Replace the clear registration access token DOT just stored by its hash.

    DOT's RFC 7591/7592 views store the tokens they issue themselves, in the
    clear; call this in the transaction that issued `value`, so that the
    clear value is never committed.
    """
    plain = AccessToken.objects.filter(
        token_checksum=hashlib.sha256(value.encode()).hexdigest(), token=value
    )
    form = stored_form(value)
    plain.update(token=form, token_checksum=checksum(form))
