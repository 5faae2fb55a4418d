#!/usr/bin/env bash
# The test command (README, .ci/run): set up (scripts/setup.sh), then ruff, mypy,
# `jibril lint` on the built-in recipes and the whole pytest suite, all with the venv's Python.
# Arguments go to pytest. Stops at the first failing step.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
venv="${JIBRIL_VENV:-$PWD/.venv}"
py="$venv/bin/python"
export JIBRIL_RULES_NO_EMERGENCY=1  # PowerOff/Panic can never fire under the test command
echo "== ruff";  "$py" -m ruff check jibril_rules tests bench
echo "== mypy";  "$py" -m mypy jibril_rules
echo "== lint the built-in recipes (from /, as an installed jibril sees them)"; (cd / && "$venv/bin/jibril" lint --netpolicy --fail-on warning)
echo "== pytest"
rc=0
"$py" -m pytest -q -rs "$@" || rc=$?
if [ "$rc" = 5 ]; then
  echo "test: pytest collected no tests (exit 5): the selection matched nothing" >&2
  exit 1
fi
exit "$rc"
