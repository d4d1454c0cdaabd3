"""
benchmarks/results holds nothing that nothing uses, and the results tables of README.md and the docs are the ones
benchmarks/tables.py renders from it (no training: the result files are read as they are committed).
"""

import fnmatch
import shlex
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"
# benchmarks/ lives in the repository only: the sdist carries the tests but not the benchmarks, so skip there
sys.path.insert(0, str(ROOT / "benchmarks"))
tables = pytest.importorskip("tables", reason="benchmarks/ is not in the sdist")

# Where a reference may stand: the text that people and scripts read
CORPUS = (
    "*.md",
    "docs/**/*.md",
    "benchmarks/*.py",
    "benchmarks/*.sh",
    "benchmarks/*.md",
    "benchmarks/results/**/*.md",
    "sb3_maxent/**/*.py",
    "sb3_maxent/**/*.yml",
    "tests/**/*.py",
)
# Result files kept although nothing names or reads them, each with the reason (patterns relative to results/)
ALLOWED = {
    "tuning/*": "the tuning studies' journals: tuned_vs_default.py resumes each from tuning/<algo>_<env>.log",
    "probes/raw/Acrobot-v1_sacv1_dqn_seed*_50000.json": (
        "sacv1_dqn with the first discrete SACV1 entry (two critics), cited by README.md and "
        "docs/modules/sacv1_discrete.md; that entry has changed, so no command reproduces these runs"
    ),
    "probes/raw/LunarLander-v3_sacv1_q1_seed*_100000.json": "first entry, one critic; docs/modules/sacv1_discrete.md",
    "probes/raw/LunarLander-v3_sacv1_seed*_100000_net256x256.json": "first entry, 256x256; docs/modules/sacv1_discrete.md",
    "probes/raw/LunarLander-v3_sacv1_tenteps_seed0_100000.json": "first entry, DQN's target; docs/modules/sacv1_discrete.md",
    "probes/raw/LunarLander-v3_sacv1_epssched_seed*_100000.json": "epsilon-schedule target; docs/modules/sacv1_discrete.md",
    "probes/raw/LunarLander-v3_sacv1_huber_seed*_100000.json": "the Huber loss probe (seeds 0-2) that README.md quotes",
    "probes/raw/LunarLander-v3_msql_lr6.3e-4_alpha0.03_seed*_100000.json": "the paper's fixed alpha; docs/modules/msql.md",
}


def corpus() -> dict[Path, str]:
    texts = {}
    for pattern in CORPUS:
        for path in ROOT.glob(pattern):
            if path.is_file() and path != Path(__file__) and "_build" not in path.parts:
                texts[path] = path.read_text(errors="replace")
    return texts


def compare_runs() -> set[Path]:
    """The raw runs that the compare.py command lines of benchmarks/*.sh read (each script runs from the root)."""
    import compare

    runs = set()
    for script in (ROOT / "benchmarks").glob("*.sh"):
        for line in script.read_text().splitlines():
            if line.startswith("python benchmarks/compare.py"):
                args = compare.parser().parse_args(shlex.split(line.replace('"$WORKERS"', "1"))[2:])
                args.out = ROOT / args.out
                runs |= {compare.find_run(job) for job in compare.jobs(args)}
    return runs


def grid_runs() -> set[Path]:
    """The raw runs of the campaigns and experiments that their scripts queue and report."""
    import mujoco_campaign
    import multigoal_modes
    import pretrain_finetune

    runs = {job.raw_path for campaign in mujoco_campaign.CAMPAIGNS for job in mujoco_campaign.jobs(campaign=campaign)}
    runs |= {multigoal_modes.raw_path(variant, seed) for variant in multigoal_modes.VARIANTS for seed in multigoal_modes.SEEDS}
    runs |= {
        pretrain_finetune.raw_path(variant, goal, seed)
        for variant in pretrain_finetune.VARIANTS
        for goal in pretrain_finetune.GOALS
        for seed in pretrain_finetune.SEEDS
    }
    return runs


def test_every_result_file_is_referenced():
    texts = corpus()
    read = compare_runs() | grid_runs() | {source for table in tables.TABLES.values() for source in table.sources}
    unreferenced = []
    for path in sorted(RESULTS.rglob("*")):
        relative = path.relative_to(RESULTS).as_posix()
        if not path.is_file() or path in read or any(fnmatch.fnmatch(relative, pattern) for pattern in ALLOWED):
            continue
        if not any(path.name in text for source, text in texts.items() if source != path):
            unreferenced.append(relative)
    assert not unreferenced, (
        f"{len(unreferenced)} file(s) under benchmarks/results that no page links, no script reads and ALLOWED does not "
        f"list: {unreferenced}"
    )


def test_every_allowed_pattern_still_matches_a_file():
    stale = [pattern for pattern in ALLOWED if not any(RESULTS.glob(pattern))]
    assert not stale, f"ALLOWED names files that are gone: {stale}"


def test_readme_and_docs_tables_are_rendered_from_the_result_files():
    differing = tables.stale()
    assert not differing, (
        f"tables differ from benchmarks/results in {sorted(str(page.relative_to(ROOT)) for page in differing)}: "
        "run python benchmarks/tables.py (or rerun the benchmark whose result file changed)"
    )


def test_a_hand_edit_between_the_markers_is_caught(tmp_path):
    page = tmp_path / "README.md"
    block = f"<!-- table: sacv1-pendulum -->\n\n{tables.TABLES['sacv1-pendulum'].render()}\n\n<!-- end table -->\n"
    page.write_text("# Results\n\n" + block)
    assert tables.stale(tmp_path) == {}
    page.write_text("# Results\n\n" + block.replace("| SACV1 | 5 |", "| SACV1 | 6 |"))
    ((text, expected),) = tables.stale(tmp_path).values()
    assert "| SACV1 | 6 |" in text and "| SACV1 | 5 |" in expected
