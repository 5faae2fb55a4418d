#!/usr/bin/env bash
# System packages jibril-rules needs on Debian/Ubuntu (run as root; `sudo jibril setup` runs
# this copy, scripts/setup.sh runs it before creating the virtual environment).
# Idempotent: installs only what is missing. Every failure stops the script with its reason.
#   --check   list what is missing and exit 1 if anything is (changes nothing)
set -euo pipefail

check_only=0
for a in "$@"; do
  case "$a" in
    --check) check_only=1 ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "setup: unknown argument '$a' (use --check)" >&2; exit 2 ;;
  esac
done

# One line per requirement: how to tell it is there, and the Debian package that provides it.
#   cmd:NAME  a command on PATH      path:GLOB  a file that exists      bcc  the bcc Python module
REQUIREMENTS=(
  "bcc                         python3-bpfcc"    # the live sensor (eBPF via bcc)
  "cmd:nft                     nftables"         # NetBlock* reactions, prevent: deny tests
  "cmd:ip                      iproute2"         # test network namespaces
  "cmd:redis-server            redis-server"     # the Redis-backed data store (fleet)
  "cmd:docker-registry         docker-registry"  # OCI registry for push/pull tests (fleet)
  "cmd:prometheus              prometheus"       # metrics scrape tests (obs)
  "cmd:chromium                chromium"         # status page tests (obs)
  "path:/usr/lib/python3*/ensurepip/__init__.py python3-venv"  # python3 -m venv (Debian splits ensurepip out)
)

have() {
  case "$1" in
    bcc) [ -d /usr/lib/python3/dist-packages/bcc ] ;;
    cmd:*) command -v "${1#cmd:}" >/dev/null 2>&1 || [ -x "/usr/sbin/${1#cmd:}" ] || [ -x "/sbin/${1#cmd:}" ] ;;
    path:*) compgen -G "${1#path:}" >/dev/null ;;
    *) echo "setup: bad requirement '$1'" >&2; exit 2 ;;
  esac
}

missing=()
for line in "${REQUIREMENTS[@]}"; do
  read -r what pkg <<<"$line"
  have "$what" || missing+=("$pkg")
done

# bcc compiles against /lib/modules/$(uname -r)/build: the exact headers package when the
# distribution has it, else the generic headers (only tracepoint arguments are read).
release="$(uname -r)"
kdir="/lib/modules/$release"
headers=""
if [ ! -e "$kdir/build" ]; then
  if command -v apt-cache >/dev/null 2>&1 && apt-cache show "linux-headers-$release" >/dev/null 2>&1; then
    headers="linux-headers-$release"
  elif ! compgen -G "/usr/src/linux-headers-*-$(dpkg --print-architecture 2>/dev/null || echo amd64)" >/dev/null; then
    headers="linux-headers-$(dpkg --print-architecture 2>/dev/null || echo amd64)"
  fi
  [ -z "$headers" ] || missing+=("$headers")
fi

if [ "$check_only" = 1 ]; then
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup: missing: ${missing[*]}"
    [ -e "$kdir/build" ] || echo "setup: missing: $kdir/build (kernel headers link)"
    exit 1
  fi
  [ -e "$kdir/build" ] || { echo "setup: missing: $kdir/build (kernel headers link)"; exit 1; }
  echo "setup: system ok"
  exit 0
fi

if [ "$(id -u)" != 0 ]; then
  if [ "${#missing[@]}" -gt 0 ] || [ ! -e "$kdir/build" ]; then
    echo "setup: needs root to install ${missing[*]:-kernel headers link}; run: sudo jibril setup" \
         "(or sudo bash scripts/setup.sh)" >&2
    exit 1
  fi
  echo "setup: system ok"
  exit 0
fi

if [ "${#missing[@]}" -gt 0 ]; then
  command -v apt-get >/dev/null 2>&1 || { echo "setup: no apt-get; install ${missing[*]} by hand" >&2; exit 1; }
  echo "setup: installing ${missing[*]}"
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}"
  # packages that start a server of their own (prometheus on :9090, docker-registry on :5000 of
  # every address, redis on :6379): the tests start theirs on 127.0.0.1, so these never run
  for unit in prometheus prometheus-node-exporter docker-registry redis-server; do
    pkg="${unit%-node-exporter}"
    [[ " ${missing[*]} " == *" $pkg "* ]] || continue
    if [ -d /run/systemd/system ]; then
      systemctl disable --now "$unit" >/dev/null 2>&1 || echo "setup: note: no $unit service to stop"
    elif [ -x "/etc/init.d/$unit" ]; then
      "/etc/init.d/$unit" stop >/dev/null 2>&1 || echo "setup: note: $unit was not running"
    elif command -v service >/dev/null 2>&1; then
      service "$unit" stop >/dev/null 2>&1 || echo "setup: note: no $unit service to stop"
    fi
  done
  for line in "${REQUIREMENTS[@]}"; do  # apt-get said yes; check it really is there now
    read -r what pkg <<<"$line"
    have "$what" || { echo "setup: $pkg is still missing after apt-get install" >&2; exit 1; }
  done
fi

if [ ! -e "$kdir/build" ]; then
  arch="$(dpkg --print-architecture 2>/dev/null || echo amd64)"
  arch_dir=$(compgen -G "/usr/src/linux-headers-*-$arch" | sort -V | tail -n 1 || true)
  common_dir=$(compgen -G "/usr/src/linux-headers-*-common" | sort -V | tail -n 1 || true)
  if [ -z "$arch_dir" ] || [ -z "$common_dir" ]; then
    echo "setup: no kernel headers under /usr/src for bcc; install linux-headers-$release" >&2
    exit 1
  fi
  mkdir -p "$kdir"
  ln -sfn "$arch_dir" "$kdir/build"
  ln -sfn "$common_dir" "$kdir/source"
  echo "setup: linked $kdir/build -> $arch_dir"
fi

# bcc attaches tracepoints through tracefs; some machines do not mount it.
if [ ! -e /sys/kernel/tracing/events ] && [ -d /sys/kernel/tracing ]; then
  mount -t tracefs nodev /sys/kernel/tracing
  echo "setup: mounted tracefs"
fi
echo "setup: system ok"
