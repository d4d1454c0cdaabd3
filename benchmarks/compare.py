"""
Side-by-side learning benchmarks: our algorithms against SB3's, same environment, same run, several seeds.

    python benchmarks/compare.py --env CartPole-v1 --variants sql dqn --steps 50000 --seeds 5
    python benchmarks/compare.py --env Pendulum-v1 --variants sacv1_callback sacv1_alpha0.1 sac --seeds 5
    python benchmarks/compare.py --env Acrobot-v1 --variants msql sql sacv1 dqn --steps 100000 --iqm

Variants (hyperparameters from the bundled rl-zoo configs, so that every variant of one algorithm family
shares them):

- ``sacv1``, ``sac``: the ``zoo_configs/sacv1.yml`` entry (SB3's SAC receives exactly the same arguments);
- ``sacv1_alpha<x>``: the same with a fixed ``ent_coef=x``; ``sacv1_lr<x>``: with learning rate ``x``;
  ``sacv1_utd<k>``: ``k`` gradient steps per environment step (``gradient_steps = k * train_freq``);
- ``sacv1_callback``, ``sac_callback``: the same with ``ent_coef=1.0`` driven by ``EntropyTargetCallback``
  (target ``-dim(A)``, learning rate of the config);
- ``sql``: the ``zoo_configs/sql.yml`` entry; modifiers after it change one setting each:
  ``sql_alpha<x>`` (``ent_coef=x``), ``sql_target<x>`` (learned temperature, constant ``target_entropy=x``),
  ``sql_mse`` / ``sql_huber`` (the loss), ``sql_lr<x>`` (learning rate), ``sql_tui<n>`` (target update interval),
  ``msql_m<x>`` (``munchausen_coef``), e.g. ``sql_mse_alpha0.01``; an entry's ``callback`` is built as rl-zoo does;
- ``msql``: the ``zoo_configs/msql.yml`` entry (Munchausen soft Q-learning);
- ``sacv1_tent<x>`` (discrete actions): the sacv1 entry with ``target_entropy = x log|A|``; ``sacv1_tenteps``: with
  the entropy of the final epsilon-greedy policy of rl_zoo3's DQN entry;
- ``<family>_epssched`` (discrete actions; ``msql``, ``sql``, ``sacv1``): the entropy target follows the
  epsilon-greedy policy of rl_zoo3's DQN entry along its exploration schedule (``EntropyTargetCallback``);
- ``dqn``: rl_zoo3's own tuned ``dqn.yml`` entry (SB3's DQN).

Runs are interleaved over ``--workers`` processes with one torch thread each; finished runs are stored in
``benchmarks/results/raw/`` and skipped when the command is run again. Writes
``benchmarks/results/<env>_<variants>.md`` (final return median and IQR, steps/s, ratio to the reference
variant, the last one listed; ``--iqm``: rliable's IQM with stratified-bootstrap 95% CIs instead of median and IQR) and
a PNG of the learning curves, plus one of the temperature and entropy
traces when a variant has them.
"""

import argparse
import json
import multiprocessing
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from sb3_maxent.zoo.yaml_files import DataLoader

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class RunResult:
    algo: str
    env: str
    seed: int
    steps: int
    eval_timesteps: list[int]
    eval_returns: list[float]
    train_seconds: float
    ent_coefs: list[float] = field(default_factory=list)
    entropies: list[float] = field(default_factory=list)
    batch: str = ""  # which invocation of this script produced the run (steps/s compare only within one)
    machine: dict[str, Any] = field(default_factory=dict)  # CPU, cores, threads, versions (empty in older files)

    @property
    def steps_per_second(self) -> float:
        return self.steps / self.train_seconds

    @property
    def final_return(self) -> float:
        return self.eval_returns[-1]


def zoo_entry(config_file: Path, env_id: str) -> dict[str, Any]:
    configs = yaml.load(config_file.read_text(), Loader=DataLoader)
    entry = dict(configs.get(env_id, configs.get("default", {})))
    entry.pop("n_timesteps", None)
    if isinstance(entry.get("policy_kwargs"), str):
        entry["policy_kwargs"] = eval(entry["policy_kwargs"])  # rl-zoo stores them as Python source
    return entry


def build_variant(name: str, env_id: str) -> tuple[type, dict[str, Any], Any]:
    """:return: algorithm class, keyword arguments and an optional callback for a variant name."""
    from stable_baselines3 import DQN, SAC

    from sb3_maxent import SACV1, EntropyTargetCallback, SoftQLearning
    from sb3_maxent.zoo import config_path

    if name == "dqn":
        import rl_zoo3

        return DQN, zoo_entry(Path(rl_zoo3.__file__).parent / "hyperparams" / "dqn.yml", env_id), None
    if name in ("sql", "msql") or name.startswith(("sql_", "msql_")):
        # modifiers: "_mse" / "_huber" (loss), "_alpha0.03" (a fixed temperature, as the Munchausen paper's tau)
        family, *modifiers = name.split("_")
        kwargs = zoo_entry(config_path(family), env_id)
        callback = entry_callback(kwargs)
        for modifier in modifiers:
            if modifier in ("mse", "huber"):
                kwargs["loss"] = modifier
            elif modifier.startswith("alpha"):
                kwargs["ent_coef"] = float(modifier.removeprefix("alpha"))
                callback = None
            elif modifier.startswith("target"):
                # a learned temperature with a constant entropy target, e.g. "target0.349"
                kwargs = without_exploration(kwargs)
                kwargs.update(ent_coef="auto", target_entropy=float(modifier.removeprefix("target")))
                callback = None
            elif modifier == "epssched":
                kwargs, callback = with_epsilon_schedule_target(kwargs, env_id)
            elif modifier.startswith("lr"):
                kwargs["learning_rate"] = float(modifier.removeprefix("lr"))
            elif modifier.startswith("tui"):
                # the target network's refresh period in environment steps (hard updates, as DQN's)
                kwargs["target_update_interval"] = int(modifier.removeprefix("tui"))
            elif modifier.startswith("m") and modifier[1:].replace(".", "", 1).isdigit():
                # Munchausen's scale: "m0" turns the bonus off and leaves soft Q-learning with the entry's settings
                kwargs["munchausen_coef"] = float(modifier[1:])
            else:
                raise ValueError(f"unknown variant {name!r}")
        return SoftQLearning, kwargs, callback
    family, *modifiers = name.split("_")
    algo_class = {"sacv1": SACV1, "sac": SAC}[family]
    kwargs = zoo_entry(config_path("sacv1"), env_id)
    callback = entry_callback(kwargs)
    for modifier in modifiers:
        if modifier.startswith("alpha"):
            kwargs["ent_coef"] = float(modifier.removeprefix("alpha"))
        elif modifier.startswith("tent"):
            # discrete SACV1's entropy target: "tent0.98" = 0.98 log|A| (the paper), "tenteps" = the entropy of the
            # final epsilon-greedy policy of rl_zoo3's tuned DQN entry (what discrete SoftQLearning targets)
            kwargs["target_entropy"] = discrete_target_entropy(modifier.removeprefix("tent"), env_id)
        elif modifier == "dqn":
            # discrete SACV1 on the budget of rl_zoo3's tuned DQN entry: its learning rate, batch, buffer, warm-up,
            # update frequency, networks and discount, and the entropy of its final epsilon-greedy policy as target
            kwargs.update(dqn_budget(env_id))
            kwargs["target_entropy"] = discrete_target_entropy("eps", env_id)
        elif modifier.startswith("q") and modifier[1:].isdigit():
            # "q1": one critic instead of the clipped pair (no minimum over critics)
            policy_kwargs = dict(kwargs.get("policy_kwargs", {}))
            policy_kwargs["n_critics"] = int(modifier[1:])
            kwargs["policy_kwargs"] = policy_kwargs
        elif modifier in ("mse", "huber"):
            # the critics' regression loss: the paper's squared error or DQN's Huber loss
            kwargs["loss"] = modifier
        elif modifier == "epssched":
            kwargs, callback = with_epsilon_schedule_target(kwargs, env_id)
        elif modifier.startswith("lr"):
            kwargs["learning_rate"] = float(modifier.removeprefix("lr"))
        elif modifier.startswith("utd") and modifier[3:].isdigit():
            # "utd2": twice the gradient steps per environment step (gradient_steps = 2 x train_freq), the same data
            kwargs["gradient_steps"] = int(modifier[3:]) * int(kwargs.get("train_freq", 1))
        elif modifier.startswith("ls") and modifier[2:].isdigit():
            # "ls10000": that many uniformly random steps before the first update (SAC's MuJoCo warm-up)
            kwargs["learning_starts"] = int(modifier[2:])
        elif modifier == "callback":
            kwargs["ent_coef"] = 1.0
            learning_rate = kwargs.get("learning_rate", 3e-4)
            callback = EntropyTargetCallback(target_entropy="auto", learning_rate=float(learning_rate))
        else:
            raise ValueError(f"unknown variant {name!r}")
    return algo_class, kwargs, callback


def without_exploration(kwargs: dict[str, Any]) -> dict[str, Any]:
    """An entry without its entropy target: ``target_entropy`` and DQN's ``exploration_*`` arguments that set it."""
    return {key: value for key, value in kwargs.items() if key != "target_entropy" and not key.startswith("exploration_")}


def entry_callback(kwargs: dict[str, Any]) -> Any:
    """Takes a zoo entry's ``callback`` out of ``kwargs`` and builds it as rl_zoo3 does (one callback, or None)."""
    if "callback" not in kwargs:
        return None
    from rl_zoo3.utils import get_callback_list

    callbacks = get_callback_list({"callback": kwargs.pop("callback")})
    if len(callbacks) != 1:
        raise ValueError(f"compare.py runs an entry with one callback, got {len(callbacks)}")
    return callbacks[0]


def dqn_budget(env_id: str) -> dict[str, Any]:
    """The training budget of rl_zoo3's tuned DQN entry (not its exploration schedule or target update)."""
    import rl_zoo3

    dqn = zoo_entry(Path(rl_zoo3.__file__).parent / "hyperparams" / "dqn.yml", env_id)
    shared = ("learning_rate", "batch_size", "buffer_size", "learning_starts", "gamma", "train_freq", "gradient_steps")
    return {key: dqn[key] for key in (*shared, "policy_kwargs") if key in dqn}


def with_epsilon_schedule_target(kwargs: dict[str, Any], env_id: str) -> tuple[dict[str, Any], Any]:
    """
    The entry's learned temperature, its target now following rl_zoo3's DQN exploration for ``env_id``
    (``EpsilonGreedyEntropyCallback`` with that entry's ``exploration_*`` arguments), so that the soft method explores
    as much as DQN at every step; the temperature starts at 1, as ``"auto"`` does.

    :return: the keyword arguments (``ent_coef`` the callback's to write) and the callback
    """
    import rl_zoo3

    from sb3_maxent import EpsilonGreedyEntropyCallback

    dqn = zoo_entry(Path(rl_zoo3.__file__).parent / "hyperparams" / "dqn.yml", env_id)
    kwargs = {key: value for key, value in without_exploration(kwargs).items() if key != "callback"}
    kwargs["ent_coef"] = 1.0
    callback = EpsilonGreedyEntropyCallback(
        exploration_fraction=float(dqn.get("exploration_fraction", 0.1)),
        exploration_initial_eps=float(dqn.get("exploration_initial_eps", 1.0)),
        exploration_final_eps=float(dqn.get("exploration_final_eps", 0.05)),
        learning_rate=float(kwargs.get("learning_rate", 3e-4)),
    )
    return kwargs, callback


def discrete_target_entropy(spec: str, env_id: str) -> float:
    import math

    import gymnasium as gym

    from sb3_maxent import epsilon_greedy_entropy

    n_actions = int(gym.make(env_id).action_space.n)
    if spec == "eps":
        import rl_zoo3

        dqn = zoo_entry(Path(rl_zoo3.__file__).parent / "hyperparams" / "dqn.yml", env_id)
        return epsilon_greedy_entropy(float(dqn.get("exploration_final_eps", 0.05)), n_actions)
    return float(spec) * math.log(n_actions)


def temperature_and_entropy(model: Any) -> tuple[float, float] | None:
    """The current alpha and the policy's entropy on a replay batch (SAC-like models and discrete SQL)."""
    import torch as th

    boltzmann = hasattr(model.policy, "boltzmann_log_probs")
    softmax = hasattr(getattr(model, "actor", None), "action_log_probs")  # discrete SACV1
    gaussian = hasattr(getattr(model, "actor", None), "action_log_prob")
    if (
        not (boltzmann or softmax or gaussian)
        or getattr(model, "replay_buffer", None) is None
        or model.replay_buffer.size() == 0
    ):
        return None
    log_alpha = getattr(model, "log_ent_coef", None)
    alpha = float(log_alpha.exp().item()) if log_alpha is not None else float(model.ent_coef_tensor.item())
    observations = model.replay_buffer.sample(256).observations
    with th.no_grad():
        if boltzmann or softmax:
            # the exact entropy of pi = softmax(Q / alpha), or of the softmax actor
            log_probs = (
                model.policy.boltzmann_log_probs(observations) if boltzmann else model.actor.action_log_probs(observations)
            )
            return alpha, float(-(log_probs.exp() * log_probs).sum(dim=1).mean().item())
        _, log_prob = model.actor.action_log_prob(observations)
    return alpha, float(-log_prob.mean().item())


def run_one(job: dict[str, Any]) -> RunResult:
    import torch as th
    from mujoco_campaign import machine
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy

    from sb3_maxent.envs.multigoal import register_multigoal

    th.set_num_threads(1)
    register_multigoal()
    algo_class, kwargs, extra_callback = build_variant(job["algo"], job["env"])
    policy = kwargs.pop("policy", "MlpPolicy")
    kwargs.update(job["overrides"])
    if job.get("net_arch"):
        kwargs["policy_kwargs"] = {**(kwargs.get("policy_kwargs") or {}), "net_arch": job["net_arch"]}
    env = make_vec_env(job["env"], n_envs=1, seed=job["seed"])
    eval_env = make_vec_env(job["env"], n_envs=1, seed=10_000 + job["seed"])

    class TimedEvaluation(BaseCallback):
        """Evaluates every ``eval_every`` steps; evaluation time is excluded from the training time."""

        def __init__(self) -> None:
            super().__init__()
            self.timesteps: list[int] = []
            self.returns: list[float] = []
            self.ent_coefs: list[float] = []
            self.entropies: list[float] = []
            self.eval_seconds = 0.0

        def _on_step(self) -> bool:
            if self.num_timesteps % job["eval_every"] == 0:
                start = time.perf_counter()
                mean_return, _ = evaluate_policy(self.model, eval_env, n_eval_episodes=job["eval_episodes"])
                self.timesteps.append(self.num_timesteps)
                self.returns.append(float(mean_return))
                traces = temperature_and_entropy(self.model)
                if traces is not None:
                    self.ent_coefs.append(traces[0])
                    self.entropies.append(traces[1])
                self.eval_seconds += time.perf_counter() - start
            return True

    # the CPU with one torch thread, also where a GPU is present: SB3's device="auto" would put 16 parallel runs of
    # these small networks on one GPU, which made LunarLander-v3 runs on the 16-core device machine slower than here
    model = algo_class(policy, env, seed=job["seed"], verbose=0, device="cpu", **kwargs)
    evaluation = TimedEvaluation()
    callbacks = [evaluation] if extra_callback is None else [extra_callback, evaluation]
    start = time.perf_counter()
    model.learn(job["steps"], callback=callbacks)
    train_seconds = time.perf_counter() - start - evaluation.eval_seconds
    result = RunResult(
        job["algo"],
        job["env"],
        job["seed"],
        job["steps"],
        evaluation.timesteps,
        evaluation.returns,
        train_seconds,
        evaluation.ent_coefs,
        evaluation.entropies,
        job.get("batch", ""),
        machine(),
    )
    raw_path(job).write_text(json.dumps(asdict(result)))
    speed = result.steps_per_second
    print(f"{job['algo']} {job['env']} seed {job['seed']}: final {result.final_return:.1f}, {speed:.1f} steps/s")
    return result


def raw_path(job: dict[str, Any]) -> Path:
    net = f"_net{'x'.join(map(str, job['net_arch']))}" if job.get("net_arch") else ""
    return RESULTS / "raw" / f"{job['env']}_{job['algo']}_seed{job['seed']}_{job['steps']}{net}.json"


def load_result(path: Path) -> RunResult:
    return RunResult(**json.loads(path.read_text()))


def provenance(results: dict[str, list[RunResult]]) -> str:
    """'same run', or which variants were run apart (their steps/s then come from different machine loads)."""
    batches: dict[str, list[str]] = {}
    for algo, runs in results.items():
        for batch in sorted({r.batch for r in runs}):
            batches.setdefault(batch, []).append(algo.upper())
    if len(batches) == 1:
        return "same run"
    return "; ".join(f"{', '.join(algos)} run together" for algos in batches.values())


def median_and_iqr(values: np.ndarray) -> str:
    low, high = np.percentile(values, [25, 75])
    return f"{np.median(values):.1f} [{low:.1f}, {high:.1f}]"


def iqm_and_ci(values: np.ndarray) -> str:
    """rliable's interquartile mean across seeds with its stratified-bootstrap 95% CI."""
    from mujoco_report import iqm_with_ci

    points, intervals = iqm_with_ci(values[:, None])
    return f"{points[0]:.1f} [{intervals[0, 0]:.1f}, {intervals[1, 0]:.1f}]"


def write_table(name: str, env_id: str, results: dict[str, list[RunResult]], note: str, iqm: bool = False) -> str:
    reference = list(results)[-1]
    # steps/s are paired only within one invocation (same batch): runs made at other times ran under other loads
    reference_speed = {(r.seed, r.batch): r.steps_per_second for r in results[reference]}
    statistic, summary = ("IQM [95% CI]", iqm_and_ci) if iqm else ("median [IQR]", median_and_iqr)
    lines = [
        f"### {env_id}: {', '.join(v.upper() for v in results)} ({provenance(results)})",
        "",
        note,
        "",
        f"| variant | seeds | final return: {statistic} | mean of the last 3 evaluations: {statistic} | "
        f"steps/s: median | steps/s ratio to {reference.upper()} (paired seeds) |",
        "|---|---|---|---|---|---|",
    ]
    for algo, runs in results.items():
        finals = np.array([r.final_return for r in runs])
        # one evaluation is noisy on unstable tasks (CartPole): the mean of the last three is steadier
        last_three = np.array([np.mean(r.eval_returns[-3:]) for r in runs])
        speeds = np.array([r.steps_per_second for r in runs])
        paired = [r.steps_per_second / reference_speed[key] for r in runs if (key := (r.seed, r.batch)) in reference_speed]
        ratio = f"{np.median(paired):.2f}" if paired else "n/a (run apart)"
        cells = f"{summary(finals)} | {summary(last_three)} | {np.median(speeds):.1f} | {ratio}"
        lines.append(f"| {algo.upper()} | {len(runs)} | {cells} |")
    table = "\n".join(lines) + "\n"
    (RESULTS / f"{name}.md").write_text(table)
    return table


def plot(name: str, env_id: str, results: dict[str, list[RunResult]], steps: int, iqm: bool = False) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def band(axis, runs, attribute, label, with_iqm=False):
        values = np.array([getattr(r, attribute) for r in runs])
        timesteps = np.array(runs[0].eval_timesteps[: values.shape[1]])
        if with_iqm:
            from mujoco_report import iqm_with_ci

            center, (low, high) = iqm_with_ci(values)
        else:
            center = np.median(values, axis=0)
            low, high = np.percentile(values, [25, 75], axis=0)
        axis.plot(timesteps, center, label=label)
        axis.fill_between(timesteps, low, high, alpha=0.25)

    figure, axis = plt.subplots(figsize=(6, 4))
    statistic = "IQM, 95% CI" if iqm else "median, IQR"
    for algo, runs in results.items():
        band(axis, runs, "eval_returns", f"{algo.upper()} ({statistic}, {len(runs)} seeds)", with_iqm=iqm)
    axis.set(xlabel="environment steps", ylabel="evaluation return", title=f"{env_id} ({steps} steps)")
    axis.legend()
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(RESULTS / f"{name}.png", dpi=120)

    traced = {algo: runs for algo, runs in results.items() if all(r.ent_coefs for r in runs)}
    if traced:
        figure, (alpha_axis, entropy_axis) = plt.subplots(1, 2, figsize=(11, 4))
        for algo, runs in traced.items():
            band(alpha_axis, runs, "ent_coefs", algo.upper())
            band(entropy_axis, runs, "entropies", algo.upper())
        alpha_axis.set(xlabel="environment steps", ylabel="alpha (ent_coef)", yscale="log", title="temperature")
        entropy_axis.set(xlabel="environment steps", ylabel="-E[log pi] on replay states", title="policy entropy")
        for axis in (alpha_axis, entropy_axis):
            axis.legend()
            axis.grid(alpha=0.3)
        figure.tight_layout()
        figure.savefig(RESULTS / f"{name}_traces.png", dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="Pendulum-v1")
    parser.add_argument("--variants", nargs="+", default=["sacv1", "sac"])
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--eval-every", type=int, default=2_000)
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument("--learning-starts", type=int, default=None, help="override the configs (short budgets)")
    parser.add_argument("--net-arch", type=int, nargs="+", default=None, help="hidden layers of every network")
    parser.add_argument("--name", default=None, help="output file name (default: <env>_<variants>)")
    parser.add_argument("--iqm", action="store_true", help="rliable's IQM with 95%% bootstrap CIs instead of median/IQR")
    args = parser.parse_args()

    for variant in args.variants:
        build_variant(variant, args.env)  # unknown names fail before any run
    overrides = {} if args.learning_starts is None else {"learning_starts": args.learning_starts}
    jobs = [
        dict(algo=algo, env=args.env, seed=seed, steps=args.steps, eval_every=args.eval_every,
             eval_episodes=args.eval_episodes, overrides=overrides, net_arch=args.net_arch)
        for seed in range(args.seeds)
        for algo in args.variants
    ]  # fmt: skip
    (RESULTS / "raw").mkdir(parents=True, exist_ok=True)
    batch = time.strftime("%Y-%m-%dT%H:%M:%S")
    pending = [{**job, "batch": batch} for job in jobs if not raw_path(job).exists()]
    if pending:
        with multiprocessing.get_context("spawn").Pool(args.workers) as pool:
            pool.map(run_one, pending, chunksize=1)

    results = {algo: [load_result(raw_path(job)) for job in jobs if job["algo"] == algo] for algo in args.variants}
    name = args.name or f"{args.env}_{'_'.join(args.variants)}"
    budget = f"{args.steps} steps, {args.seeds} seeds, {args.workers} runs in parallel with one torch thread each"
    if args.net_arch:
        budget += f"; every network {args.net_arch} instead of the config's"
    note = (
        f"Budget: {budget}; evaluation every {args.eval_every} steps, {args.eval_episodes} episodes (deterministic "
        f"policy); final return = the last evaluation.{' Overrides: ' + str(overrides) if overrides else ''}"
    )
    print(write_table(name, args.env, results, note, iqm=args.iqm))
    plot(name, args.env, results, args.steps, iqm=args.iqm)


if __name__ == "__main__":
    main()
