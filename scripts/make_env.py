"""Create .env from .env.example with a freshly generated secret key.

Never overwrites an existing .env. Uses only the standard library, so it
runs before the virtual environment exists.
"""

import secrets
import sys
from pathlib import Path


def main() -> None:
    target = Path(".env")
    if target.exists():
        return
    lines = []
    for line in Path(".env.example").read_text().splitlines():
        if line.startswith("DJANGO_SECRET_KEY="):
            line = f"DJANGO_SECRET_KEY={secrets.token_urlsafe(50)}"
        lines.append(line)
    target.write_text("\n".join(lines) + "\n")
    sys.stdout.write("Created .env from .env.example with a new secret key.\n")


if __name__ == "__main__":
    main()
