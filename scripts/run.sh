#!/usr/bin/env bash
# Set up (scripts/setup.sh), then run the main job: the live agent with the built-in recipes in
# monitor mode. Without root or eBPF it says why and replays the recorded events instead.
# Extra arguments go to `jibril run` (e.g. --for 60).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
jibril="${JIBRIL_VENV:-$PWD/.venv}/bin/jibril"
mkdir -p build
"$jibril" lint
"$jibril" compile -o build/alchemies.jbundle
if [ "$(id -u)" = 0 ] && [ -e /sys/kernel/btf/vmlinux ]; then
  exec "$jibril" run --from build/alchemies.jbundle --dry-run "$@"
fi
echo "run: live sensor unavailable (needs root, BTF and bcc: sudo bash scripts/setup.sh); replaying recorded events instead" >&2
for ev in alchemies/*/events.jsonl; do
  "$jibril" replay "$ev" --from build/alchemies.jbundle --dry-run
done
