"""Django's password validators hold for real accounts; the demo seed is exempt.

AUTH_PASSWORD_VALIDATORS (similarity, length, common, numeric) apply where
accounts are made or their passwords changed: the console's add-user and
change-password forms, `createsuperuser` (with --noinput too) and
`changepassword`. `seed_demo` sets its shared demo password directly.
"""

from http import HTTPStatus
from io import StringIO

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from accounts.models import User
from tenants.demo import seed_demo_data

pytestmark = pytest.mark.django_db

STRONG = "quartz-lantern-meadow-41"


@pytest.fixture
def operator() -> Client:
    client = Client()
    client.force_login(
        User.objects.create_superuser("root", "root@example.com", STRONG)
    )
    return client


@pytest.mark.parametrize(
    "password", ["demo", "password123", "12345678901", "frankfrank1"]
)
def test_the_validators_refuse_weak_passwords(password):
    with pytest.raises(ValidationError):
        validate_password(password, User(username="frankfrank1"))


def test_the_console_refuses_a_weak_password_for_a_new_user(operator):
    add = reverse("admin:accounts_user_add")
    form = {
        "username": "frank",
        "usable_password": "true",
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
    }

    weak = operator.post(add, {**form, "password1": "demo", "password2": "demo"})
    assert weak.status_code == HTTPStatus.OK
    assert "This password is too short." in str(weak.context["adminform"].form.errors)
    assert not User.objects.filter(username="frank").exists()

    strong = operator.post(add, {**form, "password1": STRONG, "password2": STRONG})
    assert strong.status_code == HTTPStatus.FOUND
    assert User.objects.get(username="frank").check_password(STRONG)


def test_the_console_refuses_a_weak_password_change(operator):
    frank = User.objects.create_user("frank", password=STRONG)
    url = reverse("admin:auth_user_password_change", args=[frank.pk])

    answer = operator.post(url, {"password1": "password", "password2": "password"})

    assert answer.status_code == HTTPStatus.OK
    assert "This password is too common." in str(answer.context["form"].errors)
    frank.refresh_from_db()
    assert frank.check_password(STRONG)


def test_createsuperuser_noinput_validates_the_password(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "admin")
    with pytest.raises(CommandError, match="too short"):
        call_command(
            "createsuperuser",
            "--noinput",
            username="ops",
            email="ops@example.com",
            stdout=StringIO(),
        )
    assert not User.objects.filter(username="ops").exists()

    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", STRONG)
    call_command(
        "createsuperuser",
        "--noinput",
        username="ops",
        email="ops@example.com",
        stdout=StringIO(),
    )
    assert User.objects.get(username="ops").check_password(STRONG)


def test_createsuperuser_noinput_refuses_a_password_like_the_username(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "operations-lead")
    with pytest.raises(CommandError, match="too similar"):
        call_command(
            "createsuperuser",
            "--noinput",
            username="operations-lead",
            email="lead@example.com",
            stdout=StringIO(),
        )


def test_changepassword_validates_too(monkeypatch):
    User.objects.create_user("frank", password=STRONG)
    answers = iter(["demo", "demo"] * 3)
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))

    with pytest.raises(CommandError, match="Aborting password change"):
        call_command("changepassword", "frank", stdout=StringIO())


def test_the_demo_seed_keeps_its_weak_shared_password():
    seed_demo_data()

    assert User.objects.get(username="alice").check_password("demo")
