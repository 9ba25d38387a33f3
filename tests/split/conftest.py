"""One issuer (a live authorization server) per test module, and its clients."""

from collections.abc import Iterator

import pytest

from tests.live_server import LiveServer, run_live_server
from tests.split.servers import Credentials, create_clients


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """An authorization server with its uvicorn access log (JWKS fetches)."""
    path = tmp_path_factory.mktemp("issuer")
    with run_live_server(path, host="127.0.0.1", log_level="info") as server:
        yield server


@pytest.fixture(scope="module")
def credentials(issuer: LiveServer) -> Credentials:
    return create_clients(issuer)
