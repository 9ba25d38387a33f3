"""The registration cache on disk: keyed by issuer and user, never in the way."""

import json
from pathlib import Path

from django.conf import settings

from harness.registration import Registration
from harness.registration_cache import CACHE_DIR_ENV, RegistrationCache, cache_path

ISSUER = "http://localhost:8000"
ALICE = Registration("client-a", "http://127.0.0.1:50001/callback")
BOB = Registration("client-b", "http://127.0.0.1:50002/callback")


def _cache(tmp_path: Path) -> tuple[RegistrationCache, list[str]]:
    notes: list[str] = []
    return RegistrationCache(tmp_path / "registrations.json", note=notes.append), notes


def test_cache_path_is_under_dot_cache_unless_the_environment_moves_it(
    tmp_path, monkeypatch
):
    monkeypatch.delenv(CACHE_DIR_ENV, raising=False)
    assert cache_path() == settings.BASE_DIR / ".cache/harness/registrations.json"
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path))
    assert cache_path() == tmp_path / "registrations.json"


def test_registrations_are_kept_per_issuer_and_user(tmp_path):
    cache, notes = _cache(tmp_path)
    assert cache.get(ISSUER, "alice") is None
    cache.put(ISSUER, "alice", ALICE)
    cache.put(ISSUER, "bob", BOB)
    assert cache.get(ISSUER, "alice") == ALICE
    assert cache.get(ISSUER, "bob") == BOB
    assert cache.get("http://localhost:9000", "alice") is None
    assert notes == []


def test_the_file_holds_only_the_client_id_and_redirect_uri(tmp_path):
    cache, _ = _cache(tmp_path)
    cache.put(ISSUER, "alice", ALICE)
    assert json.loads(cache.path.read_text()) == {
        ISSUER: {
            "alice": {"client_id": ALICE.client_id, "redirect_uri": ALICE.redirect_uri}
        }
    }


def test_a_write_replaces_the_file_and_leaves_no_temporary_file(tmp_path):
    cache, _ = _cache(tmp_path / "made")
    cache.put(ISSUER, "alice", ALICE)
    cache.put(ISSUER, "alice", BOB)
    assert cache.get(ISSUER, "alice") == BOB
    assert [p.name for p in cache.path.parent.iterdir()] == ["registrations.json"]


def test_drop_forgets_one_user_and_then_the_empty_issuer(tmp_path):
    cache, _ = _cache(tmp_path)
    cache.put(ISSUER, "alice", ALICE)
    cache.put(ISSUER, "bob", BOB)
    cache.drop(ISSUER, "alice")
    assert cache.get(ISSUER, "alice") is None
    assert cache.get(ISSUER, "bob") == BOB
    cache.drop(ISSUER, "bob")
    cache.drop(ISSUER, "nobody")
    assert json.loads(cache.path.read_text()) == {}


def test_a_corrupt_file_is_ignored_with_a_note_and_replaced_on_write(tmp_path):
    cache, notes = _cache(tmp_path)
    cache.path.write_text("{not json")
    assert cache.get(ISSUER, "alice") is None
    assert notes[0].startswith(f"ignoring the registration cache {cache.path}")
    cache.put(ISSUER, "alice", ALICE)
    assert cache.get(ISSUER, "alice") == ALICE


def test_entries_of_the_wrong_shape_are_ignored(tmp_path):
    cache, notes = _cache(tmp_path)
    cache.path.write_text(json.dumps(["not", "an", "object"]))
    assert cache.get(ISSUER, "alice") is None
    assert len(notes) == 1
    cache.path.write_text(
        json.dumps({ISSUER: {"alice": {"client_id": 7}, "bob": "client-b"}})
    )
    assert cache.get(ISSUER, "alice") is None
    assert cache.get(ISSUER, "bob") is None


def test_an_unreadable_or_unwritable_cache_only_adds_notes(tmp_path):
    (tmp_path / "registrations.json").mkdir()
    cache, notes = _cache(tmp_path)
    assert cache.get(ISSUER, "alice") is None
    cache.put(ISSUER, "alice", ALICE)
    assert len(notes) == 3  # read on get, read on put, the failed write
    assert notes[-1].startswith("could not write the registration cache")
    assert [p.name for p in tmp_path.iterdir()] == ["registrations.json"]
