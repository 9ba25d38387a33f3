"""Step 5 of the flow as a person does it, in a stand-in browser.

`approve_in_browser` follows any client's authorize URL through the
server's own pages: the login form with its CSRF token, the tenant chooser
when the user has several tenants, and the consent form, where it presses
Allow (or Deny, before refusing). It stops at the redirect to the client's
callback, which it does not request. Pages are read with `harness.pages`.
A page refusing the client_id itself raises UnknownClient.
"""

from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx2

from harness.authorization import query_params
from harness.errors import AuthenticationFailed, UnknownClient, UsageError
from harness.exchange import Step, quiet, send
from harness.pages import Page, parse_page

_MAX_REDIRECTS = 10


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


class _Browser:
    """A cookie jar that follows redirects on the server and stops at the callback."""

    def __init__(self, client: httpx2.Client, redirect_uri: str) -> None:
        self.client = client
        self.redirect_uri = redirect_uri
        self.url = ""
        self.callback: str | None = None

    def open(self, method: str, url: str, **kwargs: Any) -> Page:
        """Request `url`, follow redirects; return the page (or set `callback`)."""
        response = send(self.client, method, url, **kwargs)
        for _ in range(_MAX_REDIRECTS):
            if not response.is_redirect:
                break
            location = urljoin(str(response.url), response.headers["location"])
            if location.split("?", 1)[0] == self.redirect_uri:
                self.callback = location
                return Page()
            if _origin(location) != _origin(str(response.url)):
                raise AuthenticationFailed(f"redirected off the server to {location}")
            response = send(self.client, "GET", location)
        self.url = str(response.url)
        return parse_page(response.text)

    def submit(self, page: Page, form_field: str, **values: str) -> Page:
        """Submit the page's form that has `form_field`, with `values` added."""
        form = page.form_with(form_field)
        if form is None:
            raise AuthenticationFailed(f"the page {self.url} has no {form_field} form")
        target = urljoin(self.url, form.action) if form.action else self.url
        return self.open(
            "POST",
            target,
            data=form.submission(**values),
            headers={"Referer": self.url},
        )


def _page_problem(page: Page) -> str:
    return "; ".join(page.errors) or page.title or "an unexpected page"


def _refuses_the_client(page: Page) -> bool:
    """Whether `page` is an authorization error about the client_id itself.

    The server shows it rather than redirecting (RFC 6749 §4.1.2.1): DOT
    (oauthlib) as `invalid_request: Invalid client_id parameter value.`,
    other servers as `invalid_client`.
    """
    for text in page.errors:
        code, _, description = text.partition(":")
        if code.strip() == "invalid_client":
            return True
        if code.strip() == "invalid_request" and "client_id" in description:
            return True
    return False


def _unexpected(page: Page, what: str) -> AuthenticationFailed:
    """The failure for `page` where `what` was expected."""
    failure = UnknownClient if _refuses_the_client(page) else AuthenticationFailed
    return failure(f"{what}: {_page_problem(page)}")


def _choose_tenant(
    browser: _Browser, page: Page, *, username: str, tenant: str | None, step: Step
) -> Page:
    form = page.form_with("choose_tenant")
    if form is None:
        return page
    slugs = [b.value for b in form.buttons if b.name == "choose_tenant"]
    if tenant is None:
        raise UsageError(
            f"{username} belongs to several tenants ({', '.join(slugs)}): "
            "say which with --tenant"
        )
    if tenant not in slugs:
        raise AuthenticationFailed(
            f"{username} is not a member of {tenant} (their tenants: "
            f"{', '.join(slugs)})"
        )
    step(f"tenant chooser offers {', '.join(slugs)} -> chose {tenant}")
    return browser.submit(page, "choose_tenant", choose_tenant=tenant)


def _consent(
    browser: _Browser, page: Page, *, username: str, tenant: str | None, step: Step
) -> str:
    """Approve the consent page; return the callback URL it redirects to."""
    if page.form_with("deny") is None:
        raise _unexpected(page, "no consent page")
    if tenant is not None and page.tenant != tenant:
        browser.submit(page, "deny", deny="1")
        raise AuthenticationFailed(f"{username} belongs to {page.tenant}, not {tenant}")
    if page.form_with("allow") is None:
        browser.submit(page, "deny", deny="1")
        raise AuthenticationFailed(
            f"nothing that was asked for can be granted to {username} in {page.tenant}"
        )
    step(
        f"consent: {username} in {page.tenant}, grants "
        f"{' '.join(page.granted_scopes)} -> Allow"
    )
    browser.submit(page, "allow", allow="Authorize")
    if browser.callback is None:
        raise AuthenticationFailed(
            f"consent did not redirect back: {_page_problem(page)}"
        )
    return browser.callback


@dataclass(frozen=True)
class Approval:
    """Where the server sent the browser, and the consent page it approved.

    `consent` is None when the server redirected without asking.
    """

    callback: str
    consent: Page | None


def approve_in_browser(
    web: httpx2.Client,
    authorize_url: str,
    *,
    redirect_uri: str,
    username: str,
    password: str,
    tenant: str | None = None,
    step: Step = quiet,
) -> Approval:
    """Step 5 as a person does it: sign in, choose `tenant`, press Allow.

    `web` is the browser's cookie jar (a client that does not follow
    redirects); `authorize_url` may be any client's. Stops at the redirect
    to `redirect_uri`, which it does not request. `tenant` is required when
    the user has several. Raises AuthenticationFailed (a refused login, an
    unexpected page, a tenant they are not in, nothing to grant; its
    subclass UnknownClient when the server refuses the client_id) or
    UsageError (several tenants and no `tenant`); on a refusal after
    sign-in it presses Deny first.
    """
    scope = query_params(authorize_url).get("scope", "")
    browser = _Browser(web, redirect_uri)
    page = browser.open("GET", authorize_url)
    if browser.callback is not None:
        return Approval(browser.callback, None)
    if page.form_with("password") is None:
        raise _unexpected(page, "/authorize did not show the login form")
    step(f"GET /authorize (PKCE S256, scope {scope!r}) -> login form")
    page = browser.submit(page, "password", username=username, password=password)
    if browser.callback is not None:
        return Approval(browser.callback, None)
    if page.form_with("password") is not None:
        raise AuthenticationFailed(f"{username}: {_page_problem(page)}")
    step(f"POST the login form as {username} -> signed in")
    page = _choose_tenant(browser, page, username=username, tenant=tenant, step=step)
    if browser.callback is not None:
        return Approval(browser.callback, None)
    callback = _consent(browser, page, username=username, tenant=tenant, step=step)
    return Approval(callback, page)
