"""
Tables and PNGs of the MuJoCo campaign (issue 14) from the raw JSON of finished runs; nothing is rerun.

    python benchmarks/mujoco_campaign.py report      # or: python benchmarks/mujoco_report.py

Statistics with rliable (Agarwal et al. 2021): interquartile mean (IQM) across seeds with stratified-bootstrap 95%
confidence intervals, probability of improvement, performance profiles. Returns are not normalised across
environments, so every statistic is per environment (one task: the bootstrap resamples runs).

Writes ``benchmarks/results/mujoco.md`` and, per environment, ``mujoco_<env>.png`` (IQM learning curves with
95% CI bands) and ``mujoco_<env>_profiles.png`` (performance profiles of the final returns).
"""

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

# tuned_vs_default.py imports the statistics from here too
from common import (
    REPS,
    iqm_with_ci,
    machine_fingerprint,
    permutation_p_value,
    probability_of_improvement,
    seeded_bootstrap,
    steps_per_second,
)

HERE = Path(__file__).resolve().parent
FROM_STEP = 100_000  # the SACV1 target compares every evaluation from here on
MIN_SEEDS = 3  # fewer runs per variant give no confidence interval worth a verdict

# Published figures, labelled as what they are (not our runs)
REFERENCES = {
    "HalfCheetah-v5": "rl-zoo's SAC at 1M steps: 9535 on HalfCheetah-v3 (one run, older gymnasium)",
    "Hopper-v5": "rl-zoo's SAC at 1M steps: 2326 on Hopper-v3 (one run, older gymnasium)",
    "Walker2d-v5": "rl-zoo's SAC at 1M steps: 3863 on Walker2d-v3 (one run, older gymnasium)",
}
EXPERIMENTS = {
    "SACV1 vs SB3 SAC (same arguments)": ("sacv1", "sac", ["sacv1", "sac", "sac_zoo", "sacv1_seq"]),
    "Continuous SoftQLearning vs SB3 SAC (rl-zoo's entry)": (
        "sql",
        "sac_zoo",
        ["sql", "sac_zoo", "sql_zoo_gamma", "sql_zoo_gamma_cold", "sql_zoo_gamma_polyak"],
    ),
}


def load_runs(raw: Path) -> dict[tuple[str, str], list[dict[str, Any]]]:
    runs: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for path in sorted(raw.glob("*.json")):
        run = json.loads(path.read_text())
        runs[(run["env"], run["variant"])].append(run)
    return runs


def common_grid(runs: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """Evaluation steps shared by all runs, and the returns there, shape (n_runs, n_steps)."""
    steps = sorted(set.intersection(*(set(run["eval_timesteps"]) for run in runs)))
    returns = np.array(
        [[dict(zip(run["eval_timesteps"], run["eval_returns"], strict=True))[t] for t in steps] for run in runs]
    )
    return np.array(steps), returns


def paired_speed_ratio(ours: list[dict[str, Any]], reference: list[dict[str, Any]]) -> tuple[float, int]:
    """Median over seeds run by both of ours / reference steps/s, and how many pairs."""
    by_seed = {run["seed"]: run for run in reference}
    ratios = [steps_per_second(run) / steps_per_second(by_seed[run["seed"]]) for run in ours if run["seed"] in by_seed]
    return (float(np.median(ratios)) if ratios else float("nan")), len(ratios)


def plot_curves(env: str, curves: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4))
    for variant, (steps, points, intervals) in curves.items():
        axis.plot(steps, points, label=variant)
        axis.fill_between(steps, intervals[0], intervals[1], alpha=0.2)
    axis.set(title=f"{env}: IQM return, 95% bootstrap CI", xlabel="environment steps", ylabel="return")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def plot_profiles(env: str, finals: dict[str, np.ndarray], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from rliable import library as rly

    everything = np.concatenate(list(finals.values()))
    thresholds = np.linspace(everything.min(), everything.max(), 50)
    with seeded_bootstrap():
        profiles, intervals = rly.create_performance_profile({k: v[:, None] for k, v in finals.items()}, thresholds, reps=REPS)
    figure, axis = plt.subplots(figsize=(6, 4))
    for variant in finals:
        axis.plot(thresholds, profiles[variant], label=variant)
        axis.fill_between(thresholds, intervals[variant][0], intervals[variant][1], alpha=0.2)
    axis.set(title=f"{env}: fraction of runs with final return > tau", xlabel="tau", ylabel="fraction of runs")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def experiment_section(title: str, ours: str, reference: str, variants: list[str], runs: dict, results: Path) -> list[str]:
    lines = [f"### {title}", ""]
    # an environment belongs to the experiment where its own variant ran (rl-zoo's SAC also runs on Hopper-v5, as
    # experiment 1's SB3-user reference, where no SoftQLearning run is planned)
    envs = sorted({env for env, variant in runs if variant == ours})
    if not envs:
        return [*lines, "No finished runs yet.", ""]
    for env in envs:
        present = [variant for variant in variants if runs.get((env, variant))]
        curves, finals, rows = {}, {}, []
        for variant in present:
            steps, returns = common_grid(runs[(env, variant)])
            points, intervals = iqm_with_ci(returns)
            curves[variant] = (steps, points, intervals)
            finals[variant] = returns[:, -1]
            speeds = [steps_per_second(run) for run in runs[(env, variant)]]
            # one evaluation of 10 episodes swings by 1000+ on Hopper: the mean of the last three is steadier
            last_three, last_three_ci = iqm_with_ci(returns[:, -3:].mean(axis=1, keepdims=True))
            rows.append(
                f"| {variant} | {len(returns)} | {steps[-1]:,} | {points[-1]:.0f} [{intervals[0][-1]:.0f}, "
                f"{intervals[1][-1]:.0f}] | {last_three[0]:.0f} [{last_three_ci[0][0]:.0f}, {last_three_ci[1][0]:.0f}] "
                f"| {np.median(speeds):.1f} |"
            )
        lines += [
            f"#### {env}",
            "",
            "| variant | seeds | steps | IQM final return [95% CI] | IQM mean of the last 3 evaluations [95% CI] "
            "| median steps/s |",
            "|---|---|---|---|---|---|",
            *rows,
            "",
        ]
        if env in REFERENCES:
            lines += [f"Published reference: {REFERENCES[env]}.", ""]
        lines += target_lines(env, ours, reference, curves, finals, runs)
        name = f"mujoco_{env}_{ours}_vs_{reference}"
        plot_curves(env, curves, results / f"{name}.png")
        plot_profiles(env, finals, results / f"{name}_profiles.png")
        lines += [f"![{env} learning curves]({name}.png) ![{env} performance profiles]({name}_profiles.png)", ""]
    return lines


def target_lines(env: str, ours: str, reference: str, curves: dict, finals: dict, runs: dict) -> list[str]:
    if ours not in curves or reference not in curves:
        return [f"Targets: not evaluated ({ours} and {reference} both need finished runs).", ""]
    seeds = (len(finals[ours]), len(finals[reference]))
    if min(seeds) < MIN_SEEDS:
        ratio, pairs = paired_speed_ratio(runs[(env, ours)], runs[(env, reference)])
        return [
            f"- Targets not judged yet: {seeds[0]} {ours} and {seeds[1]} {reference} runs (a verdict needs at least "
            f"{MIN_SEEDS} of each; the CIs above are degenerate below that).",
            f"- Steps/s {ours} / {reference}, median over {pairs} paired seeds: {ratio:.2f} (not judged either).",
            "",
        ]
    lines = []
    ours_steps, ours_iqm, _ = curves[ours]
    reference_steps, reference_iqm, reference_ci = curves[reference]
    shared = [t for t in ours_steps if t >= FROM_STEP and t in set(reference_steps)]
    if ours == "sacv1" and shared:
        ours_at = dict(zip(ours_steps, ours_iqm, strict=True))
        lower_at = dict(zip(reference_steps, reference_ci[0], strict=True))
        below = [t for t in shared if ours_at[t] < lower_at[t]]
        verdict = "met" if not below else f"NOT met at {', '.join(f'{t:,}' for t in below)}"
        lines.append(
            f"- Target (SACV1's IQM at every evaluation from {FROM_STEP:,} steps >= SAC's, or inside SAC's 95% CI): "
            f"{verdict} ({len(shared)} evaluations)."
        )
    elif ours == "sql":
        ratio = ours_iqm[-1] / reference_iqm[-1] if reference_iqm[-1] else float("nan")
        met = "met" if ours_iqm[-1] >= reference_iqm[-1] else "NOT met"
        target = f"target (>= SAC's IQM) {met}" if env.startswith("Swimmer") else "reported, no target"
        lines.append(f"- Final IQM ratio SQL / SAC: {ratio:.2f} ({target}).")
    probability, low, high = probability_of_improvement(finals[ours], finals[reference])
    lines.append(f"- Probability that a {ours} run ends above a {reference} run: {probability:.2f} [{low:.2f}, {high:.2f}].")
    lines.append(
        f"- Exact permutation test of the mean final returns, two-sided: p = "
        f"{permutation_p_value(finals[ours], finals[reference]):.2f}."
    )
    ratio, pairs = paired_speed_ratio(runs[(env, ours)], runs[(env, reference)])
    speed_target = " (target >= 1.0: " + ("met" if ratio >= 1.0 else "NOT met") + ")" if ours == "sacv1" else ""
    lines.append(f"- Steps/s {ours} / {reference}, median over {pairs} paired seeds: {ratio:.2f}{speed_target}.")
    return [*lines, ""]


ABLATION = ("sacv1", "sacv1_seq", "sac")  # SACV1, SACV1 with SAC's update order, SAC: same arguments, alpha 0.2


def window_mean(run: dict[str, Any], from_step: int = FROM_STEP) -> float:
    """A run's mean return over its evaluations from ``from_step`` on: steadier than one evaluation of 10 episodes."""
    return float(np.mean([r for t, r in zip(run["eval_timesteps"], run["eval_returns"], strict=True) if t >= from_step]))


def ablation_section(runs: dict) -> list[str]:
    """
    The update-order ablation on the seeds all three variants share: SACV1 -> SACV1 with SAC's order -> SAC. The
    order's share of the gap is (sacv1_seq - sacv1) / (sac - sacv1) on the seed means; the rest is the value
    target's, which alone separates sacv1_seq from sac (reported per seed).
    """
    lines = ["### Ablation: SACV1's update order (issue 14)", ""]
    envs = sorted({env for env, variant in runs if variant == ABLATION[1]})
    if not envs:
        return [*lines, "No finished runs yet.", ""]
    for env in envs:
        by_seed = {variant: {run["seed"]: run for run in runs.get((env, variant), [])} for variant in ABLATION}
        seeds = sorted(set.intersection(*(set(seed_runs) for seed_runs in by_seed.values())))
        if not seeds:
            lines += [f"{env}: no seed finished by all of {', '.join(ABLATION)} yet.", ""]
            continue
        lines += [
            f"#### {env}, seeds {', '.join(map(str, seeds))}",
            "",
            f"| variant | final return per seed | mean | mean return over evaluations from {FROM_STEP:,} steps, per seed "
            "| mean |",
            "|---|---|---|---|---|",
        ]
        means = {}
        for variant in ABLATION:
            finals = [by_seed[variant][seed]["eval_returns"][-1] for seed in seeds]
            windows = [window_mean(by_seed[variant][seed]) for seed in seeds]
            means[variant] = float(np.mean(windows))
            lines.append(
                f"| {variant} | {', '.join(f'{x:.0f}' for x in finals)} | {np.mean(finals):.0f} "
                f"| {', '.join(f'{x:.0f}' for x in windows)} | {means[variant]:.0f} |"
            )
        gap = means["sac"] - means["sacv1"]
        if gap > 0:
            share = (means["sacv1_seq"] - means["sacv1"]) / gap
            verdict = (
                f"the update order's share (sacv1_seq - sacv1) / (sac - sacv1): {share:.2f} (0: none of the gap, 1: all of it)"
            )
        else:
            verdict = "SACV1 is not behind SAC on these seeds, so there is no gap to split"
        lines += ["", f"- SAC - SACV1 in the window means: {gap:.0f}; {verdict}; {len(seeds)} seeds."]
        # with the order made SAC's, the value target is all that separates sacv1_seq from sac
        value_gaps = [window_mean(by_seed["sac"][seed]) - window_mean(by_seed["sacv1_seq"][seed]) for seed in seeds]
        ahead = sum(difference > 0 for difference in value_gaps)
        lines += [
            f"- The value target's effect, SAC - sacv1_seq (the same update order; SACV1's value network and its Polyak "
            f"target against SAC's twin target critics at a fresh next action): {means['sac'] - means['sacv1_seq']:.0f} "
            f"in the window means (per seed {', '.join(f'{x:.0f}' for x in value_gaps)}; SAC ahead on {ahead} of "
            f"{len(seeds)} seeds).",
            "",
        ]
    return lines


def lent_machine_sentence(runs: dict[tuple[str, str], list[dict[str, Any]]]) -> str:
    """Names the runs that learned part of their steps on another machine than the one that finished them."""
    mixed = sorted(
        f"{run['env']} {run['variant']} seed {run['seed']}"
        for group in runs.values()
        for run in group
        if len({machine_fingerprint(machine) for machine in run.get("machines", [])}) > 1
    )
    if not mixed:
        return ""
    return (
        f" {len(mixed)} run{'s' if len(mixed) > 1 else ''} learned some of their steps on another machine (a bigger "
        "one lent for a slice): "
        f"{', '.join(mixed)}; their returns are whole runs, their steps/s count only the slices on the machine that "
        "finished them."
    )


def report(raw: Path, results: Path) -> None:
    runs = load_runs(raw)
    lines = [
        "## MuJoCo replication (issue 14)",
        "",
        "Generated by `python benchmarks/mujoco_campaign.py report` from `benchmarks/results/raw/mujoco/` "
        f"({sum(len(v) for v in runs.values())} finished runs). Evaluation every 10k steps, 10 deterministic episodes "
        "on a separate environment; IQM across seeds with rliable's stratified-bootstrap 95% CIs. Steps/s exclude "
        "evaluation and checkpoints; compare them only between runs of the same machine (each raw file lists its "
        f"machines).{lent_machine_sentence(runs)}",
        "",
    ]
    for title, (ours, reference, variants) in EXPERIMENTS.items():
        lines += experiment_section(title, ours, reference, variants, runs, results)
    lines += ablation_section(runs)
    (results / "mujoco.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    report(HERE / "results" / "raw" / "mujoco", HERE / "results")
