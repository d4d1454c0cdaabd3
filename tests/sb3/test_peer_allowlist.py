"""The allow-list of SB3's own tests (tests/peer/allowlist.toml) stays short and says why for every entry."""

import tomllib
from pathlib import Path

ALLOWLIST = tomllib.loads((Path(__file__).parents[1] / "peer" / "allowlist.toml").read_text())
OURS = {"SAC": "SACV1", "DQN": "SoftQLearning"}


def test_only_the_substituted_names_and_few_entries():
    assert set(ALLOWLIST) == set(OURS)
    assert sum(len(entries) for entries in ALLOWLIST.values()) <= 10


def test_every_entry_names_a_test_and_a_reason():
    for name, entries in ALLOWLIST.items():
        for entry in entries:
            assert set(entry) == {"test", "reason"}, entry
            assert entry["test"].startswith("test_") and ".py::test_" in entry["test"], entry
            assert len(entry["reason"]) > 30, entry
            # a parametrised id names our class, never SB3's
            assert f"-{name}]" not in entry["test"] and f"[{name}]" not in entry["test"], entry
            if "[" in entry["test"] and "SAC" in name:
                assert OURS[name] in entry["test"], entry
