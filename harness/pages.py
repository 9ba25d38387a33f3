"""Reading the server's HTML pages (login, tenant chooser, consent) as a user would.

A small `html.parser` reader, not regular expressions: it collects each
form's action, hidden, text and password fields and submit buttons, the
alert text of the page (`class="errors"`), the `<dt>`/`<dd>` pairs of its
description lists, the consent page's tenant (`data-tenant`) and the scopes
it will grant (`#granted-scopes code`). Every client of the server's pages
(the harness, the end-to-end tests, the in-process OAuth tests) reads them
here.
"""

from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class Button:
    name: str
    value: str
    text: str = ""


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)
    buttons: list[Button] = field(default_factory=list)

    def button(self, name: str) -> Button | None:
        """The first submit button called `name`, or None."""
        return next((b for b in self.buttons if b.name == name), None)

    def submission(self, **values: str) -> dict[str, str]:
        """The form's fields (CSRF token included) with `values` on top.

        `values` are what a person adds: typed text, and the name and value
        of the button they press.
        """
        return {**self.fields, **values}


@dataclass
class Page:
    """What a person reads of one page.

    `details` maps each `<dt>` text to its `<dd>` text (the consent page's
    "Client", "Tenant", "Signed in as"...); all text is whitespace-collapsed.
    """

    title: str = ""
    forms: list[Form] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    details: dict[str, str] = field(default_factory=dict)
    tenant: str | None = None
    granted_scopes: list[str] = field(default_factory=list)

    def form_with(self, field_name: str) -> Form | None:
        """The first form with an input or button called `field_name`."""
        for form in self.forms:
            if field_name in form.fields or form.button(field_name):
                return form
        return None


class _PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self._form: Form | None = None
        self._button: Button | None = None
        self._in_title = False
        self._error_depth = 0
        self._error_text: list[str] = []
        self._in_granted = False
        self._in_code = False
        self._term: list[str] | None = None
        self._definition: list[str] | None = None
        self._last_term = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {name: value or "" for name, value in attrs}
        classes = a.get("class", "").split()
        if tag == "title":
            self._in_title = True
        elif tag == "form":
            self._form = Form(
                action=a.get("action", ""), method=a.get("method", "get").lower()
            )
            self.page.forms.append(self._form)
        elif tag == "input" and self._form is not None and a.get("name"):
            if a.get("type", "text") in ("hidden", "text", "password"):
                self._form.fields[a["name"]] = a.get("value", "")
        elif tag == "button" and self._form is not None:
            if a.get("type", "submit") == "submit" and a.get("name"):
                self._button = Button(a["name"], a.get("value", ""))
                self._form.buttons.append(self._button)
        elif tag == "ul" and a.get("id") == "granted-scopes":
            self._in_granted = True
        elif tag == "code" and self._in_granted:
            self._in_code = True
        elif tag == "dt":
            self._term = []
        elif tag == "dd":
            self._definition = []
        if "data-tenant" in a:
            self.page.tenant = a["data-tenant"]
        if "errors" in classes or self._error_depth:
            self._error_depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag == "form":
            self._form = None
        elif tag == "button":
            self._button = None
        elif tag == "ul":
            self._in_granted = False
        elif tag == "code":
            self._in_code = False
        elif tag == "dt" and self._term is not None:
            self._last_term = " ".join("".join(self._term).split())
            self._term = None
        elif tag == "dd" and self._definition is not None:
            text = " ".join("".join(self._definition).split())
            self.page.details[self._last_term] = text
            self._definition = None
        if self._error_depth:
            self._error_depth -= 1
            if not self._error_depth:
                text = " ".join("".join(self._error_text).split())
                if text:
                    self.page.errors.append(text)
                self._error_text = []

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.page.title += data.strip()
        if self._button is not None:
            self._button.text += data.strip()
        if self._error_depth:
            self._error_text.append(data)
        if self._in_code:
            self.page.granted_scopes.append(data.strip())
        if self._term is not None:
            self._term.append(data)
        if self._definition is not None:
            self._definition.append(data)


def parse_page(html: str) -> Page:
    """Return what the harness needs to know of one HTML page."""
    parser = _PageParser()
    parser.feed(html)
    parser.close()
    return parser.page
