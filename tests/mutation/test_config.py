"""The mutation-testing set-up (CONTRIBUTING.md) stays well-formed: the modules it covers, and reasons for every
mutant called equivalent."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_mutmut_covers_the_maths_modules_with_the_default_suite():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    assert sorted(config["only_mutate"]) == sorted(f"sb3_maxent/{name}/*" for name in ("common", "sacv1", "sql", "tabular"))
    assert "tests/" in config["pytest_add_cli_args_test_selection"]
    assert "not slow" in config["pytest_add_cli_args"]
    # every test file or test the selection names exists (tests/ is grouped by subject; a moved file must move here too)
    named = [
        arg.split("=", 1)[1]
        for arg in config["pytest_add_cli_args"] + config["pytest_add_cli_args_test_selection"]
        if arg.startswith(("--deselect=", "--ignore="))
    ]
    assert named
    for entry in named:
        path, _, test = entry.partition("::")
        assert (ROOT / path).is_file(), entry
        assert not test or f"def {test}(" in (ROOT / path).read_text(), entry


def test_every_equivalent_mutant_names_a_mutant_and_a_reason():
    entries = tomllib.loads((ROOT / "tests" / "mutation" / "equivalent.toml").read_text())["equivalent"]
    names = [entry["mutant"] for entry in entries]
    assert len(names) == len(set(names))
    for entry in entries:
        assert {"mutant", "reason"} <= set(entry) <= {"mutant", "reason", "change"}, entry
        assert entry["mutant"].startswith("sb3_maxent.") and "__mutmut_" in entry["mutant"], entry
        assert len(entry["reason"]) > 40, entry
