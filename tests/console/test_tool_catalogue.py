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
    # No checkbox column: nothing can be deleted, so there is no action.
    assert page.context["cl"].list_display == [
        "name",
        "title",
        "required_scopes",
        "available",
        "source",
    ]
    gone = root.get(url, {"available__exact": "0"}).context["cl"].result_list
    assert [tool.name for tool in gone] == ["echo"]


def test_a_superuser_cannot_change_add_or_delete_catalogue_rows(seeded, root):
    echo = Tool.objects.get(name="echo")
    change = reverse("admin:tenants_tool_change", args=[echo.pk])

    page = root.get(change)
    posted = root.post(change, {"name": "echo", "required_scopes": ""})
    added = root.get(reverse("admin:tenants_tool_add"))
    delete = reverse("admin:tenants_tool_delete", args=[echo.pk])
    deleted = root.post(delete, {"post": "yes"})

    assert page.status_code == HTTPStatus.OK
    assert 'name="_save"' not in page.text
    assert "View tool" in page.text
    assert posted.status_code == HTTPStatus.FORBIDDEN
    assert added.status_code == HTTPStatus.FORBIDDEN
    assert deleted.status_code == HTTPStatus.FORBIDDEN
    echo.refresh_from_db()
    assert (echo.required_scopes, echo.available) == ("tools:call", True)


def test_an_unavailable_tool_cannot_be_given_to_a_tenant(seeded, root):
    Tool.objects.filter(name="export_report").update(available=False)

    page = root.get(reverse("admin:tenants_tenanttool_add"))

    choices = page.context["adminform"].form.fields["tool"].queryset
    assert "export_report" not in {tool.name for tool in choices}
    assert "echo" in {tool.name for tool in choices}
