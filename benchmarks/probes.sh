#!/usr/bin/env bash
# Probes and checks: settings tried against a bundled entry and not adopted (or a longer budget), each cited by the
# docs page that says what it showed. Tables in benchmarks/results/probes/, runs in benchmarks/results/probes/raw/;
# the reference runs a probe shares (the entry's seeds of the tables that discrete.sh writes) are read from
# benchmarks/results/raw/, not run again. Finished runs are skipped, so this can be resumed. The other runs in
# probes/raw/ (the first discrete SACV1 entry's, superseded Acrobot-v1 runs, ...) were made with entries that have
# changed since, so no command here reproduces them; docs/modules/sacv1_discrete.md, msql.md and sql.md cite them.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}."
WORKERS="${WORKERS:-2}"
# probe: discrete SACV1 on LunarLander-v3 with the entropy target 0.5 log|A| against the entry's 0.349 nats (seeds 0-4
# of the entry are discrete.sh's LunarLander-v3_discrete runs)
python benchmarks/compare.py --env LunarLander-v3 --variants sacv1_tent0.5 sacv1 --steps 100000 --seeds 7 --eval-every 10000 --eval-episodes 10 --workers "$WORKERS" --iqm --out benchmarks/results/probes --plots --name LunarLander-v3_sacv1_target_probe
# probe: discrete SACV1 on LunarLander-v3 with learning rates 1e-3 (seeds 0-1) and 2e-4 (seed 0) against the entry's
# 6.3e-4 (both worse; stopped there)
python benchmarks/compare.py --env LunarLander-v3 --variants sacv1_lr1e-3 sacv1 --steps 100000 --seeds 2 --eval-every 10000 --eval-episodes 10 --workers "$WORKERS" --iqm --out benchmarks/results/probes --plots --name LunarLander-v3_sacv1_lr_probe
python benchmarks/compare.py --env LunarLander-v3 --variants sacv1_lr2e-4 sacv1 --steps 100000 --seeds 1 --eval-every 10000 --eval-episodes 10 --workers "$WORKERS" --iqm --out benchmarks/results/probes --plots --name LunarLander-v3_sacv1_lr2e-4_probe
# probe: discrete SACV1 on LunarLander-v3 with twice the gradient steps per environment step (seed 0; not adopted)
python benchmarks/compare.py --env LunarLander-v3 --variants sacv1_utd2 sacv1 --steps 100000 --seeds 1 --eval-every 10000 --eval-episodes 10 --workers "$WORKERS" --iqm --out benchmarks/results/probes --plots --name LunarLander-v3_sacv1_utd_probe
# probe: discrete SACV1 on LunarLander-v3 with 10,000 uniformly random steps before the first update (seeds 0-1; worse,
# not adopted)
python benchmarks/compare.py --env LunarLander-v3 --variants sacv1_ls10000 sacv1 --steps 100000 --seeds 2 --eval-every 10000 --eval-episodes 10 --workers "$WORKERS" --iqm --out benchmarks/results/probes --plots --name LunarLander-v3_sacv1_warmup_probe
# check: discrete SACV1's entry at twice DQN's budget (seeds 0-1; its first 100k steps are the 100k runs)
python benchmarks/compare.py --env LunarLander-v3 --variants sacv1 --steps 200000 --seeds 2 --eval-every 10000 --eval-episodes 10 --workers "$WORKERS" --iqm --out benchmarks/results/probes --plots --name LunarLander-v3_sacv1_200k
# probe (with the earlier learning rate): MSQL with the target network copied every 1000 steps instead of 250
# (seeds 0-4; not adopted)
python benchmarks/compare.py --env LunarLander-v3 --variants msql_lr6.3e-4_tui1000 msql_lr6.3e-4 dqn --steps 100000 --seeds 5 --eval-every 10000 --eval-episodes 10 --workers "$WORKERS" --iqm --out benchmarks/results/probes --plots --name LunarLander-v3_msql_tui1000_probe
