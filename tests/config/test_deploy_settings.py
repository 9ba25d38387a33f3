"""The production settings: https-only headers and cookies, `check --deploy` clean.

Settings are read once per process, so each case starts Python with the
environment under test (PUBLIC_URL, DJANGO_DEBUG, a long random secret)
and reads the answer from its output.
"""

import json
import os
import secrets
import subprocess
import sys

import pytest

from tests.live_server import ROOT

HTTPS_URL = "https://mcp.example.com"

# Renders the login page (sets the CSRF cookie) and signs nobody in, so no
# database is needed: what a browser gets over https and over http.
PROBE = """
import json
import django
from django.conf import settings
from django.test import Client
from django.test.utils import setup_test_environment

django.setup()
setup_test_environment()
# Name the source static files, as the suite does (tests/conftest.py): a
# fresh checkout has run no collectstatic, so there is no manifest.
settings.STORAGES = {
    **settings.STORAGES,
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
answers = {}
for secure in (True, False):
    response = Client().get("/accounts/login/", secure=secure)
    cookie = response.cookies[settings.CSRF_COOKIE_NAME]
    answers["https" if secure else "http"] = {
        "status": response.status_code,
        "hsts": response.headers.get("Strict-Transport-Security"),
        "csrf_cookie_secure": bool(cookie["secure"]),
    }
answers["session_cookie_secure"] = settings.SESSION_COOKIE_SECURE
print(json.dumps(answers))
"""


def _production_env(public_url: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "PUBLIC_URL": public_url,
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
        "DJANGO_ALLOWED_HOSTS": "mcp.example.com,testserver",
        **extra,
    }


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _probe(public_url: str, **extra: str) -> dict:
    finished = _run(["-c", PROBE], _production_env(public_url, **extra))
    assert finished.returncode == 0, finished.stderr
    return json.loads(finished.stdout)


def test_check_deploy_is_clean_under_the_production_settings() -> None:
    finished = _run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        _production_env(HTTPS_URL),
    )
    assert finished.returncode == 0, finished.stderr
    assert "System check identified no issues" in finished.stdout
    assert "WARNING" not in finished.stderr


def test_check_deploy_still_warns_when_the_site_is_served_over_http() -> None:
    finished = _run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        _production_env("http://mcp.example.com"),
    )
    assert finished.returncode != 0
    for warning in ("security.W004", "security.W012", "security.W016"):
        assert warning in finished.stderr


def test_https_public_url_sends_hsts_and_secure_cookies() -> None:
    answers = _probe(HTTPS_URL)
    assert answers["https"]["status"] == 200
    assert answers["https"]["hsts"] == "max-age=31536000; includeSubDomains"
    assert answers["https"]["csrf_cookie_secure"] is True
    assert answers["session_cookie_secure"] is True
    # HSTS means nothing over plain http; browsers ignore it there.
    assert answers["http"]["hsts"] is None


def test_hsts_preload_and_lifetime_are_the_operators_choice() -> None:
    answers = _probe(
        HTTPS_URL,
        DJANGO_SECURE_HSTS_SECONDS="600",
        DJANGO_SECURE_HSTS_PRELOAD="true",
        DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS="false",
    )
    assert answers["https"]["hsts"] == "max-age=600; preload"


@pytest.mark.parametrize("hsts_seconds", [None, "600"])
def test_http_public_url_sends_no_hsts_and_plain_cookies(
    hsts_seconds: str | None,
) -> None:
    extra = {"DJANGO_SECURE_HSTS_SECONDS": hsts_seconds} if hsts_seconds else {}
    answers = _probe("http://localhost:8000", **extra)
    assert answers["https"]["hsts"] is None
    assert answers["https"]["csrf_cookie_secure"] is False
    assert answers["session_cookie_secure"] is False


def test_the_proxy_header_is_trusted_only_when_asked() -> None:
    script = (
        "import django; from django.conf import settings; django.setup(); "
        "print(getattr(settings, 'SECURE_PROXY_SSL_HEADER', None))"
    )
    default = _run(["-c", script], _production_env(HTTPS_URL))
    opted_in = _run(
        ["-c", script],
        _production_env(HTTPS_URL, DJANGO_SECURE_PROXY_SSL_HEADER="true"),
    )
    assert default.stdout.strip() == "None"
    assert opted_in.stdout.strip() == "('HTTP_X_FORWARDED_PROTO', 'https')"
