"""The Tool catalogue in the admin: the code's fields are read-only to everyone."""

import html
from http import HTTPStatus

from django.urls import reverse

from tenants.admin import CATALOGUE_HELP
from tenants.models import Tool


def test_the_list_says_where_rows_come_from_and_filters_on_available(seeded, root):
    Tool.objects.filter(name="echo").update(available=False)
    url = reverse("admin:tenants_tool_changelist")
    page = root.get(url)
    assert page.status_code == HTTPStatus.OK
    assert CATALOGUE_HELP in html.unescape(page.text)
    assert page.context["cl"].list_display[1:] == [
        "name",
        "title",
        "required_scopes",
        "available",
        "source",
    ]
    gone = root.get(url, {"available__exact": "0"}).context["cl"].result_list
    assert [tool.name for tool in gone] == ["echo"]


def test_a_superuser_cannot_change_the_code_owned_fields(seeded, root):
    echo = Tool.objects.get(name="echo")
    echo.annotations = {"readOnlyHint": True}
    echo.source = "demo.mcp_tools.echo"
    echo.save(update_fields=["annotations", "source"])
    change = reverse("admin:tenants_tool_change", args=[echo.pk])
    form = root.get(change).context["adminform"].form
    assert {"source", "annotations", "available"}.isdisjoint(form.fields)
    posted = root.post(
        change,
        {
            "name": "echo",
            "title": "Echo",
            "description": echo.description,
            "required_scopes": "tools:call",
            "source": "elsewhere.py",
            "annotations": "{}",
            # An unchecked box is absent: available would become False.
        },
    )
    assert posted.status_code == HTTPStatus.FOUND
    echo.refresh_from_db()
    assert echo.title == "Echo"
    assert echo.available is True
    assert echo.source == "demo.mcp_tools.echo"
    assert echo.annotations == {"readOnlyHint": True}
