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
from deploy.state import ClusterState
from tests.live_server import LiveServer, _database, free_port
from tests.mcpserver.test_quotas_live import REDIS_URL

POSTGRES = os.environ.get("DATABASE_URL", "").startswith(
    ("postgres://", "postgresql://")
)

SECRET_KEY = "cluster-test-" + uuid.uuid4().hex
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


@pytest.fixture(scope="session")
def cluster_database(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, Path]]:
    """(URL, static root) of a throwaway database shared by this package's
    clusters: the first `up` migrates it and collects the static files,
    the next find both done (migrating a fresh database is most of an
    `up`). Dropped at the end of the session."""
    path = tmp_path_factory.mktemp("cluster-db")
    with _database(path) as database_url:
        yield database_url, path / "static"


@contextmanager
def running_cluster(
    tmp_path: Path,
    database: tuple[str, Path],
    *,
    node_count: int,
    sessions: bool = False,
) -> Iterator[ClusterState]:
    """A ready cluster on `database`; everything it started stopped after."""
    if shutil.which("haproxy") is None and not Path("/usr/sbin/haproxy").exists():
        pytest.fail("haproxy is needed: `make haproxy` installs Debian's")
    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
    except redis.RedisError as error:
        pytest.fail(f"Redis at {REDIS_URL} is needed (MCP_TEST_REDIS_URL): {error}")
    state_dir = tmp_path / "cluster"
    database_url, static_root = database
    try:
        yield cluster.up(
            node_count=node_count,
            public_port=free_port(),
            database_url=database_url,
            cache_url=f"{REDIS_URL}?key_prefix=cluster-{uuid.uuid4().hex}",
            sessions=sessions,
            state_dir=state_dir,
            extra_env={
                # One key for the package: the signing keys in the shared
                # database are encrypted with it.
                "DJANGO_SECRET_KEY": SECRET_KEY,
                "DJANGO_STATIC_ROOT": str(static_root),
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
