"""The OAuth2Validator subclass: what django-oauth-toolkit does not do itself.

- tenants: the consent's tenant rides on the authorization code and, for
  refreshes, on the token family (oauth.models.AuthorizationRecord); the
  client never supplies it;
- scopes: granted = requested ∩ what the membership entitles, re-checked at
  every token issuance, so a demoted user's refresh loses `admin`;
- the RFC 8707 allow-list (this server's /mcp and the registered resource
  servers, one per token: its `aud`);
- single-use codes that revoke what they issued when replayed (even when
  the replay races the first redemption), and refresh replays and RFC 7009
  revocations that push the family's JWTs onto the revocation feed (every
  jti a consent issued is kept until it expires, oauth.models.
  IssuedAccessToken);
- expiry of never-used dynamic registrations;
- audit rows for every token event, in the token's transaction;
- token values kept only as keyed hashes (oauth/token_storage.py, the base).

What a validated grant may issue travels to the token generator on the
request (oauth/token_context.py).
"""

from datetime import UTC, datetime
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from oauth2_provider.models import AccessToken, RefreshToken
from oauthlib.common import Request
from oauthlib.oauth2.rfc6749 import errors

from audit.models import AuditEvent
from audit.services import record_event
from oauth import services, token_hashing
from oauth.models import AuthorizationRecord, ClientProfile
from oauth.resources import allowed_resources, invalid_target
from oauth.token_context import CONTEXT_KEY, MINTED_KEY, context_for, token_context
from oauth.token_storage import HashedTokenStorage


class MCPOAuth2Validator(HashedTokenStorage):
    """This server's policy; `super()` stores and finds the values hashed."""

    # --- clients ---------------------------------------------------------
    def _load_application(self, client_id: str, request: Request) -> Any:
        client = super()._load_application(client_id, request)
        if client is None:
            return None
        profile = ClientProfile.objects.filter(application=client).first()
        if profile is not None and profile.refuses_use(timezone.now()):
            request.client = None
            return None
        return client

    # --- authorization codes ---------------------------------------------
    def _create_authorization_code(
        self, request: Request, code: dict[str, str], expires: Any = None
    ) -> Any:
        resources = allowed_resources(list(getattr(request, "resource", None) or []))
        if resources is None:
            raise invalid_target(request)
        request.resource = resources
        claims = request.claims if isinstance(request.claims, dict) else {}
        tenant_id = claims.get("tenant_id")
        if not isinstance(tenant_id, int):
            raise errors.AccessDeniedError(request=request)
        grant = super()._create_authorization_code(request, code, expires)
        AuthorizationRecord.objects.create(
            code_hash=token_hashing.stored_form(code["code"]),
            application=request.client,
            user=request.user,
            tenant_id=tenant_id,
            scope=" ".join(request.scopes),
        )
        return grant

    def validate_code(
        self,
        client_id: str,
        code: str,
        client: Any,
        request: Request,
        *args: Any,
        **kwargs: Any,
    ) -> bool:
        valid = super().validate_code(client_id, code, client, request, *args, **kwargs)
        record = AuthorizationRecord.objects.filter(
            code_hash__in=token_hashing.candidate_forms(code), application=client
        ).first()
        if record is None:
            return False
        if not valid:
            if record.redeemed_at is not None:
                services.handle_code_reuse(record=record, client_id=client.client_id)
            return False
        # Before the code is used up: a wrong resource may be corrected.
        audience = self._token_audience(request)
        if not services.claim_code(record=record):
            services.handle_code_reuse(record=record, client_id=client.client_id)
            return False
        context = context_for(record, audience=audience)
        if context is None:
            return False
        vars(request)[CONTEXT_KEY] = context
        return True

    # --- refresh tokens --------------------------------------------------
    def validate_refresh_token(
        self,
        refresh_token: str,
        client: Any,
        request: Request,
        *args: Any,
        **kwargs: Any,
    ) -> bool:
        presented = (
            RefreshToken.objects.filter(
                token_checksum__in=token_hashing.candidate_checksums(refresh_token)
            )
            .order_by(F("revoked").desc(nulls_first=True))
            .first()
        )
        # Collected before DOT's reuse protection deletes the family's tokens.
        family_tokens = (
            services.family_access_tokens(presented.token_family)
            if presented is not None and presented.revoked and presented.token_family
            else []
        )
        valid = super().validate_refresh_token(
            refresh_token, client, request, *args, **kwargs
        )
        if presented is None:
            return False
        record = (
            AuthorizationRecord.objects.filter(
                token_family=presented.token_family
            ).first()
            if presented.token_family
            else None
        )
        if not valid:
            family_revoked = (
                presented.revoked is not None
                and presented.token_family is not None
                and not RefreshToken.objects.filter(
                    token_family=presented.token_family, revoked__isnull=True
                ).exists()
            )
            if family_revoked and (family_tokens or presented.application_id):
                services.revoke_family(
                    family=presented.token_family,
                    event=AuditEvent.Event.REFRESH_REUSE_DETECTED,
                    reason="rotated refresh token presented again",
                    client_id=getattr(client, "client_id", ""),
                    user_id=presented.user_id,
                    tenant_id=record.tenant_id if record else None,
                    tokens=family_tokens,
                )
            return False
        if record is None:
            return False
        context = context_for(record, audience=self._token_audience(request))
        if context is None:
            return False
        vars(request)[CONTEXT_KEY] = context
        return True

    # --- resources (RFC 8707) ---------------------------------------------
    def _check_and_set_request_resource(self, request: Request) -> None:
        super()._check_and_set_request_resource(request)
        resources = allowed_resources(list(request.resource or []))
        if resources is None:
            raise invalid_target(request)
        request.resource = resources

    def _token_audience(self, request: Request) -> str:
        """The one resource this issuance is for: its token's `aud`.

        Resolved while the grant is validated, since DOT settles
        `request.resource` only after the token generator has run (the
        refresh grant keeps its grant's resource); invalid_target if it is
        not allowed (any longer).
        """
        self._check_and_set_request_resource(request)
        return request.resource[0]

    # --- issuance ----------------------------------------------------------
    def _create_refresh_token(
        self,
        request: Request,
        refresh_token_code: str,
        access_token: Any,
        previous_refresh_token: Any,
    ) -> Any:
        refresh_token = super()._create_refresh_token(
            request, refresh_token_code, access_token, previous_refresh_token
        )
        context = token_context(request)
        if previous_refresh_token is None and context is not None:
            AuthorizationRecord.objects.filter(pk=context.record_id).update(
                token_family=refresh_token.token_family
            )
        return refresh_token

    def _save_bearer_token(
        self, token: dict[str, Any], request: Request, *args: Any, **kwargs: Any
    ) -> Any:
        context = token_context(request)
        if context is not None and not services.lock_for_issuance(
            record_id=context.record_id
        ):
            # The code was presented again while this redemption ran: what
            # it would issue is already condemned (services.handle_code_reuse).
            raise errors.InvalidGrantError(request=request)
        result = super()._save_bearer_token(token, request, *args, **kwargs)
        refreshed = request.grant_type == "refresh_token"
        minted = vars(request).get(MINTED_KEY) or {}
        # A retry in the grace window is answered with the earlier successor
        # (already in the ledger), not with the token minted for it.
        issued = token_hashing.unverified_claims(token.get("access_token", "")) or {}
        fresh = "jti" in minted and issued.get("jti") == minted["jti"]
        if context is not None and fresh:
            services.record_issued_access_token(
                record_id=context.record_id,
                jti=minted["jti"],
                expires_at=datetime.fromtimestamp(minted["exp"], tz=UTC),
            )
        services.mark_client_used(request.client)
        record_event(
            event=(
                AuditEvent.Event.TOKEN_REFRESHED
                if refreshed
                else AuditEvent.Event.TOKEN_ISSUED
            ),
            tenant_id=context.tenant_id if context else None,
            user_id=request.user.pk if request.user else None,
            client_id=request.client.client_id,
            reason=f"scope={token.get('scope', '')} jti={issued.get('jti', '')}",
        )
        return result

    # --- revocation (RFC 7009) --------------------------------------------
    def revoke_token(
        self,
        token: str,
        token_type_hint: str | None,
        request: Request,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        application_pk = getattr(request.client, "pk", None)
        if application_pk is None:
            return
        checksums = token_hashing.candidate_checksums(token)
        with transaction.atomic():
            access = list(
                AccessToken.objects.filter(
                    token_checksum__in=checksums, application_id=application_pk
                )
            )
            refresh = list(
                RefreshToken.objects.filter(
                    token_checksum__in=checksums,
                    application_id=application_pk,
                    revoked__isnull=True,
                ).select_related("access_token")
            )
            bound = [rt.access_token for rt in refresh if rt.access_token is not None]
            super().revoke_token(token, token_type_hint, request, *args, **kwargs)
            count = services.revoke_access_tokens_at_resource(
                access + bound, reason="revoked by client"
            )
            # RFC 7009 §2.1: revoking a refresh token stops the access tokens
            # of its grant too, those issued before rotations included (DOT
            # deleted their rows; the consent's ledger still names them).
            for record in AuthorizationRecord.objects.filter(
                token_family__in={rt.token_family for rt in refresh} - {None}
            ):
                count += services.revoke_issued_tokens(
                    record=record, reason="revoked by client"
                )
            if access or refresh:
                owner = (access or refresh)[0]
                record_event(
                    event=AuditEvent.Event.TOKEN_REVOKED,
                    user_id=owner.user_id,
                    client_id=request.client.client_id,
                    reason=(
                        f"{'access' if access else 'refresh'} token revoked; "
                        f"{count} access tokens refused at /mcp"
                    ),
                )
