#!/usr/bin/env bash
# Set up, then run the main job: the live agent with the bundled alchemies in monitor mode.
# Without root or eBPF it says why and falls back to replaying recorded events.
# Extra arguments go to `jibril run` (e.g. --for 60).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
mkdir -p build
python3 -m jibril_rules.cli lint alchemies/
python3 -m jibril_rules.cli compile alchemies/ -o build/alchemies.jbundle
if [ "$(id -u)" = 0 ] && [ -e /sys/kernel/btf/vmlinux ] && python3 -m jibril_rules.cli run --help >/dev/null 2>&1; then
  exec python3 -m jibril_rules.cli run --from build/alchemies.jbundle --dry-run "$@"
fi
echo "run: live sensor unavailable (needs root, BTF and bcc: sudo bash scripts/setup.sh); replaying recorded events instead" >&2
for ev in alchemies/*/events.jsonl; do
  python3 -m jibril_rules.cli replay "$ev" --from build/alchemies.jbundle --dry-run
done
