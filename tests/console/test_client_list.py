"""The client list: what an operator needs to know of each client, no secrets."""

from html.parser import HTMLParser
from http import HTTPStatus

from django.urls import reverse
from oauth2_provider.models import RefreshToken

from tests.console.conftest import issue_token, make_client


class _ResultRows(HTMLParser):
    """The admin changelist's rows: each a {cell class: text} dict."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, str]] = []
        self._in_table = False
        self._cell: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "table" and found.get("id") == "result_list":
            self._in_table = True
        elif self._in_table and tag == "tr":
            self.rows.append({})
        elif self._in_table and tag in ("td", "th") and self.rows:
            self._cell = (found.get("class") or "").split(" ")[0]
            self.rows[-1][self._cell] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._in_table = False
        elif tag in ("td", "th"):
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None and self.rows:
            self.rows[-1][self._cell] += data.strip()


def _rows(client) -> dict[str, dict[str, str]]:
    """The changelist's rows by client name."""
    response = client.get(reverse("admin:oauth2_provider_application_changelist"))
    assert response.status_code == HTTPStatus.OK
    parser = _ResultRows()
    parser.feed(response.content.decode())
    return {row["field-name"]: row for row in parser.rows if "field-name" in row}


def test_the_list_shows_redirect_hosts_last_use_and_live_tokens(seeded, root):
    shared = make_client("shared")
    issue_token(shared, "dave", "tenant-a")
    issue_token(shared, "dave", "tenant-b")
    RefreshToken.objects.filter(application=shared).first().revoke()

    row = _rows(root)["shared"]

    assert row["field-redirect_hosts"] == "127.0.0.1:9999"
    assert row["field-live_tokens"] == "1"
    assert row["field-last_used"] not in ("", "-")


def test_the_list_never_shows_a_secret_or_a_token(seeded, root):
    shared = make_client("shared")
    token = issue_token(shared, "dave", "tenant-a")
    refresh = RefreshToken.objects.get(application=shared).token

    page = root.get(reverse("admin:oauth2_provider_application_changelist"))

    text = page.content.decode()
    assert shared.client_secret not in text
    assert token not in text
    assert refresh not in text
