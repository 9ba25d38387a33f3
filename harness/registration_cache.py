"""The registrations a terminal client reuses: one per server and user.

`RegistrationCache` keeps, in one JSON file, the public client each
(issuer, username) pair registered: its `client_id` and the loopback
`redirect_uri` it registered, nothing else (a public client has no secret,
and tokens are never stored). The file lives in `cache_path()`:
`$HARNESS_CACHE_DIR/registrations.json`, by default under the project's
`.cache/harness/`.

The cache only saves registrations, so it never fails a run: a file that
cannot be read or is not the expected JSON is ignored, and one that cannot
be written is left as it was, each with a note through `note`. Writes go
to a temporary file first and replace the cache with `os.replace`, so a
reader never sees half a file. Two runs writing at once may lose one
entry, which costs a registration on a later run, never a failure.
"""

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from django.conf import settings

from harness.exchange import Step, quiet
from harness.registration import Registration

CACHE_DIR_ENV = "HARNESS_CACHE_DIR"
"""The environment variable that moves the cache (tests point it at a
temporary directory)."""


def cache_path() -> Path:
    """The cache file: in `$HARNESS_CACHE_DIR`, else `.cache/harness/`."""
    directory = os.environ.get(CACHE_DIR_ENV) or settings.BASE_DIR / ".cache/harness"
    return Path(directory) / "registrations.json"


def _registration(entry: Any) -> Registration | None:
    if not isinstance(entry, dict):
        return None
    client_id, redirect_uri = entry.get("client_id"), entry.get("redirect_uri")
    if not (isinstance(client_id, str) and client_id):
        return None
    if not (isinstance(redirect_uri, str) and redirect_uri):
        return None
    return Registration(client_id=client_id, redirect_uri=redirect_uri)


class RegistrationCache:
    """Registrations on disk, keyed by the issuer and the username.

    The file is `{issuer: {username: {"client_id", "redirect_uri"}}}`. Each
    method reads it afresh, so a run sees what another run wrote since.
    """

    def __init__(self, path: Path, *, note: Step = quiet) -> None:
        self.path = path
        self.note = note

    def get(self, issuer: str, username: str) -> Registration | None:
        """The registration cached for `username` at `issuer`, or None."""
        return _registration(self._read().get(issuer, {}).get(username))

    def put(self, issuer: str, username: str, registration: Registration) -> None:
        """Cache `registration` for `username` at `issuer`."""
        entries = self._read()
        entries.setdefault(issuer, {})[username] = {
            "client_id": registration.client_id,
            "redirect_uri": registration.redirect_uri,
        }
        self._write(entries)

    def drop(self, issuer: str, username: str) -> None:
        """Forget the registration of `username` at `issuer`, if any."""
        entries = self._read()
        users = entries.get(issuer, {})
        if users.pop(username, None) is None:
            return
        if not users:
            del entries[issuer]
        self._write(entries)

    def _read(self) -> dict[str, dict[str, Any]]:
        """The file's entries; {} when it is missing, unreadable or malformed."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError) as exc:
            self.note(f"ignoring the registration cache {self.path}: {exc}")
            return {}
        try:
            entries = json.loads(text)
        except ValueError as exc:
            self.note(f"ignoring the registration cache {self.path}: not JSON ({exc})")
            return {}
        if not isinstance(entries, dict) or not all(
            isinstance(users, dict) for users in entries.values()
        ):
            self.note(
                f"ignoring the registration cache {self.path}: not an object of issuers"
            )
            return {}
        return entries

    def _write(self, entries: dict[str, dict[str, Any]]) -> None:
        text = json.dumps(entries, indent=2, sort_keys=True) + "\n"
        temporary = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(
                "w",
                encoding="utf-8",
                dir=self.path.parent,
                prefix=f".{self.path.name}.",
                suffix=".tmp",
                delete=False,
            ) as file:
                temporary = Path(file.name)
                file.write(text)
            os.replace(temporary, self.path)
        except OSError as exc:
            if temporary is not None:
                temporary.unlink(missing_ok=True)
            self.note(f"could not write the registration cache {self.path}: {exc}")
