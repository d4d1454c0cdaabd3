"""
Parameter checksums of every bundled zoo configuration after a short training run: the guard that a refactoring
keeps training bit-identical, so that finished benchmark runs stay valid.

    python benchmarks/checksums.py --write benchmarks/results/checksums.json   # before the change
    python benchmarks/checksums.py --check benchmarks/results/checksums.json   # after it: exit 1 on any difference

Each run: the zoo entry (``learning_starts`` lowered so that a few hundred steps train), seed 0, CPU, one torch
thread, ``STEPS`` environment steps; the checksum is the SHA-256 of every parameter and buffer of the policy and
of the temperature. Float results can differ between CPUs (vector instruction sets), so compare checksums made on
the same machine: write the reference from the old commit and check the new one in one sitting.
"""

import argparse
import hashlib
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
from common import zoo_entry as config_entry

STEPS = 400
LEARNING_STARTS = 100

# (algorithm, environment, extra) for every bundled entry worth a check: each algorithm and code path once or more
RUNS: list[tuple[str, str, dict[str, Any]]] = [
    ("sacv1", "Pendulum-v1", {}),
    ("sacv1", "Pendulum-v1", {"ent_coef": 0.2}),
    ("sacv1", "HalfCheetah-v5", {}),
    ("sacv1_callback", "Pendulum-v1", {"ent_coef": 1.0}),
    ("sql", "CartPole-v1", {}),
    ("sql", "LunarLander-v3", {}),
    ("sql", "CartPole-v1", {"ent_coef": 0.01, "loss": "mse"}),
    # an explicit callback target: "auto" for discrete actions changed meaning in 0.2 (DQN's final exploration)
    ("sql_callback", "CartPole-v1", {"ent_coef": 0.1, "callback_target_entropy": 0.98 * math.log(2)}),
    ("sql", "Pendulum-v1", {}),
    ("sql", "MultiGoal-v0", {}),
    ("sql", "Swimmer-v5", {}),
    ("soft_vi", "FrozenLake8x8-v1", {}),
    ("soft_vi", "Taxi-v4", {}),
]


def zoo_entry(algo: str, env_id: str) -> dict[str, Any]:
    from sb3_maxent.zoo import config_path

    return config_entry(config_path(algo), env_id)


def digest(model: Any) -> str:
    hasher = hashlib.sha256()
    for name, tensor in sorted(model.policy.state_dict().items()):
        if name == "ent_coef":  # version 0.1's copy of alpha in the discrete policy; alpha is hashed below
            continue
        hasher.update(name.encode())
        hasher.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    for name in ("log_ent_coef", "ent_coef_tensor"):
        value = getattr(model, name, None)
        if isinstance(value, th.Tensor):
            hasher.update(name.encode())
            hasher.update(value.detach().cpu().numpy().tobytes())
    return hasher.hexdigest()


def run(algo: str, env_id: str, extra: dict[str, Any]) -> str:
    from stable_baselines3.common.env_util import make_vec_env

    from sb3_maxent import SACV1, EntropyTargetCallback, SoftQLearning, SoftValueIteration
    from sb3_maxent.zoo.register import register_algorithms

    register_algorithms()  # MultiGoal-v0
    th.set_num_threads(1)
    family = algo.removesuffix("_callback")
    kwargs = {**zoo_entry(family, env_id), **extra}
    callback_target = kwargs.pop("callback_target_entropy", "auto")
    policy = kwargs.pop("policy", "MlpPolicy")
    if family == "soft_vi":
        model = SoftValueIteration(policy, env_id, seed=0, **kwargs)
        model.learn(STEPS)
        return hashlib.sha256(np.ascontiguousarray(model.q_values).tobytes()).hexdigest()
    if "learning_starts" in kwargs or family == "sacv1":
        kwargs["learning_starts"] = min(int(kwargs.get("learning_starts", LEARNING_STARTS)), LEARNING_STARTS)
    algo_class = {"sacv1": SACV1, "sql": SoftQLearning}[family]
    env = make_vec_env(env_id, n_envs=1, seed=0)
    model = algo_class(policy, env, seed=0, device="cpu", **kwargs)
    callback = EntropyTargetCallback(callback_target, learning_rate=3e-3) if algo.endswith("_callback") else None
    model.learn(STEPS, callback=callback)
    return digest(model)


def checksums(only: str = "") -> dict[str, str]:
    results = {}
    for algo, env_id, extra in RUNS:
        key = f"{algo} {env_id} {json.dumps(extra, sort_keys=True)}"
        if only not in key:
            continue
        results[key] = run(algo, env_id, extra)
        print(f"{results[key][:16]}  {key}", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", type=Path, help="write the checksums to this JSON file")
    group.add_argument("--check", type=Path, help="compare with this JSON file; exit 1 on any difference")
    parser.add_argument("--only", default="", help="run only the entries whose key contains this text")
    args = parser.parse_args()
    results = checksums(args.only)
    if args.write:
        previous = json.loads(args.write.read_text()) if args.write.exists() else {}
        args.write.write_text(json.dumps({**previous, **results}, indent=1) + "\n")
        return
    reference = {key: value for key, value in json.loads(args.check.read_text()).items() if args.only in key}
    different = [key for key in reference if results.get(key) != reference[key]]
    missing = [key for key in results if key not in reference]
    for key in different:
        print(f"DIFFERENT: {key}")
    print(f"{len(reference) - len(different)} of {len(reference)} identical; {len(missing)} not in the reference")
    sys.exit(1 if different else 0)


if __name__ == "__main__":
    main()
