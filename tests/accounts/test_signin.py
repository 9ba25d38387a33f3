"""Sign-in protection at /accounts/login/ and the console's login form.

Failures lock a username (5 a window) and an address (20 a window); a
locked sign-in is refused with 429 before its password is checked; unknown
usernames read exactly like wrong passwords; every failure is audited with
its address and the throttle's state, a lockout once when it starts.
"""

from http import HTTPStatus

import pytest
from django.test import Client
from django.urls import reverse

from accounts import throttle
from audit.models import AuditEvent
from harness.pages import parse_page
from tests.conftest import THROTTLE_EPOCH
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
ADDRESS = "203.0.113.7"
LOCKED = "Too many failed sign-ins; try again in 900 seconds."
MISMATCH = "Your username and password didn't match. Please try again."


@pytest.fixture
def erin() -> None:
    UserFactory(username="erin", password="correct-horse-battery")


def sign_in(
    username: str, password: str, *, address: str = ADDRESS, client=None
) -> object:
    return (client or Client()).post(
        LOGIN,
        {"username": username, "password": password},
        REMOTE_ADDR=address,
        HTTP_USER_AGENT="SignInTest/1.0",
    )


def failed_rows() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(event="login_failed").order_by("id"))


def test_the_fifth_failure_locks_the_username_and_the_right_password_is_refused(
    erin,
):
    for _ in range(5):
        assert sign_in("erin", "wrong").status_code == HTTPStatus.OK

    client = Client()
    refused = sign_in("erin", "correct-horse-battery", client=client)

    assert refused.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert refused["Retry-After"] == "900"
    assert parse_page(refused.content.decode()).errors == [LOCKED]
    assert "_auth_user_id" not in client.session  # not signed in
    # From another address too: the username is locked, wherever from.
    assert sign_in("erin", "x", address="198.51.100.1").status_code == 429


def test_a_correct_password_during_a_lockout_is_never_checked(erin, monkeypatch):
    for _ in range(5):
        sign_in("erin", "wrong")
    checked = []
    monkeypatch.setattr(
        "django.contrib.auth.forms.authenticate",
        lambda *args, **kwargs: checked.append(kwargs),
    )

    assert sign_in("erin", "correct-horse-battery").status_code == 429
    assert checked == []


def test_an_unknown_username_reads_exactly_like_a_wrong_password(erin):
    known, unknown = sign_in("erin", "wrong"), sign_in("nobody", "wrong")

    assert known.status_code == unknown.status_code == HTTPStatus.OK
    assert parse_page(known.content.decode()).errors == [MISMATCH]
    assert parse_page(unknown.content.decode()).errors == [MISMATCH]
    for _ in range(4):
        sign_in("erin", "wrong")
        sign_in("nobody", "wrong")
    locked_known, locked_unknown = sign_in("erin", "x"), sign_in("nobody", "x")
    assert locked_known.status_code == locked_unknown.status_code == 429
    assert locked_known["Retry-After"] == locked_unknown["Retry-After"]
    assert parse_page(locked_unknown.content.decode()).errors == [LOCKED]


def test_the_username_is_case_folded_into_one_budget(erin):
    for name in ("erin", "Erin", "ERIN", " erin", "eRin"):
        sign_in(name, "wrong")

    assert sign_in("erin", "correct-horse-battery").status_code == 429


def test_twenty_failures_lock_the_address_for_every_username(erin):
    for n in range(20):
        assert sign_in(f"guess{n}", "wrong").status_code == HTTPStatus.OK

    assert sign_in("erin", "correct-horse-battery").status_code == 429
    elsewhere = sign_in("erin", "correct-horse-battery", address="198.51.100.1")
    assert elsewhere.status_code == HTTPStatus.FOUND


def test_an_ipv6_address_is_counted_by_its_64(erin, settings):
    settings.LOGIN_FAILURES_PER_ADDRESS = 3
    for n, address in enumerate(
        ("2001:db8:0:1::1", "2001:db8:0:1::2", "2001:db8:0:1:ffff:ffff:ffff:ffff")
    ):
        sign_in(f"guess{n}", "wrong", address=address)

    assert sign_in("erin", "x", address="2001:db8:0:1::99").status_code == 429
    assert sign_in("erin", "x", address="2001:db8:0:2::1").status_code == 200
    assert throttle.address_key("::ffff:192.0.2.1") == "192.0.2.1"


def test_a_success_clears_the_username_count_but_not_the_address_count(erin, settings):
    settings.LOGIN_FAILURES_PER_ADDRESS = 10
    for _ in range(4):
        sign_in("erin", "wrong")
    assert sign_in("erin", "correct-horse-battery").status_code == HTTPStatus.FOUND
    for _ in range(4):
        sign_in("erin", "wrong")

    assert sign_in("erin", "correct-horse-battery").status_code == HTTPStatus.FOUND
    # 8 failures and 2 successes from ADDRESS: two more failures lock it.
    sign_in("someone", "wrong")
    sign_in("someone-else", "wrong")
    assert sign_in("erin", "correct-horse-battery").status_code == 429


def test_the_lockout_ends_after_its_window(erin, throttle_clock):
    for _ in range(5):
        sign_in("erin", "wrong")
    throttle_clock.append(throttle_clock[-1] + 600)
    waiting = sign_in("erin", "correct-horse-battery")
    assert waiting["Retry-After"] == "300"

    throttle_clock.append(throttle_clock[-1] + 300)

    assert sign_in("erin", "correct-horse-battery").status_code == HTTPStatus.FOUND


def test_failures_split_across_a_window_boundary_still_lock(erin, throttle_clock):
    """Fixed windows forgot 3 failures at the boundary: the 5th locked nothing
    (and the browser test of the lockout failed when it ran across one)."""
    boundary = THROTTLE_EPOCH + 900
    throttle_clock.append(boundary - 2)
    for _ in range(3):
        sign_in("erin", "wrong")
    throttle_clock.append(boundary + 1)
    for _ in range(2):
        sign_in("erin", "wrong")

    assert sign_in("erin", "correct-horse-battery").status_code == 429
    assert failed_rows()[4].arguments["throttle"]["username_failures"] == 5


def test_failures_of_the_window_before_fade_as_it_slides_past(erin, throttle_clock):
    for _ in range(4):  # 5 s into a window
        sign_in("erin", "wrong")
    # 890 s into the next window: ~1 % of the window before is still covered.
    throttle_clock.append(THROTTLE_EPOCH + 900 + 890)
    sign_in("erin", "wrong")

    assert failed_rows()[4].arguments["throttle"]["username_failures"] == 2
    assert sign_in("erin", "correct-horse-battery").status_code == HTTPStatus.FOUND


def test_every_failure_is_audited_with_its_address_and_the_throttle_state(erin):
    for _ in range(5):
        sign_in("erin", "wrong")

    rows = failed_rows()

    assert [row.source_ip for row in rows] == [ADDRESS] * 5
    assert {row.user_agent for row in rows} == {"SignInTest/1.0"}
    assert {row.outcome for row in rows} == {"denied"}
    assert [row.arguments["throttle"] for row in rows[:2]] == [
        {"username_failures": 1, "address_failures": 1, "locked": False},
        {"username_failures": 2, "address_failures": 2, "locked": False},
    ]
    assert rows[4].arguments["throttle"] == {
        "username_failures": 5,
        "address_failures": 5,
        "locked": True,
        "lockout_started": ["username"],
        "lockout_seconds": 900,
    }
    assert rows[4].reason == "failed login for 'erin'; username locked for 900 s"


def test_refusals_during_a_lockout_leave_one_row_a_minute(erin, throttle_clock):
    for _ in range(5):
        sign_in("erin", "wrong")
    for _ in range(10):
        sign_in("erin", "correct-horse-battery")
    throttle_clock.append(throttle_clock[-1] + 60)
    sign_in("erin", "correct-horse-battery")

    refusals = failed_rows()[5:]

    assert len(refusals) == 2
    assert refusals[0].reason == (
        "failed login for 'erin': locked out "
        "(further refusals this minute not recorded)"
    )
    assert refusals[0].arguments == {"throttle": {"locked": True, "retry_after": 900}}
    assert refusals[1].arguments["throttle"]["retry_after"] == 840
    assert refusals[0].source_ip == ADDRESS


def test_the_console_login_shares_the_budget_and_answers_429(erin):
    admin_login = reverse("admin:login")
    for _ in range(3):
        sign_in("erin", "wrong")
    for _ in range(2):
        wrong = Client().post(
            admin_login, {"username": "erin", "password": "wrong"}, REMOTE_ADDR=ADDRESS
        )
        assert wrong.status_code == HTTPStatus.OK

    refused = Client().post(
        admin_login,
        {"username": "erin", "password": "correct-horse-battery"},
        REMOTE_ADDR=ADDRESS,
    )

    assert refused.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert refused["Retry-After"] == "900"
    assert refused.context["form"].non_field_errors() == [LOCKED]
    assert LOCKED in refused.content.decode()
    rows = failed_rows()
    assert rows[4].reason == (
        "failed operator console sign-in for 'erin'; username locked for 900 s"
    )
    assert rows[4].arguments["throttle"]["username_failures"] == 5
    assert rows[5].reason.startswith("failed operator console sign-in for 'erin':")


def test_a_limit_of_zero_turns_it_off(erin, settings):
    settings.LOGIN_FAILURES_PER_USERNAME = 0
    for _ in range(10):
        sign_in("erin", "wrong")

    assert sign_in("erin", "correct-horse-battery").status_code == HTTPStatus.FOUND
