#!/usr/bin/env bash
# Every benchmark whose table README.md quotes, in one command (about two hours on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
python benchmarks/sacv1_vs_sac.py --env Pendulum-v1 --steps 20000 --seeds 5 --eval-every 2000 --eval-episodes 10
python benchmarks/sacv1_vs_sac.py --env HalfCheetah-v5 --steps 10000 --seeds 3 --eval-every 2500 --eval-episodes 3 --learning-starts 2500
python benchmarks/throughput.py --repetitions 3 --steps 1000
python benchmarks/soft_vi_scale.py
