#!/usr/bin/env bash
# Every benchmark whose table README.md quotes, in one command (about two hours on 2 busy cores).
set -euo pipefail
cd "$(dirname "$0")/.."
python benchmarks/compare.py --env Pendulum-v1 --variants sacv1 sac --steps 20000 --seeds 5 --eval-every 2000 --eval-episodes 10 --name Pendulum-v1
python benchmarks/compare.py --env HalfCheetah-v5 --variants sacv1 sac --steps 6000 --seeds 3 --eval-every 2000 --eval-episodes 3 --learning-starts 2000 --name HalfCheetah-v5
python benchmarks/throughput.py --repetitions 3 --steps 1000
python benchmarks/soft_vi_scale.py
python benchmarks/multigoal_plot.py
