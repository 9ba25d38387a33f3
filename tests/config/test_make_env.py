"""scripts/make_env.py writes a .env that is safe to serve from."""

import subprocess
import sys
from pathlib import Path

from tests.live_server import ROOT


def test_the_generated_env_has_debug_off_and_a_fresh_secret(tmp_path: Path):
    (tmp_path / ".env.example").write_text((ROOT / ".env.example").read_text())
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_env.py")],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    values = dict(
        line.split("=", 1)
        for line in (tmp_path / ".env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert values["DJANGO_DEBUG"] == "false"
    assert values["DJANGO_SECRET_KEY"] not in ("", "dev-only-change-me")
