"""A real cluster for the tests of this package: nodes behind HAProxy.

Runs only on PostgreSQL (DATABASE_URL): the nodes share one database,
which SQLite cannot be across processes of a deployment. Each cluster gets
a throwaway database of its own (dropped after), Redis as its cache at
MCP_TEST_REDIS_URL under a key prefix of its own, and a state directory
under pytest's tmp; deploy/cluster.py starts and stops it, as
scripts/cluster.py does, and `down` runs even when a test fails.
"""

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

from deploy import cluster
from deploy.cluster import ClusterState
from tests.live_server import LiveServer, _database, free_port
from tests.mcpserver.test_quotas_live import REDIS_URL

POSTGRES = os.environ.get("DATABASE_URL", "").startswith(
    ("postgres://", "postgresql://")
)

NEEDS_POSTGRES = pytest.mark.skip(
    reason="the cluster tests need PostgreSQL (DATABASE_URL=postgres://...): "
    "the nodes share one database"
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Skip every test of this package, with the reason, off PostgreSQL."""
    here = Path(__file__).parent
    for item in items:
        if not POSTGRES and here in item.path.parents:
            item.add_marker(NEEDS_POSTGRES)


@contextmanager
def running_cluster(
    tmp_path: Path, *, node_count: int, sessions: bool = False
) -> Iterator[ClusterState]:
    """A ready cluster on a fresh database; everything it started stopped after."""
    if shutil.which("haproxy") is None and not Path("/usr/sbin/haproxy").exists():
        pytest.fail("haproxy is needed: `make haproxy` installs Debian's")
    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
    except redis.RedisError as error:
        pytest.fail(f"Redis at {REDIS_URL} is needed (MCP_TEST_REDIS_URL): {error}")
    state_dir = tmp_path / "cluster"
    with _database(tmp_path) as database_url:
        try:
            yield cluster.up(
                node_count=node_count,
                public_port=free_port(),
                database_url=database_url,
                cache_url=f"{REDIS_URL}?key_prefix=cluster-{uuid.uuid4().hex}",
                sessions=sessions,
                state_dir=state_dir,
                extra_env={
                    "DJANGO_SECRET_KEY": "cluster-test-" + uuid.uuid4().hex,
                    "HARNESS_CACHE_DIR": str(tmp_path / "harness-cache"),
                },
            )
        finally:
            cluster.down(state_dir)


def as_live_server(state: ClusterState) -> LiveServer:
    """The cluster seen as one server (its public URL; manage.py on its DB)."""
    return LiveServer(
        url=state.public_url,
        env=state.env(),
        log_path=Path(state.state_dir) / "logs" / "node1.log",
    )
