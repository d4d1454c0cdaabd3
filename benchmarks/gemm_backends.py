"""
The matrix products of a linear layer on one CPU core, by backend: PyTorch's ``F.linear`` (MKL on x86), oneDNN's
linear kernel (what :class:`sb3_maxent.common.linear.OneDNNLinear` uses), NumPy's BLAS (OpenBLAS in the wheels) and
XLA (what SBX runs on), if JAX is installed.

    python benchmarks/gemm_backends.py                 # writes benchmarks/results/probes/gemm_backends.md

Shapes are (batch, in_features, out_features) of the layers the algorithms use: 256x256 hidden layers at SAC's batch
256, the input and output layers, DQN's 64x64 layers at its batch 32, one observation while acting. Each product is
timed in CPU time of the process (robust to a shared machine, which only stretches wall time), one thread for every
backend, after a warm-up; each backend computes ``x @ W.T + b``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

# one thread for XLA too, set before JAX is imported
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import numpy as np
import torch as th
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, is_installed, machine

SHAPES = [(1, 256, 256), (32, 64, 64), (256, 64, 64), (32, 256, 256), (256, 3, 256), (256, 256, 256), (256, 256, 1)]


def cpu_seconds_per_call(function: Callable[[], object], calls: int) -> float:
    for _ in range(max(calls // 10, 5)):
        function()
    start = time.process_time()
    for _ in range(calls):
        function()
    return (time.process_time() - start) / calls


def backends(inputs: th.Tensor, weight: th.Tensor, bias: th.Tensor) -> dict[str, Callable[[], object]]:
    from sb3_maxent.common.linear import _onednn_linear, onednn_linear_available

    found: dict[str, Callable[[], object]] = {"torch F.linear (MKL)": lambda: F.linear(inputs, weight, bias)}
    if onednn_linear_available():
        found["oneDNN linear"] = lambda: _onednn_linear(inputs, weight, bias)
    x, w_t, b = inputs.numpy(), np.ascontiguousarray(weight.numpy().T), bias.numpy()
    found["NumPy (its BLAS)"] = lambda: x @ w_t + b
    if is_installed("jax"):
        import jax
        import jax.numpy as jnp

        product = jax.jit(lambda x, w, b: x @ w.T + b)
        jx, jw, jb = jnp.asarray(x), jnp.asarray(weight.numpy()), jnp.asarray(b)
        found["XLA (JAX)"] = lambda: product(jx, jw, jb).block_until_ready()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--output", type=Path, default=RESULTS / "probes" / "gemm_backends.md")
    args = parser.parse_args()
    th.set_num_threads(1)

    rows = []
    names: list[str] = []
    for batch, in_features, out_features in SHAPES:
        generator = th.Generator().manual_seed(0)
        inputs = th.randn(batch, in_features, generator=generator)
        weight = th.randn(out_features, in_features, generator=generator)
        bias = th.randn(out_features, generator=generator)
        timings = {
            name: cpu_seconds_per_call(function, args.calls) for name, function in backends(inputs, weight, bias).items()
        }
        names = list(timings)
        rows.append(((batch, in_features, out_features), timings))
        print(batch, in_features, out_features, {name: f"{1e6 * value:.1f} us" for name, value in timings.items()}, flush=True)

    info = machine()
    lines = [
        "### A linear layer's product on one core, by backend (microseconds of CPU time per call)",
        "",
        f"{info['cpu']}; torch {info['torch']}; one thread each; `python benchmarks/gemm_backends.py`.",
        "",
        "| batch x in x out | " + " | ".join(names) + " |",
        "|---" * (len(names) + 1) + "|",
    ]
    for shape, timings in rows:
        cells = [f"{1e6 * timings[name]:.1f}" for name in names]
        lines.append(f"| {' x '.join(map(str, shape))} | " + " | ".join(cells) + " |")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
