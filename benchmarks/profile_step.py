"""
Where one environment step of an off-policy algorithm spends its time, by part of the loop.

    python benchmarks/profile_step.py                       # SACV1 on Pendulum-v1, defaults
    python benchmarks/profile_step.py --algo sac            # SB3's SAC, for comparison
    python benchmarks/profile_step.py --algo sql --env CartPole-v1
    python benchmarks/profile_step.py --mkl                 # before OneDNNLinear: every layer on MKL (nn.Linear)

The model is built with the algorithm's defaults ("MlpPolicy", one torch thread, CPU), warmed up, then the
functions of each part of ``learn`` are wrapped with a timer for a timed stretch:

- collect: the policy's action (``_sample_action``: observation to tensor, forward pass, back to numpy), the
  environment's step, the replay buffer's ``add``;
- train: the replay sample, the losses' forward passes (``_step_losses``), the statistics' host sync and finiteness
  check, the backward pass, the optimisers' ``zero_grad`` and ``step``, the target networks' Polyak update, the
  logger; SB3's SAC (one ``train`` function) is split only into sample, backward, optimisers, target update,
  logger and the rest of its ``train``.

Times are exclusive: a wrapped function called inside another is subtracted from it. "other" is what none of the
wrapped functions covers (``learn``'s loop, callbacks, the learning-rate update, Python's own overhead). The
wrappers cost about a microsecond a call; the total of a profiled stretch is within a few percent of an unprofiled
one. Writes a markdown table (``--output``, default ``benchmarks/results/profile_<algo>_<env>.md``).
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch as th

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS


class ExclusiveTimer:
    """Accumulates the exclusive time of wrapped calls by category: a call's time minus its wrapped callees'."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._children_time: list[float] = []

    def wrap(self, function: Callable[..., Any], category: str) -> Callable[..., Any]:
        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            self._children_time.append(0.0)
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - start
                children = self._children_time.pop()
                self.seconds[category] += elapsed - children
                self.calls[category] += 1
                if self._children_time:
                    self._children_time[-1] += elapsed

        return timed

    def patch(self, owner: Any, name: str, category: str) -> None:
        setattr(owner, name, self.wrap(getattr(owner, name), category))


def build(algo: str, env_id: str, seed: int) -> Any:
    from stable_baselines3 import DQN, SAC

    from sb3_maxent import SACV1, SoftQLearning

    classes = {"sacv1": SACV1, "sac": SAC, "sql": SoftQLearning, "dqn": DQN}
    return classes[algo]("MlpPolicy", env_id, seed=seed, device="cpu")  # CPU timings, also beside a GPU


def instrument(model: Any, timer: ExclusiveTimer) -> None:
    """Wrap the functions of each part of the loop, on this model (and torch's backward, for the process)."""
    timer.patch(model, "_sample_action", "collect: policy action")
    timer.patch(model.env, "step", "collect: environment step")
    timer.patch(model.replay_buffer, "add", "collect: replay buffer add")
    timer.patch(model.replay_buffer, "sample", "train: replay sample")
    timer.patch(model, "train", "train: rest of train()")
    for name, category in (
        ("_step_losses", "train: forward passes (losses)"),
        ("_step_statistics", "train: statistics (host sync)"),
    ):
        if hasattr(model, name):
            timer.patch(model, name, category)
    module = sys.modules[type(model).train.__module__]
    for name, category in (("polyak_update", "train: target update"), ("check_finite_losses", "train: finiteness check")):
        if hasattr(module, name):
            timer.patch(module, name, category)
    timer.patch(th.Tensor, "backward", "train: backward")
    for optimizer in optimizers_of(model):
        timer.patch(optimizer, "zero_grad", "train: optimisers")
        timer.patch(optimizer, "step", "train: optimisers")
    timer.patch(model.logger, "record", "logger")
    timer.patch(model.logger, "dump", "logger")


def optimizers_of(model: Any) -> list[th.optim.Optimizer]:
    found = []
    for value in [model, *vars(model).values(), *(vars(model.policy).values())]:
        for candidate in (value, getattr(value, "optimizer", None)):
            if isinstance(candidate, th.optim.Optimizer) and all(candidate is not known for known in found):
                found.append(candidate)
    temperature = getattr(model, "temperature", None)
    if temperature is not None:
        found.extend(optimizer for optimizer in temperature.optimizers() if all(optimizer is not k for k in found))
    return found


def profile(algo: str, env_id: str, warmup: int, steps: int, seed: int) -> tuple[dict[str, float], float]:
    model = build(algo, env_id, seed)
    model.learn(warmup)  # fills the buffer past learning_starts, first updates, allocator warm-up
    timer = ExclusiveTimer()
    instrument(model, timer)
    start = time.perf_counter()
    model.learn(steps, reset_num_timesteps=False)
    total = time.perf_counter() - start
    return dict(timer.seconds), total


def table(algo: str, env_id: str, seconds: dict[str, float], total: float, steps: int, warmup: int) -> str:
    rows = dict(sorted(seconds.items()))
    rows["other (learn's loop, callbacks, learning-rate update)"] = total - sum(seconds.values())
    lines = [
        f"### Where a step's time goes: {algo} on {env_id} (defaults, one torch thread, CPU)",
        "",
        f"{steps} steps timed after a {warmup}-step warm-up: {1000 * total / steps:.2f} ms per environment step "
        f"({steps / total:.1f} steps/s on this machine; compare shares, not times, across machines).",
        "",
        "| part | ms per step | share |",
        "|---|---|---|",
    ]
    for name, value in rows.items():
        lines.append(f"| {name} | {1000 * value / steps:.3f} | {100 * value / total:.1f}% |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algo", default="sacv1", choices=["sacv1", "sac", "sql", "dqn"])
    parser.add_argument("--env", default="Pendulum-v1")
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mkl", action="store_true", help="OneDNNLinear.enabled = False: every layer as nn.Linear")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    th.set_num_threads(1)
    if args.mkl:
        from sb3_maxent.common.linear import OneDNNLinear

        OneDNNLinear.enabled = False

    seconds, total = profile(args.algo, args.env, args.warmup, args.steps, args.seed)
    text = table(args.algo + (" (MKL layers)" if args.mkl else ""), args.env, seconds, total, args.steps, args.warmup)
    suffix = "_mkl" if args.mkl else ""
    output = args.output or RESULTS / "probes" / f"profile_{args.algo}_{args.env}{suffix}.md"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
