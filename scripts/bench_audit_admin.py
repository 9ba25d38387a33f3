"""Time the audit console's pages on a PostgreSQL table of a million rows.

    createdb -h 127.0.0.1 -U postgres mcp_bench_audit
    .venv/bin/python scripts/bench_audit_admin.py \
        --database-url postgres://postgres@127.0.0.1:5432/mcp_bench_audit
    dropdb --force -h 127.0.0.1 -U postgres mcp_bench_audit

The database is migrated, given the demo data, a dozen more tenants and
50 clients, and filled (once; a second run reuses the rows) with one
trigger-safe `INSERT ... SELECT generate_series` (tests/audit/synthetic.py)
spread over 30 days. Each page is then fetched through Django's test client
(in process: the ORM, the admin and the templates, no network) as alice,
the admin of one tenant, and as a superuser; the table prints the median
and the slowest of `--repeat` fetches after one warm-up. Use a throwaway
database: the rows are never removed.
"""

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _setup(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.test.utils import setup_test_environment

    setup_test_environment()  # admits the test client's host
    # Name the source static files, as the tests do: no collectstatic needed.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {
            "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        },
    }


def _fill(rows: int) -> dict[str, str]:
    from django.core.management import call_command
    from django.utils import timezone
    from oauth2_provider.models import get_application_model

    from accounts.models import User
    from audit.models import AuditEvent
    from tenants.demo import seed_demo_data
    from tenants.models import Membership, Tenant
    from tests.audit.synthetic import insert_synthetic_events

    call_command("migrate", verbosity=0)
    seed_demo_data()
    root, _ = User.objects.get_or_create(
        username="bench-root", defaults={"is_staff": True, "is_superuser": True}
    )
    for n in range(12):
        tenant, _ = Tenant.objects.get_or_create(slug=f"bench-{n}")
        for m in range(3):
            user, _ = User.objects.get_or_create(username=f"bench-{n}-{m}")
            Membership.objects.get_or_create(tenant=tenant, user=user)
    application = get_application_model()
    clients = [f"bench-client-{n}" for n in range(50)]
    for client_id in clients:
        application.objects.get_or_create(
            client_id=client_id,
            defaults={
                "name": f"Bench client {client_id[-2:]}",
                "client_type": application.CLIENT_PUBLIC,
                "authorization_grant_type": application.GRANT_AUTHORIZATION_CODE,
                "redirect_uris": "http://127.0.0.1:9999/callback",
            },
        )
    present = AuditEvent.objects.count()
    if present < rows:
        members = list(Membership.objects.values_list("tenant_id", "user_id"))
        started = time.perf_counter()
        insert_synthetic_events(
            rows=rows - present,
            members=members,
            clients=clients,
            tools=["echo", "search_documents", "export_report", "admin_purge"],
            newest=timezone.now(),
            span=timedelta(days=30),
            prefix=f"bench-{present}:",
        )
        print(
            f"inserted {rows - present} rows in {time.perf_counter() - started:.1f} s"
        )
    tenant_a = Tenant.objects.get(slug="tenant-a")
    sample = AuditEvent.objects.filter(tenant=tenant_a).order_by("-id").first()
    return {
        "tenant": str(tenant_a.pk),
        "user": str(User.objects.get(username="bob").pk),
        "root": root.username,
        "row": str(sample.pk),
        "request_id": sample.request_id,
    }


def _pages(ids: dict[str, str]) -> list[tuple[str, str, dict[str, str]]]:
    from django.urls import reverse
    from django.utils import timezone

    changelist = reverse("admin:audit_auditevent_changelist")
    today = timezone.localdate()
    week = {
        "occurred_from": str(today - timedelta(days=7)),
        "occurred_to": str(today - timedelta(days=1)),
    }
    return [
        ("list", changelist, {}),
        ("filter tenant", changelist, {"tenant__id__exact": ids["tenant"]}),
        ("filter user", changelist, {"user__id__exact": ids["user"]}),
        ("filter client", changelist, {"client_id": "bench-client-7"}),
        ("filter tool", changelist, {"tool": "admin_purge"}),
        ("filter event", changelist, {"event__exact": "tool_failed"}),
        ("filter outcome", changelist, {"outcome__exact": "denied"}),
        ("filter date range", changelist, week),
        ("tenant + tool + week", changelist, {"tool": "echo", **week}),
        ("search request id", changelist, {"q": ids["request_id"]}),
        ("page 50", changelist, {"p": "50"}),
        (
            "detail (bounded verify)",
            reverse("admin:audit_auditevent_change", args=[ids["row"]]),
            {},
        ),
        ("summary", reverse("admin:audit_auditevent_summary"), {}),
        (
            "export CSV tool+day",
            reverse("admin:audit_auditevent_export_csv"),
            {"tool": "admin_purge", "occurred_from": str(today)},
        ),
    ]


def _time(client, url: str, params: dict[str, str], repeat: int) -> list[float]:
    timings = []
    for attempt in range(repeat + 1):
        started = time.perf_counter()
        response = client.get(url, params)
        if response.streaming:
            for _ in response.streaming_content:
                pass
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise SystemExit(f"{url} {params}: HTTP {response.status_code}")
        if attempt:  # the first fetch warms caches
            timings.append(elapsed)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()
    _setup(options.database_url)
    from django.db import connection
    from django.test import Client

    from accounts.models import User

    if connection.vendor != "postgresql":
        raise SystemExit("The benchmark needs PostgreSQL (generate_series).")
    ids = _fill(options.rows)
    clients = {}
    for username in ("alice", ids["root"]):
        clients[username] = Client()
        clients[username].force_login(User.objects.get(username=username))
    print(f"\n{'page':<26} {'as':<11} {'median ms':>10} {'max ms':>8}")
    print("-" * 58)
    for name, url, params in _pages(ids):
        for username, client in clients.items():
            timings = _time(client, url, params, options.repeat)
            print(
                f"{name:<26} {username:<11} {statistics.median(timings):>10.1f} "
                f"{max(timings):>8.1f}"
            )


if __name__ == "__main__":
    main()
