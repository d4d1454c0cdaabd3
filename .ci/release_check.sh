#!/usr/bin/env bash
# Release check: what a PyPI user gets. Builds the wheel and the sdist, checks their metadata with twine, installs
# the wheel (not editable) into a fresh virtual environment, runs a short zoo job from an empty folder, and
# collects the unpacked sdist's tests and builds its docs. Run from the repository root, inside the CI virtual environment.
set -euo pipefail
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

python -m build --outdir "$WORK/dist" . > "$WORK/build.log" 2>&1 || { tail -50 "$WORK/build.log"; exit 1; }
twine check --strict "$WORK"/dist/*

python3 -m venv "$WORK/venv"
"$WORK/venv/bin/python" -m pip install -q --upgrade pip
"$WORK/venv/bin/pip" install -q torch==2.13.0
WHEEL="$(ls "$WORK"/dist/*.whl)"
"$WORK/venv/bin/pip" install -q "$WHEEL[zoo]"
mkdir "$WORK/empty"
(
    cd "$WORK/empty"
    "$WORK/venv/bin/python" -m sb3_maxent.train --algo sql --env CartPole-v1 -n 300 --eval-freq -1 \
        --final-eval-episodes 2 -params learning_starts:100 "policy_kwargs:dict(net_arch=[16])" | tail -2
    test -f logs/sql/CartPole-v1_1/CartPole-v1.zip
)

mkdir "$WORK/sdist"
tar xzf "$WORK"/dist/*.tar.gz -C "$WORK/sdist"
(cd "$WORK"/sdist/* && python -m pytest --collect-only -q -p no:cacheprovider | tail -1)
# the docs build from the unpacked sdist too, warnings as errors (every image and page they use is in it)
(cd "$WORK"/sdist/* && python -m sphinx -E -W --keep-going -q -b html docs "$WORK/sdist_docs")
echo "release check passed"
