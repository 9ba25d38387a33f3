"""The pages a person lands on: home, sign-in and sign-out, the error pages."""

from http import HTTPStatus

import pytest
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.test import Client, RequestFactory
from django.views import defaults

from accounts.models import User
from harness.pages import parse_page
from tenants.demo import seed_demo_data
from tests.accounts.reading import read

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo() -> None:
    seed_demo_data()


def signed_in(username: str) -> Client:
    client = Client()
    client.force_login(User.objects.get(username=username))
    return client


def _sign_out_form(html: str):
    """The header's sign-out form (the first on the page), with its button."""
    assert read(html).form_buttons["sign-out"][0] == "Sign out"
    forms = [f for f in parse_page(html).forms if f.action == "/accounts/logout/"]
    assert forms
    return forms[0]


def test_home_gives_the_mcp_url_to_paste_into_claude_code(demo):
    response = Client().get("/")
    assert response.status_code == HTTPStatus.OK
    seen = read(response.text)
    assert seen.by_id["mcp-url"] == settings.MCP_RESOURCE_URL
    assert seen.by_id["mcp-add"] == (
        f"claude mcp add --transport http NAME {settings.MCP_RESOURCE_URL}"
    )
    assert seen.links["Sign in"] == "/accounts/login/"
    assert seen.links["operator console"] == "/admin/"
    assert seen.stylesheets == ["/static/site.css"]
    assert "signed-in-as" not in seen.by_id


def test_home_says_who_is_signed_in_and_offers_sign_out(demo):
    response = signed_in("bob").get("/")
    seen = read(response.text)
    assert seen.by_id["signed-in-as"] == "Signed in as bob"
    assert seen.links["Your account"] == "/account/"
    form = _sign_out_form(response.text)
    assert form.method == "post"
    assert form.fields["csrfmiddlewaretoken"]


@pytest.mark.parametrize(
    ("username", "offered"), [("alice", True), ("bob", False), ("root", True)]
)
def test_home_links_the_console_for_those_who_may_use_it(demo, username, offered):
    User.objects.create_superuser("root", password="pw")
    seen = read(signed_in(username).get("/").text)
    assert ("Operator console" in seen.links) is offered


def test_every_page_has_the_sign_out_button_in_its_header(demo):
    client = signed_in("alice")
    for path in ("/", "/account/", "/accounts/logout/", "/no-such-page"):
        _sign_out_form(client.get(path).text)


def test_signing_in_at_the_login_page_lands_on_the_account_page(demo):
    client = Client()
    page = parse_page(client.get("/accounts/login/").text)
    form = page.form_with("username")
    response = client.post(
        "/accounts/login/", form.submission(username="bob", password="demo")
    )
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == "/account/"


def test_get_logout_asks_for_confirmation_and_does_not_sign_out(demo):
    client = signed_in("bob")
    response = client.get("/accounts/logout/")
    assert response.status_code == HTTPStatus.OK
    assert parse_page(response.text).title == "Sign out"
    forms = [f for f in parse_page(response.text).forms if f.buttons == []]
    assert forms, "the page's own form POSTs to the logout URL"
    assert client.get("/account/").status_code == HTTPStatus.OK


def test_the_sign_out_form_signs_out_and_goes_home(demo):
    client = Client(enforce_csrf_checks=True)
    client.force_login(User.objects.get(username="bob"))
    form = _sign_out_form(client.get("/").text)
    response = client.post(form.action, form.submission())
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == "/"
    assert client.get("/account/").status_code == HTTPStatus.FOUND


def test_sign_out_without_the_csrf_token_is_refused_on_a_styled_page(demo):
    client = Client(enforce_csrf_checks=True)
    client.force_login(User.objects.get(username="bob"))
    response = client.post("/accounts/logout/")
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert parse_page(response.text).title == "Forbidden"
    assert read(response.text).stylesheets == ["/static/site.css"]
    assert client.get("/account/").status_code == HTTPStatus.OK


def test_an_unknown_page_is_a_styled_404(demo):
    response = signed_in("bob").get("/no-such-page")
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert parse_page(response.text).title == "Not found"
    seen = read(response.text)
    assert seen.stylesheets == ["/static/site.css"]
    assert seen.by_id["signed-in-as"] == "Signed in as bob"


def test_forbidden_is_a_styled_403():
    request = RequestFactory().get("/somewhere")
    response = defaults.permission_denied(request, PermissionDenied())
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert parse_page(response.text).title == "Forbidden"
    assert read(response.text).stylesheets == ["/static/site.css"]


def test_a_server_error_page_renders_without_a_request_context():
    response = defaults.server_error(RequestFactory().get("/"))
    assert response.status_code == HTTPStatus.INTERNAL_SERVER_ERROR
    seen = read(response.content.decode())
    assert parse_page(response.content.decode()).title == "Server error"
    assert seen.stylesheets == ["/static/site.css"]
    assert seen.links["Sign in"] == "/accounts/login/"
