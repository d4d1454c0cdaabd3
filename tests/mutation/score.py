"""
The mutation score of the last ``mutmut run``, by module, with the surviving mutants not listed as equivalent.

Score = killed / (all checked - equivalent). A mutant that no selected test reaches ("no tests") counts as
surviving: nothing would catch it. ``equivalent.toml`` lists the mutants that cannot change behaviour, each with
the reason (for example a default argument passed explicitly with its default value), and the change the mutant
makes (its diff's - and + lines). mutmut numbers a function's mutants in order, so an edit to the function renumbers
them: an entry whose number now names another change follows its change to the mutant of the same function that
makes it. ``--record-changes`` writes each entry's change.

    python tests/mutation/score.py [--target 98] [--survivors] [--diffs [MODULE]] [--record-changes]
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from collections import Counter, defaultdict
from pathlib import Path

from mutmut.stats import status_by_exit_code

ROOT = Path(__file__).resolve().parents[2]
EQUIVALENT = Path(__file__).with_name("equivalent.toml")
KILLED = {"killed", "timeout", "caught by type check", "segfault"}
SURVIVED = {"survived", "no tests"}


def mutant_statuses(mutants: Path) -> dict[str, str]:
    statuses = {}
    for meta in mutants.rglob("*.py.meta"):
        for name, exit_code in json.loads(meta.read_text())["exit_code_by_key"].items():
            statuses[name] = status_by_exit_code[exit_code]
    return statuses


def equivalent_entries() -> list[dict[str, str]]:
    return tomllib.loads(EQUIVALENT.read_text()).get("equivalent", []) if EQUIVALENT.exists() else []


def module_of(mutant: str) -> str:
    return mutant.split(".x_")[0].split(".xǁ")[0]


def function_of(mutant: str) -> str:
    return mutant.rsplit("__mutmut_", 1)[0]


def change_of(mutant: str) -> str:
    """The lines the mutant removes and adds (its diff without headers and context), stripped of trailing blanks."""
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    path = Path("sb3_maxent", *module_of(mutant).split(".")[1:]).with_suffix(".py")
    diff = get_diff_for_mutant(mutant, path=path)
    lines = [line.rstrip() for line in diff.splitlines() if line[:1] in "+-" and not line.startswith(("---", "+++"))]
    return "\n".join(lines)


def resolve_equivalents(entries: list[dict[str, str]], statuses: dict[str, str]) -> dict[str, str]:
    """
    Each entry's mutant under today's numbering, with its reason: the named mutant if it makes the entry's change
    (or the entry records none), else the mutant of the same function that makes it. Entries whose change no
    mutant makes keep their name (and are reported as stale, since no mutant has it or it is another change).
    """
    resolved = {}
    for entry in entries:
        name, change = entry["mutant"], entry.get("change")
        if change is not None and (name not in statuses or change_of(name) != change):
            siblings = sorted(other for other in statuses if function_of(other) == function_of(name))
            name = next((other for other in siblings if change_of(other) == change), name)
        resolved[name] = entry["reason"]
    return resolved


def toml_string(text: str) -> str:
    # a JSON string (escapes \\, \", \n, control characters) is a TOML basic string
    return json.dumps(text, ensure_ascii=False)


def record_changes(entries: list[dict[str, str]], statuses: dict[str, str]) -> None:
    """Rewrite equivalent.toml with each entry's change, resolving renumbered entries (order and comments kept)."""
    header = [line for line in EQUIVALENT.read_text().splitlines() if line.startswith("#")]
    blocks = []
    for entry in entries:
        name = next(iter(resolve_equivalents([entry], statuses)))
        if name not in statuses:
            print(f"no mutant {name}: entry left as it is")
        change = change_of(name) if name in statuses else entry.get("change")
        block = [f"mutant = {toml_string(name)}", f"reason = {toml_string(entry['reason'])}"]
        if change is not None:
            block.append(f"change = {toml_string(change)}")
        blocks.append("[[equivalent]]\n" + "\n".join(block))
    EQUIVALENT.write_text("\n".join(header) + "\n\n" + "\n\n".join(blocks) + "\n")


def print_diffs(names: list[str]) -> None:
    # mutmut resolves mutant names relative to the mutants/ copy of the project
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    for name in names:
        print(f"\n# {name}")
        print(get_diff_for_mutant(name, path=Path("sb3_maxent", *module_of(name).split(".")[1:]).with_suffix(".py")))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", type=float, default=98.0, help="fail below this score (percent)")
    parser.add_argument("--survivors", action="store_true", help="list every surviving mutant")
    parser.add_argument(
        "--diffs", nargs="?", const="", metavar="MODULE", help="print each survivor's diff (of MODULE's, if given)"
    )
    parser.add_argument(
        "--record-changes", action="store_true", help="write each equivalent entry's change into equivalent.toml"
    )
    args = parser.parse_args()

    statuses = mutant_statuses(ROOT / "mutants")
    if args.record_changes:
        record_changes(equivalent_entries(), statuses)
    equivalent = resolve_equivalents(equivalent_entries(), statuses)
    # listed as equivalent but killed, or no longer generated (a mutant not checked yet is neither)
    stale = sorted(name for name in equivalent if name not in statuses or statuses[name] in KILLED)
    unchecked = sorted(name for name, status in statuses.items() if status not in KILLED | SURVIVED)
    counted = {name: status for name, status in statuses.items() if name not in equivalent and name not in unchecked}

    by_module: dict[str, Counter] = defaultdict(Counter)
    for name, status in counted.items():
        by_module[module_of(name)]["killed" if status in KILLED else "survived"] += 1
    print(f"{'module':34} {'killed':>7} {'survived':>9} {'score':>7}")
    for module, counts in sorted(by_module.items()):
        total = counts["killed"] + counts["survived"]
        print(f"{module:34} {counts['killed']:7d} {counts['survived']:9d} {100 * counts['killed'] / total:6.1f}%")
    killed = sum(counts["killed"] for counts in by_module.values())
    total = len(counted)
    score = 100 * killed / max(total, 1)
    print(f"{'all':34} {killed:7d} {total - killed:9d} {score:6.1f}%")
    print(f"{len(equivalent)} equivalent (equivalent.toml), {len(unchecked)} not checked or suspicious")

    survivors = sorted(name for name, status in counted.items() if status in SURVIVED)
    if args.survivors:
        print("\n".join(f"  {name} ({counted[name]})" for name in survivors))
    if args.diffs is not None:
        print_diffs([name for name in survivors if module_of(name).startswith(args.diffs)])
    if stale:
        print(f"equivalent.toml lists mutants that were killed or not generated: {stale}")
        return 1
    if score < args.target:
        print(f"score {score:.1f}% is below the target {args.target}%")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
