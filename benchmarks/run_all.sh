#!/usr/bin/env bash
# Every benchmark whose table README.md quotes, in one command (about two hours on 2 busy cores).
set -euo pipefail
cd "$(dirname "$0")/.."
python benchmarks/sacv1_vs_sac.py --env Pendulum-v1 --steps 20000 --seeds 5 --eval-every 2000 --eval-episodes 10
python benchmarks/sacv1_vs_sac.py --env HalfCheetah-v5 --steps 6000 --seeds 3 --eval-every 2000 --eval-episodes 3 --learning-starts 2000
python benchmarks/throughput.py --repetitions 3 --steps 1000
python benchmarks/soft_vi_scale.py
python benchmarks/multigoal_plot.py
