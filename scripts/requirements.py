"""Print the pinned requirements of pyproject.toml (runtime and test extras).

The project is not a distributable package, so `make` installs these
directly instead of building a wheel of it.
"""

import sys
import tomllib
from pathlib import Path


def main() -> None:
    project = tomllib.loads(Path("pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        requirements.extend(extra)
    sys.stdout.write("\n".join(requirements) + "\n")


if __name__ == "__main__":
    main()
