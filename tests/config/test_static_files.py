"""Static files as production serves them: collected, hashed, compressed, cached.

The other tests name and serve the source files (tests/conftest.py); this
one runs the real collectstatic with the production storage into a
directory of its own and fetches what a page links through WhiteNoise.
"""

from http import HTTPStatus
from io import StringIO

import pytest
from django.core.management import call_command
from django.template import engines
from django.test import Client

from config import settings as production

pytestmark = pytest.mark.django_db


@pytest.fixture
def collected(settings, tmp_path):
    settings.STORAGES = production.STORAGES
    settings.STATIC_ROOT = tmp_path
    settings.WHITENOISE_AUTOREFRESH = False
    settings.WHITENOISE_USE_FINDERS = False
    call_command("collectstatic", "--noinput", stdout=StringIO())
    return tmp_path


def _static(name: str) -> str:
    return engines["django"].from_string(f"{{% load static %}}{{% static '{name}' %}}")


def test_pages_link_content_hashed_names(collected):
    url = _static("site.css").render()
    assert url.startswith("/static/site.")
    assert url.endswith(".css")
    assert url != "/static/site.css"


@pytest.mark.parametrize("name", ["site.css", "admin/css/base.css"])
def test_collected_files_are_served_compressed_with_a_far_future_expiry(
    collected, name
):
    url = _static(name).render()
    response = Client().get(url, headers={"Accept-Encoding": "gzip"})
    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"].startswith("text/css")
    assert response["Content-Encoding"] == "gzip"
    assert "immutable" in response["Cache-Control"]
    assert "max-age=315360000" in response["Cache-Control"]


def test_a_name_missing_from_the_manifest_is_an_error_not_a_broken_link(collected):
    with pytest.raises(ValueError, match="Missing staticfiles manifest entry"):
        _static("no-such-file.css").render()
