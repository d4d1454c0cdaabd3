"""
A pytest plugin that runs SB3's own test suite with one of our classes in place of SB3's.

``SB3_SUBSTITUTE=SAC`` puts ``SACV1`` where the tests import ``SAC``; ``SB3_SUBSTITUTE=DQN`` puts
``SoftQLearning`` where they import ``DQN``. Only the tests that exercise the substituted class are kept: those
parametrised with it, and those without an algorithm parameter whose source names it. Failures listed in
``allowlist.toml`` (each with the reason: the test reads the substituted class's own internals) are expected
failures, strictly: an entry that passes fails the run, so the list cannot go stale.

SB3's wall-clock tests (``TIMING_TESTS``) measure the machine as much as the class: run beside another pytest
worker on two cores, SB3's own DQN fails them too. ``SB3_TIMING=exclude`` leaves them out and ``SB3_TIMING=only``
keeps only them, so that ``run_sb3_suite.sh`` runs them in a serial pass of their own, on a quiet machine.

Used by ``run_sb3_suite.sh``; not collected by our own suite.
"""

from __future__ import annotations

import inspect
import os
import re
import tomllib
from pathlib import Path

import pytest

SUBSTITUTES = {"SAC": ("sac", "sb3_maxent", "SACV1"), "DQN": ("dqn", "sb3_maxent", "SoftQLearning")}
ALLOWLIST = Path(__file__).with_name("allowlist.toml")
TIMING_TESTS = ("test_fps_logger",)


def _substitute() -> tuple[str, type, type]:
    name = os.environ.get("SB3_SUBSTITUTE", "")
    if name not in SUBSTITUTES:
        raise pytest.UsageError(f"set SB3_SUBSTITUTE to one of {sorted(SUBSTITUTES)}, got {name!r}")
    import importlib

    import stable_baselines3

    module_name, package, class_name = SUBSTITUTES[name]
    original = getattr(stable_baselines3, name)
    ours = getattr(importlib.import_module(package), class_name)
    # before the test modules import it: `from stable_baselines3 import SAC` then gives ours
    setattr(stable_baselines3, name, ours)
    setattr(importlib.import_module(f"stable_baselines3.{module_name}"), name, ours)
    return name, original, ours


def pytest_configure(config: pytest.Config) -> None:
    name, original, ours = _substitute()
    config.stash[_KEY] = (name, original, ours)
    config.addinivalue_line("markers", "expensive: SB3's marker for slow tests")


_KEY = pytest.StashKey[tuple[str, type, type]]()


def _algorithm_parameters(item: pytest.Item) -> list[type]:
    from stable_baselines3.common.base_class import BaseAlgorithm

    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return []
    return [value for value in callspec.params.values() if inspect.isclass(value) and issubclass(value, BaseAlgorithm)]


def _exercises(item: pytest.Item, name: str, ours: type) -> bool:
    algorithms = _algorithm_parameters(item)
    if algorithms:
        return ours in algorithms
    function = getattr(item, "function", None)
    if function is None:
        return False
    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):
        return False
    return re.search(rf"\b{name}\b", source) is not None


def _allowlist(name: str) -> dict[str, str]:
    entries = tomllib.loads(ALLOWLIST.read_text()).get(name, [])
    return {entry["test"]: entry["reason"] for entry in entries}


def _short_id(item: pytest.Item) -> str:
    """``test_file.py::test_name[params]``: the id without the folder the sdist was unpacked to."""
    return item.nodeid.rsplit("/", 1)[-1]


def _is_timing_test(item: pytest.Item) -> bool:
    return item.name.startswith(TIMING_TESTS)


def _timing_pass() -> str:
    value = os.environ.get("SB3_TIMING", "all")
    if value not in ("all", "exclude", "only"):
        raise pytest.UsageError(f"SB3_TIMING must be all, exclude or only, got {value!r}")
    return value


def _in_this_pass(short_id: str) -> bool:
    """Whether a test id (an allow-list entry) is run by this pass."""
    timing = short_id.split("::", 1)[-1].startswith(TIMING_TESTS)
    return {"all": True, "exclude": not timing, "only": timing}[_timing_pass()]


def _split_timing_tests(kept: list[pytest.Item], dropped: list[pytest.Item]) -> tuple[list, list]:
    selected = [item for item in kept if _in_this_pass(_short_id(item))]
    return selected, dropped + [item for item in kept if item not in selected]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    name, _, ours = config.stash[_KEY]
    allowed = _allowlist(name)
    kept, dropped = [], []
    for item in items:
        (kept if _exercises(item, name, ours) else dropped).append(item)
    kept, dropped = _split_timing_tests(kept, dropped)
    for item in kept:
        if _is_timing_test(item):
            # wall-clock assertions: one slow scheduler slice fails them, so they get two retries
            item.add_marker(pytest.mark.flaky(reruns=2))
        reason = allowed.pop(_short_id(item), None)
        if reason is not None:
            item.add_marker(pytest.mark.xfail(reason=f"allow-list: {reason}", strict=True))
    allowed = {test: reason for test, reason in allowed.items() if _in_this_pass(test)}
    if allowed:
        raise pytest.UsageError(f"allow-list entries that match no collected test: {sorted(allowed)}")
    items[:] = kept
    config.hook.pytest_deselected(items=dropped)


def pytest_report_header(config: pytest.Config) -> str:
    _, original, ours = config.stash[_KEY]
    return f"SB3's tests with {ours.__module__}.{ours.__name__} in place of {original.__module__}.{original.__name__}"


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:  # type: ignore[no-untyped-def]
    name, _, ours = config.stash[_KEY]
    stats = terminalreporter.stats
    counts = {
        key: len([r for r in stats.get(key, []) if getattr(r, "when", "call") in ("call", "setup")])
        for key in ("passed", "failed", "error", "xfailed", "xpassed", "skipped")
    }
    total = sum(counts.values())
    if total == 0:
        return
    tests = {"all": "tests", "exclude": "tests but the wall-clock ones", "only": "wall-clock tests"}[_timing_pass()]
    line = (
        f"{counts['passed']} of SB3's {total} {name} {tests} pass with {ours.__name__} in place of {name}; "
        f"{counts['xfailed']} allow-listed, {counts['skipped']} skipped, "
        f"{counts['failed'] + counts['error'] + counts['xpassed']} unexpected"
    )
    terminalreporter.write_line(line)
