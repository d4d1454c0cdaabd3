"""
Levers on the speed of an update, each weighed by what it saves, in CPU time of this process on one thread.

    python benchmarks/levers.py     # writes benchmarks/results/probes/levers.md

- ReLU as a oneDNN post-op: a 256x256 layer at batch 256 followed by ``relu``, against the product with ReLU fused
  into it (``_linear_pointwise(..., "relu")``; the same bits);
- ``torch.compile`` of SACV1's losses and their backward pass at the defaults on Pendulum-v1, against eager (with the
  layers as ``nn.Linear``: the compiler does not lower OneDNNLinear's private operator, which is tried and reported);
- SB3's ``set_training_mode(False)``, which ``policy.predict`` calls on every environment step, against that predict;
- the temperature's dual step (Adam on one scalar), default against fused Adam;
- discrete SoftQLearning's Boltzmann fast paths (``sb3_maxent.common.boltzmann``): CPU time per CartPole-v1 step at
  the defaults with the general formulas put back, against the current ones (same bits).

Each is timed in alternation over repetitions; medians.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np
import torch as th

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, machine

REPETITIONS = 5


def cpu_microseconds(function: Callable[[], Any], calls: int) -> float:
    """CPU time of one call, in microseconds, over ``calls`` calls after one untimed call."""
    function()
    start = time.process_time()
    for _ in range(calls):
        function()
    return (time.process_time() - start) / calls * 1e6


def alternate(functions: dict[str, Callable[[], Any]], calls: int) -> dict[str, float]:
    """Median over repetitions of each function's CPU time per call; the order rotates each repetition."""
    names = list(functions)
    times: dict[str, list[float]] = {name: [] for name in names}
    for repetition in range(REPETITIONS):
        shift = repetition % len(names)
        for name in names[shift:] + names[:shift]:
            times[name].append(cpu_microseconds(functions[name], calls))
    return {name: float(np.median(values)) for name, values in times.items()}


def relu_post_op() -> list[str]:
    inputs, weight, bias = th.randn(256, 256), th.randn(256, 256) / 16, th.randn(256)

    def separate() -> th.Tensor:
        return th.relu(th.ops.mkldnn._linear_pointwise(inputs, weight, bias, "none", [], ""))

    def fused() -> th.Tensor:
        return th.ops.mkldnn._linear_pointwise(inputs, weight, bias, "relu", [], "")

    same = th.equal(separate(), fused())
    times = alternate({"separate": separate, "fused": fused}, calls=2000)
    return [
        f"| ReLU as a oneDNN post-op (256x256 layer, batch 256), us per layer | {times['separate']:.1f} | "
        f"{times['fused']:.1f} | not changed: {1 - times['fused'] / times['separate']:.0%} of one layer; same bits: {same} |"
    ]


def sacv1_losses_and_backward(model: Any, losses: Callable[..., Any], replay_data: Any) -> None:
    step = losses(replay_data, model.gamma, 0)
    (step.actor_loss + step.critic_loss + step.value_loss).backward()


def compiled_losses() -> list[str]:
    from sb3_maxent import SACV1
    from sb3_maxent.common.linear import OneDNNLinear

    rows = []
    model = SACV1("MlpPolicy", "Pendulum-v1", seed=0, device="cpu")
    model.learn(300)
    try:
        th.compile(model._step_losses)(model.replay_buffer.sample(256), model.gamma, 0)
        onednn = "compiles"
    except Exception as error:  # the private operator is not lowered by Inductor
        onednn = f"fails ({type(error).__name__})"
    th._dynamo.reset()
    OneDNNLinear.enabled = False
    try:
        replay_data = model.replay_buffer.sample(256)
        compiled = th.compile(model._step_losses)
        start = time.perf_counter()  # wall time: Inductor compiles its C++ in worker processes
        sacv1_losses_and_backward(model, compiled, replay_data)
        compile_seconds = time.perf_counter() - start
        times = alternate(
            {
                "eager": lambda: sacv1_losses_and_backward(model, model._step_losses, replay_data),
                "compiled": lambda: sacv1_losses_and_backward(model, compiled, replay_data),
            },
            calls=50,
        )
    finally:
        OneDNNLinear.enabled = True
    rows.append(
        f"| torch.compile of SACV1's losses + backward (Pendulum-v1, defaults, nn.Linear layers), ms per update | "
        f"{times['eager'] / 1e3:.2f} | {times['compiled'] / 1e3:.2f} | compile: {compile_seconds:.0f} s (wall); "
        f"with OneDNNLinear: {onednn} |"
    )
    return rows


def training_mode_on_predict() -> list[str]:
    from sb3_maxent import SoftQLearning

    model = SoftQLearning("MlpPolicy", "CartPole-v1", seed=0, device="cpu")
    observation = model.env.reset()
    times = alternate(
        {
            "predict": lambda: model.policy.predict(observation, deterministic=False),
            "set_training_mode": lambda: model.policy.set_training_mode(False),
        },
        calls=5000,
    )
    return [
        f"| SB3's set_training_mode(False) inside policy.predict (discrete SoftQLearning, CartPole-v1), us per call "
        f"| {times['predict']:.1f} (whole predict) | {times['set_training_mode']:.1f} (its share) | not changed: "
        "skipping it safely needs a walk over the modules that costs about half of it |"
    ]


def temperature_step() -> list[str]:
    gradients = th.rand(64)

    def optimiser(fused: bool) -> Callable[[], None]:
        parameter = th.zeros(1, requires_grad=True)
        adam = th.optim.Adam([parameter], lr=3e-4, fused=fused)

        def step() -> None:
            parameter.grad = (gradients.mean() - 0.5).reshape(1)
            adam.step()

        return step

    times = alternate({"default": optimiser(False), "fused": optimiser(True)}, calls=5000)
    return [
        f"| The temperature's dual step (Adam on log alpha), us per update | {times['default']:.1f} (default) | "
        f"{times['fused']:.1f} (fused) | not changed: a few us per update |"
    ]


def boltzmann_fast_paths() -> list[str]:
    from sb3_maxent import SoftQLearning
    from sb3_maxent.common import boltzmann

    def general_soft_value(q_values: th.Tensor, ent_coef: Any) -> th.Tensor:
        alpha = float(ent_coef)
        max_q = q_values.max(dim=-1, keepdim=True).values
        return max_q + alpha * th.logsumexp((q_values - max_q) / alpha, dim=-1, keepdim=True)

    def general_logits(q_values: th.Tensor, ent_coef: Any) -> th.Tensor:
        scaled = q_values / ent_coef
        shifted = (q_values - q_values.max(dim=-1, keepdim=True).values) / ent_coef
        return th.where(th.isfinite(scaled).all(dim=-1, keepdim=True), scaled, shifted)

    current = (boltzmann.soft_value, boltzmann.logits)
    model = SoftQLearning("MlpPolicy", "CartPole-v1", seed=0, device="cpu")
    model.learn(1500)

    def learn_with(formulas: tuple[Callable, Callable]) -> Callable[[], None]:
        def run() -> None:
            boltzmann.soft_value, boltzmann.logits = formulas
            try:
                model.learn(500, reset_num_timesteps=False)
            finally:
                boltzmann.soft_value, boltzmann.logits = current

        return run

    times = alternate({"general": learn_with((general_soft_value, general_logits)), "fast": learn_with(current)}, calls=2)
    return [
        f"| Discrete SoftQLearning's Boltzmann fast paths (CartPole-v1, defaults), us per environment step | "
        f"{times['general'] / 500:.0f} (general formulas) | {times['fast'] / 500:.0f} (fast paths) | kept: same bits, "
        f"{times['general'] / times['fast']:.2f}x |"
    ]


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--context", default="", help="what else ran on the machine, written into the header")
    args = parser.parse_args()
    th.set_num_threads(1)
    rows = [*relu_post_op(), *training_mode_on_predict(), *temperature_step(), *boltzmann_fast_paths(), *compiled_losses()]
    info = machine()
    lines = [
        "### Levers on the speed of an update, weighed",
        "",
        f"`python benchmarks/levers.py`: CPU time of one process on one thread ({info['cpu']}, torch {info.get('torch')}), "
        f"each pair timed in alternation, median of {REPETITIONS} repetitions. {args.context}".rstrip(),
        "",
        "| lever | before | after | note |",
        "|---|---|---|---|",
        *rows,
    ]
    output = RESULTS / "probes" / "levers.md"
    output.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
