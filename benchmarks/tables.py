"""
The results tables of README.md and the docs pages, rendered from the committed result files.

    python benchmarks/tables.py            # rewrites every marked block
    python benchmarks/tables.py --check    # exit 1, with a diff, where a block is not what its result files give

A block, in README.md or any page under docs/:

    <!-- table: sacv1-pendulum -->

    | variant | seeds | ... |

    <!-- end table -->

Only its name ties a block to its source (``TABLES``), so a block moves between pages as it is, and one table can
stand on several pages. Do not edit between the markers: rerun the benchmark that writes the result file, then this.
Nothing here trains or evaluates; the default test suite runs ``--check``.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
PAGES = ("README.md", "docs")  # files, or folders whose *.md pages are searched for blocks
BLOCK = re.compile(r"<!-- table: (?P<name>[\w.-]+) -->\n(?P<body>.*?)<!-- end table -->", re.DOTALL)


@dataclass(frozen=True)
class Table:
    """A table of README.md or the docs: the result files it is made from, and how."""

    sources: tuple[Path, ...]
    render: Callable[[], str]


def markdown_tables(text: str) -> list[list[str]]:
    """The tables of a markdown text, each as its lines."""
    tables: list[list[str]] = []
    previous = False
    for line in text.splitlines():
        is_row = line.startswith("|")
        if is_row and not previous:
            tables.append([])
        if is_row:
            tables[-1].append(line)
        previous = is_row
    return tables


def cells(row: str) -> list[str]:
    return [cell.strip() for cell in row.strip().strip("|").split("|")]


def copied(path: Path, index: int = 0) -> Table:
    """The ``index``-th table of a result file that a benchmark script writes as a whole (compare.py and the like)."""
    return Table((path,), lambda: "\n".join(markdown_tables(path.read_text())[index]))


# --- the MuJoCo campaign: SACV1 against SAC with the same arguments, from mujoco.md ----------------------------------

MUJOCO = RESULTS / "mujoco.md"


def steps_k(text: str) -> str:
    """'140,000' -> '140k'."""
    return f"{int(text.replace(',', '')) // 1000}k"


def and_list(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def mujoco_sacv1_vs_sac() -> str:
    """Per environment of the report's first experiment: the IQMs, the target's verdict and the paired speed ratio."""
    text = MUJOCO.read_text()
    experiment = text.split("### SACV1 vs SB3 SAC (same arguments)", 1)[1].split("\n### ", 1)[0]
    rows, steps, from_step = [], "", ""
    for section in experiment.split("\n#### ")[1:]:
        env = section.splitlines()[0].strip()
        table = {cells(row)[0]: cells(row) for row in markdown_tables(section)[0][2:]}
        ours, reference = table["sacv1"], table["sac"]
        steps = steps_k(ours[2])
        target = re.search(r"every evaluation from ([\d,]+) steps.*?: (met|NOT met at (.*?)) \((\d+) evaluations\)\.", section)
        assert target is not None, f"{MUJOCO}: no target line for {env}"
        from_step, evaluations = steps_k(target.group(1)), target.group(4)
        if target.group(2) == "met":
            verdict = f"**met** ({evaluations} of {evaluations} evaluations)"
        else:
            missed = [steps_k(step) for step in target.group(3).split(", ")]
            verdict = f"**not met** at {and_list(missed)} ({len(missed)} of {evaluations})"
        speed = re.search(r"Steps/s sacv1 / sac, .*? \d+ paired seeds: ([\d.]+) \(target >= 1.0: (met|NOT met)", section)
        assert speed is not None, f"{MUJOCO}: no speed line for {env}"
        seeds = f"{ours[1]} seeds each" if ours[1] == reference[1] else f"{ours[1]} and {reference[1]} seeds"
        speed_cell = f"{speed.group(1)} ({speed.group(2).lower()})"
        rows.append(f"| {env}, {seeds} | {ours[3]} | {reference[3]} | {verdict} | {speed_cell} |")
    header = (
        f"| task ({steps} steps) | SACV1: IQM final return [95% CI] | SB3 SAC, same arguments | target: SACV1 >= SAC or "
        f"inside SAC's CI at every evaluation from {from_step} | SACV1 steps/s / SAC's (paired seeds) |"
    )
    return "\n".join([header, "|---|---|---|---|---|", *rows])


# --- discrete actions: final returns per seed, from the raw runs -----------------------------------------------------

DISCRETE_TASKS = (("CartPole-v1", 50_000), ("LunarLander-v3", 100_000), ("Acrobot-v1", 100_000))
FIRST_SEEDS = range(5)
# column -> where its run of (environment, seed, steps) is
DISCRETE_COLUMNS: dict[str, Callable[[str, int, int], Path]] = {
    "MSQL": lambda env, seed, steps: RESULTS / "raw" / f"{env}_msql_seed{seed}_{steps}.json",
    "SACV1, first entry (2x64, two critics)": lambda env, seed, steps: (
        RESULTS / "probes" / "raw" / f"{env}_sacv1_seed{seed}_{steps}_two_critics_2x64.json"
    ),
    "SACV1 (DQN budget, one critic)": lambda env, seed, steps: RESULTS / "raw" / f"{env}_sacv1_seed{seed}_{steps}.json",
    "DQN": lambda env, seed, steps: RESULTS / "raw" / f"{env}_dqn_seed{seed}_{steps}.json",
}
DISCRETE_SOURCES = tuple(
    where(env, seed, steps) for env, steps in DISCRETE_TASKS for where in DISCRETE_COLUMNS.values() for seed in FIRST_SEEDS
)


def discrete_final_returns() -> str:
    """The final evaluation of seeds 0-4 of each discrete algorithm, with their IQM (rliable's: a 25% trimmed mean)."""
    from common import iqm

    rows = []
    for env, steps in DISCRETE_TASKS:
        columns = []
        for where in DISCRETE_COLUMNS.values():
            finals = [json.loads(where(env, seed, steps).read_text())["eval_returns"][-1] for seed in FIRST_SEEDS]
            columns.append(f"{', '.join(f'{value:.1f}' for value in finals)} (IQM {iqm(finals):.1f})")
        rows.append(f"| {env} | {' | '.join(columns)} |")
    header = f"| task | {' | '.join(DISCRETE_COLUMNS)} |"
    return "\n".join([header, "|" + "---|" * (len(DISCRETE_COLUMNS) + 1), *rows])


# --- tuning: SoftValueIteration's bundled entry against the best trial ------------------------------------------------

TUNED_SOFT_VI = RESULTS / "tuned_soft_vi_FrozenLake8x8-v1.md"
SOFT_VI_CONFIG = ROOT / "sb3_maxent" / "zoo_configs" / "soft_vi.yml"


def short_float(value: float) -> str:
    """0.99 -> '0.99', 0.995808 -> '0.9958', 1e-3 -> '1e-3', 1.767e-05 -> '1.8e-5'."""
    if abs(value) >= 0.01:
        return f"{round(value, 4):g}"
    mantissa, exponent = f"{value:.1e}".split("e")
    return f"{mantissa.removesuffix('.0')}e{int(exponent)}"


def tuned_soft_vi() -> str:
    import yaml

    text = TUNED_SOFT_VI.read_text()
    trials = re.search(r"the best of (\d+) Optuna trials", text)
    best = re.search(r"Best trial: #(\d+) \(one_minus_gamma=([\d.e-]+), ent_coef=([\d.e-]+), solver=(\w+)\)", text)
    episodes = re.search(r"evaluation over (\d+) episodes", text)
    assert trials and best and episodes, f"{TUNED_SOFT_VI}: not the layout tuned_vs_default.py writes"
    rows = {cells(row)[0]: cells(row) for row in markdown_tables(text)[0][2:]}
    bundled = yaml.safe_load(SOFT_VI_CONFIG.read_text())["FrozenLake8x8-v1"]
    number, one_minus_gamma, ent_coef, solver = best.groups()
    tuned = f"`gamma={short_float(1 - float(one_minus_gamma))}`, `ent_coef={short_float(float(ent_coef))}`"
    return "\n".join(
        [
            "| SoftValueIteration on FrozenLake8x8-v1 (slippery) | success rate (mean return over "
            f"{episodes.group(1)} episodes) |",
            "|---|---|",
            f"| bundled config (`gamma={short_float(bundled['gamma'])}`, `ent_coef={short_float(bundled['ent_coef'])}`) "
            f"| {rows['bundled `zoo_configs/soft_vi.yml`'][1]} |",
            f"| best of {trials.group(1)} trials (#{number}: {tuned}, {solver.replace('_', ' ')}) "
            f"| {rows[f'tuned (trial #{number})'][1]} |",
        ]
    )


# --- issue 39's experiments B and C, from their reports -------------------------------------------------------------

MULTIGOAL = RESULTS / "multigoal.md"
MULTIGOAL_RAW = tuple(sorted((RESULTS / "raw" / "multigoal").glob("MultiGoal-v0_*_seed*.json")))
PRETRAINING = RESULTS / "pretraining.md"
ALGORITHMS = {"sql": "SoftQLearning", "sacv1": "SACV1", "sac": "SAC"}


def two_decimals(cell: str) -> str:
    """'1.15 [0.799, 1.29]' -> '1.15 [0.80, 1.29]'."""
    return re.sub(r"-?\d+(\.\d+)?", lambda number: f"{float(number.group()):.2f}", cell)


def multigoal_modes() -> str:
    """Goal entropy per algorithm (multigoal.md) and its runs that send at least 5% of their episodes to each goal."""
    visited: dict[str, list[int]] = {}
    for path in MULTIGOAL_RAW:
        run = json.loads(path.read_text())
        visited.setdefault(run["variant"], []).append(run["goals_visited"])
    rows = [
        f"| {ALGORITHMS[row[0]]} | {two_decimals(row[2])} | {visited[row[0]].count(4)} of {len(visited[row[0]])} |"
        for row in map(cells, markdown_tables(MULTIGOAL.read_text())[0][2:])
    ]
    header = "| algorithm | goal entropy, IQM [95% CI] (nats, at most 1.386) | runs with all four goals at >= 5% |"
    return "\n".join([header, "| --- | --- | --- |", *rows])


def pretraining() -> str:
    starts = {"pretrained": "pretrained", "scratch": "from scratch"}
    rows = []
    for variant, runs, steps, never in map(cells, markdown_tables(PRETRAINING.read_text())[0][2:]):
        algorithm, start = variant.split("_")
        rows.append(f"| {ALGORITHMS[algorithm]}, {starts[start]} | {steps} | {never} of {runs} |")
    return "\n".join(["| variant | steps to threshold, IQM [95% CI] | never reached |", "| --- | --- | --- |", *rows])


# --- README's headline: one row per task, from the same result files as the tables of the benchmarks page -------------

HEADLINE_DISCRETE = tuple(RESULTS / f"{env}_discrete.md" for env, _ in DISCRETE_TASKS)


def headline() -> str:
    """Final returns of our algorithms and SB3's nearest one per task: Pendulum, the MuJoCo campaign, the discrete tasks."""
    pendulum = {cells(row)[0]: cells(row) for row in markdown_tables((RESULTS / "Pendulum-v1.md").read_text())[0][2:]}
    steps = re.search(r"Budget: (\d+) steps, (\d+) seeds", (RESULTS / "Pendulum-v1.md").read_text())
    assert steps is not None, "Pendulum-v1.md: no budget line"
    rows = [
        f"| Pendulum-v1 ({int(steps.group(1)) // 1000}k steps, {steps.group(2)} seeds; median) "
        f"| SACV1 {pendulum['SACV1'][2].split()[0]} | SAC {pendulum['SAC'][2].split()[0]} |"
    ]
    mujoco = mujoco_sacv1_vs_sac().splitlines()
    mujoco_steps = re.search(r"task \((\w+) steps\)", mujoco[0])
    assert mujoco_steps is not None, f"{MUJOCO}: no budget in the table's header"
    for row in mujoco[2:]:
        task, ours, reference = cells(row)[:3]
        env, seeds = task.split(", ", 1)
        rows.append(
            f"| {env} ({mujoco_steps.group(1)} steps, {seeds}; IQM [95% CI]) | SACV1 {ours} "
            f"| SAC (same arguments) {reference} |"
        )
    for (env, env_steps), path in zip(DISCRETE_TASKS, HEADLINE_DISCRETE, strict=True):
        table = {cells(row)[0]: cells(row) for row in markdown_tables(path.read_text())[0][2:]}
        ours = ", ".join(f"{name} {table[name][2].split()[0]}" for name in ("MSQL", "SQL", "SACV1"))
        rows.append(
            f"| {env} ({env_steps // 1000}k steps, {table['DQN'][1]} seeds; IQM) | {ours} | DQN {table['DQN'][2].split()[0]} |"
        )
    header = "| task (budget; statistic of the final evaluation) | sb3_maxent: final return | SB3: final return |"
    return "\n".join([header, "|---|---|---|", *rows])


# --- the tables ------------------------------------------------------------------------------------------------------

TABLES: dict[str, Table] = {
    "sacv1-pendulum": copied(RESULTS / "Pendulum-v1.md"),
    "mujoco-sacv1-sac": Table((MUJOCO,), mujoco_sacv1_vs_sac),
    "throughput-sacv1": copied(RESULTS / "throughput.md"),
    "gemm-backends": copied(RESULTS / "probes" / "gemm_backends.md"),
    "levers": copied(RESULTS / "probes" / "levers.md"),
    "profile-sacv1-mkl": copied(RESULTS / "probes" / "profile_sacv1_Pendulum-v1_mkl.md"),
    "profile-sacv1": copied(RESULTS / "probes" / "profile_sacv1_Pendulum-v1.md"),
    "throughput-sbx": copied(RESULTS / "throughput_sbx.md"),
    "throughput-sbx-speedup": copied(RESULTS / "throughput_sbx.md", 1),
    "soft-vi-scale": copied(RESULTS / "soft_vi_scale.md"),
    "soft-vi-tuned-frozenlake": Table((TUNED_SOFT_VI, SOFT_VI_CONFIG), tuned_soft_vi),
    "tuned-sacv1-pendulum": copied(RESULTS / "tuned_sacv1_Pendulum-v1.md"),
    "sql-dqn-cartpole": copied(RESULTS / "CartPole-v1_sql_dqn.md"),
    "sql-dqn-lunarlander": copied(RESULTS / "LunarLander-v3_sql_dqn.md"),
    "throughput-discrete": copied(RESULTS / "throughput_sql.md"),
    # the same script's earlier run on a quiet machine (SoftQLearning and DQN only), which docs/modules/sql.md quotes
    "throughput-discrete-quiet": copied(RESULTS / "throughput_sql_quiet.md"),
    "discrete-cartpole": copied(RESULTS / "CartPole-v1_discrete.md"),
    "discrete-lunarlander": copied(RESULTS / "LunarLander-v3_discrete.md"),
    "discrete-lunarlander-10seeds": copied(RESULTS / "LunarLander-v3_msql_dqn_10seeds.md"),
    "discrete-acrobot": copied(RESULTS / "Acrobot-v1_discrete.md"),
    "discrete-final-returns": Table(DISCRETE_SOURCES, discrete_final_returns),
    "sql-pendulum": copied(RESULTS / "Pendulum-v1_sql_sacv1_sac.md"),
    "entropy-target-pendulum": copied(RESULTS / "Pendulum-v1_entropy_target.md"),
    "multigoal-modes": Table((MULTIGOAL, *MULTIGOAL_RAW), multigoal_modes),
    "pretraining": Table((PRETRAINING,), pretraining),
    "headline": Table((RESULTS / "Pendulum-v1.md", MUJOCO, *HEADLINE_DISCRETE), headline),
}


# --- the blocks ------------------------------------------------------------------------------------------------------


def pages(root: Path = ROOT) -> list[Path]:
    found = []
    for name in PAGES:
        path = root / name
        found += sorted(path.rglob("*.md")) if path.is_dir() else [path] if path.exists() else []
    return [page for page in found if "_build" not in page.parts]


def rendered(text: str, where: str, cache: dict[str, str]) -> str:
    """``text`` with every block's table rendered afresh from its result files."""

    def block(match: re.Match) -> str:
        name = match["name"]
        if name not in TABLES:
            raise KeyError(f"{where}: unknown table {name!r} (the names are the keys of TABLES in benchmarks/tables.py)")
        if name not in cache:
            cache[name] = TABLES[name].render()
        return f"<!-- table: {name} -->\n\n{cache[name]}\n\n<!-- end table -->"

    return BLOCK.sub(block, text)


def stale(root: Path = ROOT) -> dict[Path, tuple[str, str]]:
    """The pages whose blocks differ from their result files: page -> (text, text as it should be)."""
    cache: dict[str, str] = {}
    differing = {}
    for page in pages(root):
        text = page.read_text()
        if "<!-- table:" not in text:
            continue
        expected = rendered(text, str(page.relative_to(root)), cache)
        if expected != text:
            differing[page] = (text, expected)
    return differing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 where a block is stale")
    args = parser.parse_args(argv)
    differing = stale()
    for page, (text, expected) in differing.items():
        name = str(page.relative_to(ROOT))
        if args.check:
            diff = difflib.unified_diff(text.splitlines(True), expected.splitlines(True), name, f"{name} (from results)")
            sys.stdout.writelines(diff)
        else:
            page.write_text(expected)
            print(f"rewrote {name}")
    if args.check and differing:
        print(f"\n{len(differing)} page(s) differ from the result files: run python benchmarks/tables.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    raise SystemExit(main())
