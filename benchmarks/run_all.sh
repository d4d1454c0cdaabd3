#!/usr/bin/env bash
# Every benchmark whose table README.md quotes, in one command (about 70 minutes on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
python benchmarks/sacv1_vs_sac.py --env Pendulum-v1 --steps 20000 --seeds 5 --eval-every 2000 --eval-episodes 10
python benchmarks/sacv1_vs_sac.py --env HalfCheetah-v5 --steps 15000 --seeds 3 --eval-every 5000 --eval-episodes 3 --learning-starts 5000
python benchmarks/throughput.py
