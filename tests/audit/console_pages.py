"""Reading the audit console's pages with `html.parser`: rows, filters, fields."""

from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class Cell:
    css: str
    text: str = ""
    titles: list[str] = field(default_factory=list)
    href: str = ""


@dataclass
class ConsolePage:
    rows: list[dict[str, Cell]] = field(default_factory=list)
    # filter title -> the text of each choice
    filters: dict[str, list[str]] = field(default_factory=dict)
    # readonly field name -> its text
    fields: dict[str, str] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)  # text -> href
    svgs: int = 0
    scripts: list[str] = field(default_factory=list)
    text: str = ""


def _field_name(css: str) -> str | None:
    for name in css.split():
        if name.startswith("field-"):
            return name.removeprefix("field-")
    return None


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = ConsolePage()
        self._in_results = False
        self._row: dict[str, Cell] | None = None
        self._cell: Cell | None = None
        self._filter: str | None = None
        self._choice: list[str] | None = None
        self._field: str | None = None
        self._readonly: list[str] | None = None
        self._readonly_depth = 0
        self._link: tuple[str, list[str]] | None = None
        self._all: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = {name: value or "" for name, value in attrs}
        if tag == "table" and a.get("id") == "result_list":
            self._in_results = True
        elif self._in_results and tag == "tr":
            self._row = {}
        elif self._row is not None and tag in ("td", "th"):
            self._cell = Cell(css=a.get("class", ""))
        if self._cell is not None and tag == "a":
            self._cell.href = a.get("href", "")
        if self._cell is not None and a.get("title"):
            self._cell.titles.append(a["title"])
        if tag == "details" and "data-filter-title" in a:
            self._filter = a["data-filter-title"]
            self.page.filters[self._filter] = []
        if self._filter is not None and tag == "li":
            self._choice = []
        if tag == "div" and _field_name(a.get("class", "")):
            self._field = _field_name(a["class"])
        if self._field and tag == "div" and "readonly" in a.get("class", "").split():
            self._readonly = []
            self._readonly_depth = 0
        elif self._readonly is not None and tag == "div":
            self._readonly_depth += 1
        if tag == "a":
            self._link = (a.get("href", ""), [])
        if tag == "svg" and "audit-chart" in a.get("class", "").split():
            self.page.svgs += 1
        if tag == "script":
            self.page.scripts.append(a.get("src", "inline"))

    def handle_endtag(self, tag: str) -> None:
        if tag == "table" and self._in_results:
            self._in_results = False
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._cell.text = " ".join(self._cell.text.split())
            name = _field_name(self._cell.css) or self._cell.css
            self._row[name] = self._cell
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if any(_field_name(cell.css) for cell in self._row.values()):
                self.page.rows.append(self._row)
            self._row = None
        if tag == "li" and self._choice is not None and self._filter is not None:
            self.page.filters[self._filter].append(
                " ".join("".join(self._choice).split())
            )
            self._choice = None
        if tag == "details":
            self._filter = None
        if tag == "div" and self._readonly is not None:
            if self._readonly_depth:
                self._readonly_depth -= 1
            else:
                text = " ".join("".join(self._readonly).split())
                self.page.fields[self._field or ""] = text
                self._readonly = None
                self._field = None
        if tag == "a" and self._link is not None:
            self.page.links[" ".join("".join(self._link[1]).split())] = self._link[0]
            self._link = None

    def handle_data(self, data: str) -> None:
        self._all.append(data)
        if self._cell is not None:
            self._cell.text += data
        if self._choice is not None:
            self._choice.append(data)
        if self._readonly is not None:
            self._readonly.append(data)
        if self._link is not None:
            self._link[1].append(data)

    def close(self) -> None:
        super().close()
        self.page.text = " ".join("".join(self._all).split())


def read_page(html: str) -> ConsolePage:
    parser = _Parser()
    parser.feed(html)
    parser.close()
    return parser.page
