#!/usr/bin/env bash
# SB3's own tests, from the stable-baselines3 sdist matching the installed version, with SACV1 in place of SAC
# and, in a second run, SoftQLearning in place of DQN (the plugin sb3_substitute.py does the substitution, keeps
# the tests that exercise the class and applies allowlist.toml).
#
#   bash tests/peer/run_sb3_suite.sh            # both
#   bash tests/peer/run_sb3_suite.sh SAC        # one; extra arguments go to pytest, e.g. -k identity
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
WORK="${SB3_SUITE_DIR:-$ROOT/.sb3-suite}"
VERSION="$(python -c 'import stable_baselines3; print(stable_baselines3.__version__)')"
SOURCE="$WORK/stable_baselines3-$VERSION"

if [ ! -d "$SOURCE/tests" ]; then
    mkdir -p "$WORK"
    python -m pip download --quiet --no-deps --no-binary :all: "stable-baselines3==$VERSION" -d "$WORK"
    tar -xzf "$WORK/stable_baselines3-$VERSION.tar.gz" -C "$WORK"
fi

SUBSTITUTES=("${1:-SAC}")
if [ $# -eq 0 ]; then SUBSTITUTES=(SAC DQN); else shift; fi
STATUS=0
for SUBSTITUTE in "${SUBSTITUTES[@]}"; do
    echo "== SB3 $VERSION tests with our class in place of $SUBSTITUTE"
    # the test files that import the class (the others, test_utils.py among them, need Atari and other extras)
    mapfile -t FILES < <(cd "$SOURCE" && grep -l -w "$SUBSTITUTE" tests/test_*.py)
    # run from the sdist's root so that its pytest settings apply; the installed SB3 is the one imported.
    # First everything but SB3's wall-clock tests, in parallel; then those alone, serially, on a quiet machine
    # (pytest's exit code 5, "no tests collected", means the class has none).
    for PASS in exclude only; do
        if [ "$PASS" = exclude ]; then WORKERS="${SB3_SUITE_WORKERS:-2}"; else WORKERS=0; fi
        RC=0
        (cd "$SOURCE" && SB3_SUBSTITUTE="$SUBSTITUTE" SB3_TIMING="$PASS" PYTHONPATH="$HERE${PYTHONPATH:+:$PYTHONPATH}" \
            python -m pytest "${FILES[@]}" -p sb3_substitute -p no:cacheprovider -q -n "$WORKERS" \
            -o addopts="" "$@") || RC=$?
        if [ "$RC" -ne 0 ] && [ "$RC" -ne 5 ]; then STATUS=1; fi
    done
done
exit $STATUS
