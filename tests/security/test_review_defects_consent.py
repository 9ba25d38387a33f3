"""The consent decision binds to exactly the request displayed (issue #14).

The review re-posted a user's own consent form with another client's
`client_id`, `redirect_uri` and PKCE challenge and got a code for that
client, which the user was never shown, while the audit row named the
first. Now the body's OAuth parameters are ignored, each page's form
carries a one-time id bound to its request, and a form for a request that
was never displayed (or answered already) is refused without a decision.
"""

from http import HTTPStatus

import pytest
from django.test import Client
from oauth2_provider.models import Grant

from audit.models import AuditEvent
from harness.pages import parse_page
from tests.oauth import flow

pytestmark = pytest.mark.django_db

OTHER_REDIRECT = "http://127.0.0.1:5555/cb"


def _consent_form(browser: Client, auth: flow.AuthorizationRequest) -> dict:
    page = browser.get(auth.url)
    assert page.status_code == HTTPStatus.OK
    form = parse_page(page.text).form_with("deny")
    assert form is not None
    return form.submission(allow="Authorize")


def _assert_refused_without_a_decision(response) -> None:
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"] == "invalid_request"
    assert "Location" not in response


def test_the_bodys_client_redirect_and_challenge_are_ignored(alice, public_client):
    shown = flow.start(public_client["client_id"])
    other = flow.register(Client(), client_name="Other", redirect_uris=[OTHER_REDIRECT])
    attacker = flow.start(other["client_id"], redirect_uri=OTHER_REDIRECT)
    submission = {
        **_consent_form(alice, shown),
        "client_id": other["client_id"],
        "redirect_uri": OTHER_REDIRECT,
        "code_challenge": attacker.query["code_challenge"],
        "state": attacker.state,
    }

    response = alice.post(shown.url, submission)

    params = flow.redirect_params(response)
    assert response["Location"].startswith(flow.REDIRECT_URI + "?")
    assert params["state"] == shown.state
    (grant,) = Grant.objects.all()
    assert grant.application.client_id == public_client["client_id"]
    assert grant.code_challenge == shown.query["code_challenge"]
    (row,) = AuditEvent.objects.filter(event="consent_granted")
    assert row.client_id == public_client["client_id"]
    token = flow.exchange(Client(), shown, params["code"])
    assert token.status_code == HTTPStatus.OK
    stolen = flow.exchange(Client(), attacker, params["code"])
    assert stolen.status_code in (HTTPStatus.BAD_REQUEST, HTTPStatus.UNAUTHORIZED)


def test_a_form_posted_to_a_request_never_displayed_is_refused(alice, public_client):
    shown = flow.start(public_client["client_id"])
    submission = _consent_form(alice, shown)
    other = flow.register(Client(), client_name="Other", redirect_uris=[OTHER_REDIRECT])
    never_shown = flow.start(other["client_id"], redirect_uri=OTHER_REDIRECT)

    response = alice.post(never_shown.url, submission)

    _assert_refused_without_a_decision(response)
    assert not Grant.objects.exists()
    assert not AuditEvent.objects.filter(event__startswith="consent_").exists()


def test_a_consent_form_answers_once(alice, public_client):
    shown = flow.start(public_client["client_id"])
    submission = _consent_form(alice, shown)
    first = alice.post(shown.url, submission)
    assert first.status_code == HTTPStatus.FOUND

    again = alice.post(shown.url, submission)

    _assert_refused_without_a_decision(again)
    assert Grant.objects.count() == 1
    assert AuditEvent.objects.filter(event="consent_granted").count() == 1


def test_another_users_consent_form_is_refused(alice, bob, public_client):
    """Alice's one-time id lives in her session: bob's session never issued it."""
    shown = flow.start(public_client["client_id"])
    submission = _consent_form(alice, shown)

    response = bob.post(shown.url, submission)

    _assert_refused_without_a_decision(response)
    assert not Grant.objects.exists()
    assert not AuditEvent.objects.filter(event__startswith="consent_").exists()
