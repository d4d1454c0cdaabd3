#!/usr/bin/env bash
# Every benchmark whose table README.md quotes, in one command (about five hours on 2 busy cores; finished
# runs are kept in benchmarks/results/raw/ and skipped when the command is run again).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}."
# SACV1 (issue 3)
python benchmarks/compare.py --env Pendulum-v1 --variants sacv1 sac --steps 20000 --seeds 5 --eval-every 2000 --eval-episodes 10 --name Pendulum-v1
python benchmarks/throughput.py --repetitions 3 --steps 1000
# SoftValueIteration (issue 4)
python benchmarks/soft_vi_scale.py
# SoftQLearning (issue 5)
# sql: zoo_configs/sql.yml (learned temperature, Huber loss); sql_mse: the paper's MSE loss; sql_mse_alpha0.01: also the fixed ent_coef of earlier versions
python benchmarks/compare.py --env CartPole-v1 --variants sql sql_mse sql_mse_alpha0.01 dqn --steps 50000 --seeds 5 --eval-every 5000 --eval-episodes 10 --name CartPole-v1_sql_dqn
python benchmarks/compare.py --env LunarLander-v3 --variants sql sql_mse sql_mse_alpha0.01 dqn --steps 100000 --seeds 5 --eval-every 10000 --eval-episodes 10 --plots curves traces --name LunarLander-v3_sql_dqn
python benchmarks/throughput_sql.py
python benchmarks/compare.py --env Pendulum-v1 --variants sql sacv1 sac --steps 20000 --seeds 5 --eval-every 2000 --eval-episodes 10 --name Pendulum-v1_sql_sacv1_sac
python benchmarks/multigoal_plot.py
# EntropyTargetCallback (issue 6)
python benchmarks/compare.py --env Pendulum-v1 --variants sacv1_callback sacv1_alpha0.05 sacv1_alpha0.2 sac --steps 10000 --seeds 5 --eval-every 1000 --eval-episodes 5 --net-arch 64 64 --plots curves traces --name Pendulum-v1_entropy_target
# MuJoCo replication (issue 14): tables and PNGs from the finished runs only; `python benchmarks/mujoco_campaign.py
# run` works through (and resumes) the runs themselves, `... status` says what is done and what is left
python benchmarks/mujoco_campaign.py report
# Tuning with rl_zoo3 (issues 7 and 35): each study resumes where it stopped; compare skips the runs already written
for command in study compare report; do
    python benchmarks/tuned_vs_default.py $command --algo sacv1 --env Pendulum-v1 --n-trials 24 --trial-timesteps 10000
    python benchmarks/tuned_vs_default.py $command --algo soft_vi --env FrozenLake8x8-v1 --n-trials 30 \
        --trial-timesteps 2000 --trial-eval-episodes 200 --final-eval-episodes 1000
done
# Issue 39 (benchmarks/preregistration.md): the paper's baselines (resumable), MultiGoal modes, pretraining
python benchmarks/mujoco_campaign.py report --campaign sql_paper
python benchmarks/multigoal_modes.py run && python benchmarks/multigoal_modes.py report
python benchmarks/pretrain_finetune.py run && python benchmarks/pretrain_finetune.py report
python benchmarks/composition_demo.py
