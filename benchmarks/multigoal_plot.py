"""
Train continuous SoftQLearning on MultiGoal-v0 and plot sampled trajectories and first actions.

    python benchmarks/multigoal_plot.py

Writes ``docs/images/sql_multigoal.png``: trajectories of the stochastic policy from the origin, over the
distance-to-nearest-goal cost, and the directions of 500 actions sampled at the origin. Uses the
``zoo_configs/sql.yml`` entry of MultiGoal-v0.
"""

import argparse
from pathlib import Path

import numpy as np
import torch as th
from multigoal_modes import sql_entry

from sb3_maxent import SoftQLearning
from sb3_maxent.envs.multigoal import MultiGoalEnv

OUTPUT = Path(__file__).resolve().parent.parent / "docs" / "images" / "sql_multigoal.png"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--trajectories", type=int, default=30)
    args = parser.parse_args()
    th.set_num_threads(1)

    config = sql_entry()  # the zoo_configs/sql.yml entry of MultiGoal-v0
    n_timesteps = int(config.pop("n_timesteps"))
    policy = config.pop("policy")
    model = SoftQLearning(policy, MultiGoalEnv(), seed=args.seed, **config)
    model.learn(n_timesteps)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    env = MultiGoalEnv()
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4.8))
    grid = np.linspace(-7, 7, 200)
    xs, ys = np.meshgrid(grid, grid)
    points = np.stack([xs, ys], axis=-1)
    cost = np.min(np.linalg.norm(points[..., None, :] - env.goals, axis=-1), axis=-1)
    left.contourf(xs, ys, -cost, levels=30, cmap="viridis")
    for episode in range(args.trajectories):
        obs, _ = env.reset(seed=episode)
        path = [obs]
        done = False
        while not done:
            action, _ = model.predict(obs)
            obs, _, terminated, truncated, _ = env.step(action)
            path.append(obs)
            done = terminated or truncated
        path_array = np.array(path)
        left.plot(path_array[:, 0], path_array[:, 1], color="white", linewidth=0.8, alpha=0.8)
    left.scatter(env.goals[:, 0], env.goals[:, 1], color="red", marker="*", s=150, zorder=3)
    left.set_title(f"{args.trajectories} sampled trajectories from the origin")
    left.set_aspect("equal")

    actions, _ = model.predict(np.zeros((500, 2), dtype=np.float32))
    right.scatter(actions[:, 0], actions[:, 1], s=6, alpha=0.5)
    right.set_xlim(-1.05, 1.05)
    right.set_ylim(-1.05, 1.05)
    right.set_aspect("equal")
    right.axhline(0, color="grey", linewidth=0.5)
    right.axvline(0, color="grey", linewidth=0.5)
    right.set_title("500 actions sampled at the origin")
    figure.suptitle(f"SoftQLearning (SVGD sampler) on MultiGoal-v0, {n_timesteps} steps, seed {args.seed}")
    figure.tight_layout()
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(OUTPUT, dpi=110)
    goal_of_action = np.argmax(actions @ env.goals.T, axis=1)
    print("fraction of first actions towards each goal (+x, -x, +y, -y):", np.bincount(goal_of_action, minlength=4) / 500)


if __name__ == "__main__":
    main()
