import pytest
from django.test import Client

from accounts.models import User
from tenants.demo import seed_demo_data
from tests.factories import MembershipFactory, TenantFactory
from tests.oauth import flow


@pytest.fixture
def demo(db) -> None:
    seed_demo_data()


@pytest.fixture
def public_client(demo) -> dict:
    return flow.register(Client())


def logged_in(username: str) -> Client:
    client = Client()
    client.force_login(User.objects.get(username=username))
    return client


@pytest.fixture
def alice(demo) -> Client:
    return logged_in("alice")


@pytest.fixture
def bob(demo) -> Client:
    return logged_in("bob")


@pytest.fixture
def dave(demo) -> Client:
    """A member of tenant-a (admin) and of a second tenant (member)."""
    user = User.objects.create_user("dana", password="demo")
    MembershipFactory(
        user=user,
        tenant=User.objects.get(username="alice").memberships.get().tenant,
        role="admin",
    )
    MembershipFactory(user=user, tenant=TenantFactory(slug="tenant-c"), role="member")
    return logged_in("dana")
