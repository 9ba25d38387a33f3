import factory

from accounts.models import User
from tenants.models import Document, Membership, Report, Tenant, TenantTool, Tool


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("pw")


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant

    slug = factory.Sequence(lambda n: f"tenant-{n}")
    name = factory.LazyAttribute(lambda t: t.slug.title())


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    tenant = factory.SubFactory(TenantFactory)
    role = Membership.Role.MEMBER


class ToolFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tool
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"tool_{n}")
    description = "A tool."
    required_scopes = "tools:call"


class TenantToolFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TenantTool

    tenant = factory.SubFactory(TenantFactory)
    tool = factory.SubFactory(ToolFactory)
    enabled = True


class DocumentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Document

    tenant = factory.SubFactory(TenantFactory)
    title = factory.Sequence(lambda n: f"Document {n}")
    body = "Some text."


class ReportFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Report

    tenant = factory.SubFactory(TenantFactory)
    report_id = factory.Sequence(lambda n: f"r{n}")
    title = "A report"
    rows = factory.LazyFunction(lambda: [{"a": 1}])
