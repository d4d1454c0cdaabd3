"""tests/mutation/score.py follows an equivalent mutant through mutmut's renumbering by the change it makes."""

import sys
from pathlib import Path

import pytest

pytest.importorskip("mutmut", reason="the mutation extra is not installed")
sys.path.insert(0, str(Path(__file__).resolve().parent))
import score

CHANGES = {
    "sb3_maxent.m.x_f__mutmut_1": "-    a = 1\n+    a = 2",
    "sb3_maxent.m.x_f__mutmut_2": "-    b = None\n+    b = ''",  # the edit put a new mutant first
    "sb3_maxent.m.x_f__mutmut_3": "-    tol = 1e-8\n+    tol = 1.00000001e-8",
    "sb3_maxent.m.x_g__mutmut_1": "-    tol = 1e-8\n+    tol = 1.00000001e-8",
}


@pytest.fixture
def changes(monkeypatch):
    monkeypatch.setattr(score, "change_of", CHANGES.__getitem__)
    return dict.fromkeys(CHANGES, "survived")


def test_an_entry_follows_its_change_to_the_new_number_in_its_own_function(changes):
    entry = {"mutant": "sb3_maxent.m.x_f__mutmut_2", "reason": "r", "change": CHANGES["sb3_maxent.m.x_f__mutmut_3"]}
    assert score.resolve_equivalents([entry], changes) == {"sb3_maxent.m.x_f__mutmut_3": "r"}


def test_an_entry_whose_number_still_makes_its_change_keeps_it(changes):
    entry = {"mutant": "sb3_maxent.m.x_f__mutmut_1", "reason": "r", "change": CHANGES["sb3_maxent.m.x_f__mutmut_1"]}
    assert score.resolve_equivalents([entry], changes) == {"sb3_maxent.m.x_f__mutmut_1": "r"}


def test_an_entry_whose_change_is_gone_keeps_its_name_to_be_reported_stale(changes):
    entry = {"mutant": "sb3_maxent.m.x_f__mutmut_1", "reason": "r", "change": "-    c = 3\n+    c = 4"}
    assert score.resolve_equivalents([entry], changes) == {"sb3_maxent.m.x_f__mutmut_1": "r"}


def test_an_entry_without_a_change_is_taken_by_name(changes):
    assert score.resolve_equivalents([{"mutant": "sb3_maxent.m.x_g__mutmut_1", "reason": "r"}], changes) == {
        "sb3_maxent.m.x_g__mutmut_1": "r"
    }


def test_changes_are_written_as_toml_that_reads_back(changes, tmp_path, monkeypatch):
    import tomllib

    path = tmp_path / "equivalent.toml"
    path.write_text('# header\n\n[[equivalent]]\nmutant = "sb3_maxent.m.x_f__mutmut_3"\nreason = "a \\"quoted\\" reason"\n')
    monkeypatch.setattr(score, "EQUIVALENT", path)
    score.record_changes(score.equivalent_entries(), changes)
    [entry] = tomllib.loads(path.read_text())["equivalent"]
    assert entry == {"mutant": "sb3_maxent.m.x_f__mutmut_3", "reason": 'a "quoted" reason', "change": CHANGES[entry["mutant"]]}
    assert path.read_text().startswith("# header\n")
