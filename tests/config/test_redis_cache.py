"""The README's `CACHE_URL=rediscache://...` against a live server.

The `redis` client is a declared dependency, so Django's RedisCache loads
(it once failed /register with "No module named 'redis'"), and the URL's
`?key_prefix=` reaches Django (django-environ passes it in lower case).
"""

import uuid
from pathlib import Path

import httpx2
import redis

from tests.live_server import run_live_server
from tests.mcpserver.test_quotas_live import REDIS_URL
from tests.oauth.flow import CLAUDE_CODE_REGISTRATION


def test_register_works_with_the_readmes_rediscache_url(tmp_path: Path) -> None:
    prefix = f"readme-{uuid.uuid4().hex}"
    cache_url = REDIS_URL.replace("redis://", "rediscache://", 1)
    with run_live_server(
        tmp_path, extra_env={"CACHE_URL": f"{cache_url}?key_prefix={prefix}"}
    ) as server:
        response = httpx2.post(
            f"{server.url}/register", json=CLAUDE_CODE_REGISTRATION, timeout=10
        )

        assert response.status_code == 201, server.log()[-2000:]
        assert response.json()["client_id"]
        # The registration limit counted in Redis, under the URL's prefix.
        client = redis.Redis.from_url(REDIS_URL)
        assert list(client.scan_iter(f"{prefix}:*"))
        assert "No module named" not in server.log()
