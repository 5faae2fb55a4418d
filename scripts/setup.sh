#!/usr/bin/env bash
# Installs everything jibril-rules needs on a fresh Debian machine (idempotent).
# System: bcc (python3-bpfcc), kernel headers fallback, nftables, iproute2; for the fleet
# tests the CNCF distribution registry (docker-registry) and redis-server, never left running.
# Python: the project itself with its dev extras.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
python3 -c 'import sys; sys.path.append("/usr/lib/python3/dist-packages"); import bcc' 2>/dev/null || need_apt+=(python3-bpfcc)
command -v nft >/dev/null 2>&1 || need_apt+=(nftables)
command -v ip >/dev/null 2>&1 || need_apt+=(iproute2)
ls -d /usr/src/linux-headers-*-amd64 >/dev/null 2>&1 || need_apt+=(linux-headers-amd64)
fleet_new=()
command -v docker-registry >/dev/null 2>&1 || fleet_new+=(docker-registry)
command -v redis-server >/dev/null 2>&1 || fleet_new+=(redis-server)
need_apt+=(${fleet_new[@]+"${fleet_new[@]}"})
# observability tests (issue 11): the real Prometheus server and headless Chromium
command -v prometheus >/dev/null 2>&1 || need_apt+=(prometheus)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
if [ "${#need_apt[@]}" -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "setup: installing ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${need_apt[@]}" >/dev/null
  # the prometheus package starts a server of its own on :9090; the tests start theirs
  if [[ " ${need_apt[*]} " == *" prometheus "* ]]; then
    if [ -d /run/systemd/system ]; then
      systemctl disable --now prometheus prometheus-node-exporter >/dev/null 2>&1 || true
    elif command -v service >/dev/null 2>&1; then
      service prometheus stop >/dev/null 2>&1 || true
      service prometheus-node-exporter stop >/dev/null 2>&1 || true
    fi
  fi
  for tool in prometheus chromium; do
    command -v "$tool" >/dev/null 2>&1 || { echo "setup: $tool is still missing after apt-get install" >&2; exit 1; }
  done
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

# bcc compiles against /lib/modules/$(uname -r)/build; the running kernel has no headers
# package, so point it at Debian's generic headers (only tracepoint args are read).
kdir="/lib/modules/$(uname -r)"
if [ "$(id -u)" = 0 ] && [ ! -e "$kdir/build" ]; then
  arch_dir=$(ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | sort -V | tail -n 1 || true)
  common_dir=$(ls -d /usr/src/linux-headers-*-common 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -n "$arch_dir" ] && [ -n "$common_dir" ]; then
    mkdir -p "$kdir"
    ln -sfn "$arch_dir" "$kdir/build"
    ln -sfn "$common_dir" "$kdir/source"
    echo "setup: linked $kdir/build -> $arch_dir"
  fi
fi

# bcc attaches tracepoints through tracefs; some machines do not mount it.
if [ "$(id -u)" = 0 ] && [ ! -e /sys/kernel/tracing/events ] && [ -d /sys/kernel/tracing ]; then
  mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null && echo "setup: mounted tracefs" || true
fi

python3 -m pip install -q --disable-pip-version-check -e ".[dev]" 2>&1 | grep -v -E "^(WARNING|DEPRECATION)" || true
python3 -c "import jibril_rules" && echo "setup: ok"
