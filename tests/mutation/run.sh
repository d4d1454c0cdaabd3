#!/usr/bin/env bash
# Mutation testing of the maths modules (common/, sacv1/, sql/, tabular/) against the unit tests that pin them.
# The settings are pyproject.toml's [tool.mutmut]; CONTRIBUTING.md has the score and the survivors' triage.
#
#   pip install -e ".[mutation]"
#   bash tests/mutation/run.sh              # every mutant (well over an hour on two cores; resumable)
#   bash tests/mutation/run.sh "sb3_maxent.sql.svgd*"    # only these mutants
#
# Ends with the score (tests/mutation/score.py): killed / (all - equivalent), where a mutant no selected test
# reaches counts as surviving, and fails if it is below MUTATION_TARGET (default 98, the reliability issue's bar).
set -euo pipefail
cd "$(dirname "$0")/../.."
# one thread per forked test process: the children run side by side
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
mutmut run --max-children "${MUTMUT_CHILDREN:-$(nproc)}" "$@" > /dev/null || true
mutmut export-cicd-stats > /dev/null
python tests/mutation/score.py --target "${MUTATION_TARGET:-98}"
