"""The harness's registration cache stays in a temporary directory.

The commands run by these tests, in this process (the autouse fixture) and
as subprocesses (`live_env`, given to each live server), never read or
write the developer's `.cache/harness/`.
"""

from pathlib import Path

import pytest

from harness.registration_cache import CACHE_DIR_ENV


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("harness-cache")


@pytest.fixture(scope="module")
def live_env(cache_dir: Path) -> dict[str, str]:
    """The environment a live server (and its subprocesses) gets on top."""
    return {CACHE_DIR_ENV: str(cache_dir)}


@pytest.fixture(autouse=True)
def _cache_in_a_temporary_directory(
    cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CACHE_DIR_ENV, str(cache_dir))
