"""Security headers Django's own middleware does not send: the CSP, and nosniff at /mcp.

Every HTML page Django serves gets one Content-Security-Policy (Django 5.2
has none built in, and a dozen lines do not justify a dependency):

- scripts, styles, images, fonts and connections from this origin only
  (`default-src 'self'`): no inline script and no inline style. The pages'
  styles live in static/site.css; Django's admin templates in use carry no
  inline script or `style=` attribute (their data travels in `data-`
  attributes read by static scripts), and its scripts set styles through
  the DOM, which CSP does not restrict. The browser test
  tests/browser/test_csp.py fails on any violation a page reports;
- no plugins (`object-src 'none'`), no `<base>` (`base-uri 'none'`), never
  framed (`frame-ancestors 'none'`, besides X-Frame-Options: DENY);
- `form-action 'self'`, widened per page by `allow_form_action`. Chromium
  applies form-action to every redirect that follows a form submission,
  and the OAuth flow's forms end at the client: the consent POST (and a
  sign-in whose `next` is /authorize, when /authorize then answers with an
  error) is answered 302 to the client's redirect URI. Those pages add
  exactly that URI's origin, once it is known to be registered for the
  client, rather than every page dropping form-action.

The MCP app at /mcp is mounted beside Django (config/router.py) and passes
none of Django's middleware, so the router wraps its `send` in `nosniff`,
which adds `X-Content-Type-Options: nosniff` to every response there.
"""

from collections.abc import Callable, Iterable

from django.http import HttpRequest, HttpResponse

from mcpserver.asgi_types import Message, Send

HEADER = "Content-Security-Policy"
_DIRECTIVES = (
    ("default-src", "'self'"),
    ("script-src", "'self'"),
    ("style-src", "'self'"),
    ("object-src", "'none'"),
    ("base-uri", "'none'"),
    ("frame-ancestors", "'none'"),
)


def content_security_policy(*, form_action: Iterable[str] = ()) -> str:
    """The policy of an HTML page whose forms may also end at `form_action`.

    `form_action` holds origins (`scheme://host[:port]`) besides this
    server's; duplicates are dropped, order kept.
    """
    sources = " ".join(dict.fromkeys(["'self'", *form_action]))
    directives = [*_DIRECTIVES, ("form-action", sources)]
    return "; ".join(f"{name} {value}" for name, value in directives)


def _is_html(response: HttpResponse) -> bool:
    return response.get("Content-Type", "").startswith("text/html")


def allow_form_action(response: HttpResponse, origin: str | None) -> HttpResponse:
    """Let the forms of HTML `response` end at `origin`; return `response`.

    `origin` must be one the caller verified (a client's registered redirect
    URI); None leaves the response to the default policy. Non-HTML
    responses get no policy.
    """
    if origin and _is_html(response):
        response[HEADER] = content_security_policy(form_action=[origin])
    return response


class ContentSecurityPolicyMiddleware:
    """Give each HTML response the default policy unless its view set one."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.policy = content_security_policy()

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if _is_html(response) and HEADER not in response:
            response[HEADER] = self.policy
        return response


def nosniff(send: Send) -> Send:
    """Wrap ASGI `send` so the response it starts says nosniff.

    A header the app set itself is left alone.
    """

    async def send_nosniff(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            if all(name.lower() != b"x-content-type-options" for name, _ in headers):
                headers.append((b"x-content-type-options", b"nosniff"))
                message = {**message, "headers": headers}
        await send(message)

    return send_nosniff
