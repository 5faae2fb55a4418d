#!/usr/bin/env bash
# Set up jibril-rules on a fresh Debian machine (idempotent, stops at the first error):
#  1. system packages (bcc, kernel headers, nftables, ...): jibril_rules/data/setup/system.sh,
#     the same script `sudo jibril setup` runs from an installed package;
#  2. a virtual environment ($JIBRIL_VENV, default .venv in the checkout) holding the project and
#     its dev tools (pytest, ruff, mypy, pre-commit, build). Nothing is installed system-wide.
# Then `.venv/bin/jibril` works from any folder. JIBRIL_SKIP_SYSTEM=1 skips step 1.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
venv="${JIBRIL_VENV:-$root/.venv}"
python="${JIBRIL_PYTHON:-python3}"

if [ "${JIBRIL_SKIP_SYSTEM:-0}" != 1 ]; then
  bash jibril_rules/data/setup/system.sh
fi
# The tests start their own registry and redis on 127.0.0.1 with random ports: the services
# the packages install must not run (nor start at boot) and listen on fixed ports.
for svc in ${fleet_new[@]+"${fleet_new[@]}"}; do
  if command -v systemctl >/dev/null 2>&1; then
    systemctl disable --now "$svc" >/dev/null 2>&1 || true
  fi
  if [ -x "/etc/init.d/$svc" ]; then  # no systemd: the package may have started it via sysv
    "/etc/init.d/$svc" stop >/dev/null 2>&1 || true
  fi
done
for bin in docker-registry redis-server; do
  if ! command -v "$bin" >/dev/null 2>&1; then
    echo "setup: ERROR: $bin is missing and could not be installed (apt-get install $bin as root)" >&2
    exit 1
  fi
done

if [ ! -x "$venv/bin/python" ]; then
  echo "setup: creating the virtual environment $venv"
  "$python" -m venv "$venv"
fi
echo "setup: installing jibril-rules and its dev tools into $venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check -e "$root[dev]"

# The check runs from / so a copy of the checkout on sys.path cannot make it pass.
(cd / && "$venv/bin/python" -c 'import jibril_rules, sys; print("setup: jibril_rules", jibril_rules.__version__, "from", jibril_rules.__file__)')
(cd / && "$venv/bin/jibril" --version)
if [ -d /usr/lib/python3/dist-packages/bcc ]; then  # bcc is Debian's; bccload finds it from the venv
  (cd / && "$venv/bin/python" -c 'from jibril_rules.sensor.bccload import import_bcc; import_bcc()')
fi
echo "setup: ok; run $venv/bin/jibril (or: source $venv/bin/activate)"
