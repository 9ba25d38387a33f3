"""The authorization endpoint: login, tenant choice, consent, redirect.

DOT's AuthorizationView does the protocol; this subclass adds what the MCP
deployment needs:

- the query is cleaned first (unknown scopes such as `offline_access` are
  dropped, `approval_prompt` is ignored so consent can never be skipped by
  the client) with a redirect to the cleaned URL (oauth/authorize_query.py);
- PKCE must be S256 and `resource` must be this server's /mcp or one
  enabled registered resource server (oauth/resources.py);
- a user with several tenants chooses one (POSTed with CSRF, kept in the
  session for this exact request, so a client cannot preselect it:
  oauth/authorize_session.py);
- granted scopes = requested ∩ what the membership entitles, shown on the
  consent page before the user approves;
- the decision binds to exactly the request displayed: each consent page
  gets a one-time id kept in the session with the fingerprint of its
  query, a POST without a matching, unused id is refused (400), and the
  OAuth parameters of the POST body are ignored in favour of the query's
  (validated again), so a re-posted form cannot name another client,
  redirect URI or challenge;
- every redirect, errors included, carries `iss` (RFC 9207);
- its pages' forms may end at the client's registered redirect URI (the
  consent POST is answered 302 there), which their CSP form-action names.
"""

from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
)
from oauth2_provider.exceptions import FatalClientError, OAuthToolkitError
from oauth2_provider.oauth2_backends import _add_iss_to_redirect
from oauth2_provider.views import AuthorizationView
from oauthlib import oauth2
from oauthlib.oauth2.rfc6749 import errors

from audit.models import AuditEvent
from audit.services import record_event
from config.security_headers import allow_form_action
from oauth.authorize_pages import authorize_form_action_origin, registration_label
from oauth.authorize_query import BOUND_PARAMETERS, cleaned_query
from oauth.authorize_session import (
    chosen_tenant_id,
    claim_consent_id,
    forget_tenant_choice,
    issue_consent_id,
    remember_tenant_choice,
)
from oauth.redirect_uris import redirect_host
from oauth.resources import allowed_resources, describe_resource
from tenants.entitlements import entitled_scopes, list_active_memberships
from tenants.models import Membership


class MCPAuthorizationView(AuthorizationView):
    """DOT's authorization view with the MCP deployment's rules (module docstring)."""

    template_name = "oauth/consent.html"

    # --- request validation ---------------------------------------------
    def _validate_query(self, request: HttpRequest) -> tuple[list[str], dict[str, Any]]:
        """Validate the authorization request in the URL alone.

        On the consent POST the form repeats the parameters in the body; the
        query string is the copy the client sent, so only it is trusted.
        """
        core = self.get_oauthlib_core()
        uri, _method, _body, headers = core._extract_params(request)
        try:
            return core.server.validate_authorization_request(
                uri, http_method="GET", body="", headers=headers
            )
        except oauth2.FatalClientError as error:
            raise FatalClientError(error=error) from error
        except oauth2.OAuth2Error as error:
            raise OAuthToolkitError(error=error) from error

    def _protocol_error(self, request: HttpRequest) -> OAuthToolkitError | None:
        """Refuse non-S256 PKCE and foreign resources, redirecting to the client."""
        _scopes, credentials = self._validate_query(request)
        description = None
        error_code = "invalid_request"
        if credentials.get("code_challenge_method") != "S256" or not credentials.get(
            "code_challenge"
        ):
            description = "PKCE with code_challenge_method=S256 is required."
        elif allowed_resources(request.GET.getlist("resource")) is None:
            error_code = "invalid_target"
            description = (
                f"resource must be {settings.MCP_RESOURCE_URL} or one enabled "
                "registered resource server."
            )
        if description is None:
            return None
        return OAuthToolkitError(
            error=errors.CustomOAuth2Error(
                error=error_code,
                description=description,
                state=credentials.get("state"),
            ),
            redirect_uri=credentials["redirect_uri"],
        )

    # --- tenant -----------------------------------------------------------
    def _memberships(self) -> list[Membership]:
        return list(list_active_memberships(user_id=self.request.user.pk))

    def _chosen_membership(self, memberships: list[Membership]) -> Membership | None:
        if len(memberships) == 1:
            return memberships[0]
        tenant_id = chosen_tenant_id(self.request)
        if tenant_id is None:
            return None
        return next((m for m in memberships if m.tenant_id == tenant_id), None)

    # --- HTTP -------------------------------------------------------------
    def render_to_response(
        self, context: dict[str, Any], **response_kwargs: Any
    ) -> HttpResponse:
        response = super().render_to_response(context, **response_kwargs)
        origin = authorize_form_action_origin(self.request.GET)
        return allow_form_action(response, origin)

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        cleaned = cleaned_query(request.GET)
        if cleaned is not None:
            return HttpResponseRedirect(f"{request.path}?{cleaned}")
        try:
            error = self._protocol_error(request)
        except OAuthToolkitError as exc:
            return self.error_response(exc, application=None)
        if error is not None:
            return self.error_response(error, application=None)
        memberships = self._memberships()
        if not memberships:
            return self._deny(request, "You are not a member of any active tenant.")
        if self._chosen_membership(memberships) is None:
            return self.render_to_response(
                {
                    "choose_tenant": True,
                    "memberships": memberships,
                    "application": self._application(request),
                }
            )
        return super().get(request, *args, **kwargs)

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if "choose_tenant" in request.POST:
            return self._choose_tenant(request)
        if not claim_consent_id(request):
            # Not a page this session was shown for this request, or one
            # already answered: no decision, no redirect to anyone.
            return JsonResponse(
                {
                    "error": "invalid_request",
                    "error_description": "This consent form is not the one "
                    "displayed for this request, or was already answered; "
                    "start the authorization again.",
                },
                status=400,
            )
        return super().post(request, *args, **kwargs)

    def _choose_tenant(self, request: HttpRequest) -> HttpResponse:
        memberships = self._memberships()
        slug = request.POST.get("choose_tenant", "")
        chosen = next((m for m in memberships if m.tenant.slug == slug), None)
        if chosen is None:
            return self.render_to_response(
                {
                    "choose_tenant": True,
                    "memberships": memberships,
                    "application": self._application(request),
                    "choice_error": "Choose one of your tenants.",
                },
                status=400,
            )
        remember_tenant_choice(request, chosen.tenant_id)
        return HttpResponseRedirect(request.get_full_path())

    def _application(self, request: HttpRequest) -> Any:
        try:
            _scopes, credentials = self._validate_query(request)
        except OAuthToolkitError:
            return None
        from oauth2_provider.models import get_application_model

        return (
            get_application_model()
            .objects.filter(client_id=credentials["client_id"])
            .first()
        )

    def _deny(self, request: HttpRequest, description: str) -> HttpResponse:
        try:
            _scopes, credentials = self._validate_query(request)
        except OAuthToolkitError as exc:
            return self.error_response(exc, application=None)
        error = OAuthToolkitError(
            error=errors.AccessDeniedError(
                description=description, state=credentials.get("state")
            ),
            redirect_uri=credentials["redirect_uri"],
        )
        return self.error_response(error, application=None)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        if context.get("choose_tenant") or context.get("error"):
            return context
        application = context.get("application")
        membership = self._chosen_membership(self._memberships())
        requested = set(context.get("scopes") or [])
        if membership is not None:
            granted = sorted(requested & entitled_scopes(membership.role))
            context["tenant"] = membership.tenant
            context["role"] = membership.get_role_display()
            context["granted_scopes"] = [
                (scope, settings.OAUTH_SCOPES.get(scope, scope)) for scope in granted
            ]
            context["withheld_scopes"] = sorted(requested - set(granted))
        if membership is not None:
            context["consent_id"] = issue_consent_id(self.request)
        context["resource"] = describe_resource(self.request.GET.getlist("resource"))
        if application is not None:
            context["registration"] = registration_label(application)
            context["redirect_host"] = redirect_host(context.get("redirect_uri") or "")
        return context

    # --- the one place every approval passes -------------------------------
    def create_authorization_response(
        self,
        request: HttpRequest,
        scopes: str,
        credentials: dict[str, Any],
        allow: bool,
    ) -> tuple[str, dict[str, str], str, int]:
        requested, trusted = self._validate_query(request)
        error = self._protocol_error(request)
        if error is not None:
            raise error
        membership = self._chosen_membership(self._memberships())
        granted = (
            sorted(set(requested) & entitled_scopes(membership.role))
            if membership is not None
            else []
        )
        approved = bool(allow and membership is not None and granted)
        client_id = trusted.get("client_id", "")
        with transaction.atomic():
            record_event(
                event=(
                    AuditEvent.Event.CONSENT_GRANTED
                    if approved
                    else AuditEvent.Event.CONSENT_DENIED
                ),
                outcome=AuditEvent.Outcome.OK
                if approved
                else AuditEvent.Outcome.DENIED,
                tenant_id=membership.tenant_id if membership else None,
                user_id=request.user.pk,
                client_id=client_id,
                reason=(
                    f"granted {' '.join(granted)}"
                    if approved
                    else ("denied by user" if allow is False else "nothing to grant")
                ),
            )
        forget_tenant_choice(request)
        # The body's copy of the request is not trusted: what is decided is
        # the request in the URL, validated above and shown on the page.
        credentials = {
            **{key: value for key, value in credentials.items() if key == "claims"},
            **{key: trusted[key] for key in BOUND_PARAMETERS if key in trusted},
            "resource": allowed_resources(request.GET.getlist("resource")) or [],
        }
        if approved:
            credentials["claims"] = {"tenant_id": membership.tenant_id}
        else:
            credentials.pop("claims", None)
        # DOT re-validates and stores exactly these scopes on the code.
        return super().create_authorization_response(
            request, " ".join(granted) if approved else scopes, credentials, approved
        )

    def redirect(self, redirect_to: str, application: Any) -> HttpResponse:
        if "iss=" not in redirect_to.split("#", 1)[0].split("?", 1)[-1]:
            redirect_to = _add_iss_to_redirect(redirect_to, settings.PUBLIC_URL)
        return super().redirect(redirect_to, application)
