"""`python tests/benchmark.py CONCURRENCY CALLS [bench options]`.

The Node mockup's `tests/benchmark.ts CONCURRENCY TOTAL`, kept for muscle
memory: it runs `manage.py bench --concurrency CONCURRENCY --calls CALLS`
with any further options (`--url`, `--compare URL --compare-token T`,
`--sweep 1,4,16,64 --plot bench.png`, ...) against a running server.
"""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str]) -> None:
    if len(argv) < 2 or not (argv[0].isdigit() and argv[1].isdigit()):
        sys.exit("usage: python tests/benchmark.py CONCURRENCY CALLS [bench options]")
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.management import execute_from_command_line

    concurrency, calls, *options = argv
    execute_from_command_line(
        ["manage.py", "bench", "--concurrency", concurrency, "--calls", calls, *options]
    )


if __name__ == "__main__":
    main(sys.argv[1:])
