#!/usr/bin/env bash
# The test command (README, .ci/run): set up, then ruff, mypy and the whole pytest suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export JIBRIL_RULES_NO_EMERGENCY=1  # PowerOff/Panic can never fire under the test command
echo "== ruff";  python3 -m ruff check jibril_rules tests bench
echo "== mypy";  python3 -m mypy jibril_rules
echo "== lint the bundled alchemies"; python3 -m jibril_rules.cli lint alchemies/
echo "== pytest"; python3 -m pytest -q -rs "$@"
