"""Read what a person sees on the site's pages, with html.parser.

harness/pages.py reads forms, titles, alerts and description lists; this
adds what those pages lack: links, stylesheets, the text of elements with
an `id`, table rows keyed by their `data-tenant` or `data-client-id`, and
buttons tied to a form elsewhere on the page by their `form` attribute.
"""

from dataclasses import dataclass, field
from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta"}
ROW_KEYS = ("data-tenant", "data-client-id")


@dataclass
class Seen:
    links: dict[str, str] = field(default_factory=dict)  # text -> href
    stylesheets: list[str] = field(default_factory=list)
    by_id: dict[str, str] = field(default_factory=dict)
    rows: dict[str, str] = field(default_factory=dict)  # data-* value -> text
    # <button form="ID"> outside its form: form id -> the buttons' texts
    form_buttons: dict[str, list[str]] = field(default_factory=dict)


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.seen = Seen()
        # One entry per open element: where its text goes, if anywhere.
        self._open: list[tuple[str, str, str] | None] = []
        self._text: dict[tuple[str, str, str], list[str]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {name: value or "" for name, value in attrs}
        if tag == "link" and "stylesheet" in a.get("rel", "").split():
            self.seen.stylesheets.append(a.get("href", ""))
        if tag in VOID:
            return
        key = None
        if tag == "a":
            key = ("a", a.get("href", ""), str(len(self._text)))
        elif tag == "button" and a.get("form"):
            key = ("button", a["form"], str(len(self._text)))
        elif a.get("id"):
            key = ("id", a["id"], "")
        else:
            row = next((a[name] for name in ROW_KEYS if name in a), None)
            if row is not None:
                key = ("row", row, "")
        if key is not None:
            self._text[key] = []
        self._open.append(key)

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID or not self._open:
            return
        key = self._open.pop()
        if key is None:
            return
        text = " ".join("".join(self._text[key]).split())
        kind, name, _ = key
        if kind == "a":
            self.seen.links[text] = name
        elif kind == "button":
            self.seen.form_buttons.setdefault(name, []).append(text)
        elif kind == "id":
            self.seen.by_id[name] = text
        else:
            self.seen.rows[name] = text

    def handle_data(self, data: str) -> None:
        for key in self._open:
            if key is not None:
                self._text[key].append(data)


def read(html: str) -> Seen:
    """The links, stylesheets, texts by id and keyed rows of one page."""
    reader = _Reader()
    reader.feed(html)
    reader.close()
    return reader.seen
