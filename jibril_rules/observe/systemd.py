"""systemd integration: the watchdog ping, and `jibril service install|uninstall`.

install writes ROOT/etc/systemd/system/jibril.service (Type=notify, WatchdogSec, Restart=
on-failure, a capability bounding set for what the agent does), ROOT/etc/jibril/jibril.yaml
(never over an existing one) and ROOT/etc/jibril/recipes/, and records what it wrote with a
hash in ROOT/etc/jibril/.installed; uninstall removes exactly those files that are unchanged.
ROOT defaults to /; tests pass a temp dir and then no systemctl is run.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ..config import SYSTEM_CONFIG, SYSTEM_DIR
from .settings import DEFAULT_LISTEN

UNIT_NAME = "jibril.service"
UNIT_DIR = "etc/systemd/system"
ETC = SYSTEM_DIR
MANIFEST = ".installed"
WATCHDOG_SEC = 30
# bpf + perfmon + sys_admin: load and attach the programs (tracefs, older kernels);
# sys_resource: memlock; net_admin: nftables and cgroup socket programs; kill: reactions and
# prevention; sys_ptrace + dac_read_search: read /proc/PID of other users and their files.
CAPABILITIES = ("CAP_BPF", "CAP_PERFMON", "CAP_SYS_ADMIN", "CAP_SYS_RESOURCE", "CAP_NET_ADMIN",
                "CAP_KILL", "CAP_SYS_PTRACE", "CAP_DAC_READ_SEARCH", "CAP_DAC_OVERRIDE")


def notify(state: str) -> bool:
    """Tell systemd (Type=notify) about our state; no-op when NOTIFY_SOCKET is unset."""
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return False
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.connect(addr)
            s.sendall(state.encode())
        return True
    except OSError:
        return False


@dataclass
class Watchdog:
    """WATCHDOG=1 every half WatchdogSec, from the event loop: a stalled loop gets restarted."""

    interval_s: float | None
    next_at: float = 0.0

    @classmethod
    def from_env(cls) -> Watchdog:
        usec = os.environ.get("WATCHDOG_USEC")
        pid = os.environ.get("WATCHDOG_PID")
        if not usec or not usec.isdigit() or (pid and pid != str(os.getpid())):
            return cls(None)
        return cls(int(usec) / 2e6)

    def maybe_ping(self, now: float) -> None:
        if self.interval_s is None or now < self.next_at:
            return
        self.next_at = now + self.interval_s
        notify("WATCHDOG=1")


def _exec_start() -> str:
    exe = shutil.which("jibril")
    return exe if exe else f"{sys.executable} -m jibril_rules.cli"


def unit_text(root: str = "/", exec_start: str | None = None) -> str:
    r = Path(root)
    conf = "/" + SYSTEM_CONFIG if root == "/" else str(r / SYSTEM_CONFIG)
    return f"""[Unit]
Description=jibril runtime security agent (eBPF sensors, recipes, reactions)
Documentation=file:///usr/share/doc/jibril-rules/observability.md
After=network-online.target
Wants=network-online.target

[Service]
Type=notify
NotifyAccess=main
ExecStart={exec_start or _exec_start()} run --config {conf}
ExecReload=/bin/kill -HUP $MAINPID
Restart=on-failure
RestartSec=2s
WatchdogSec={WATCHDOG_SEC}s
TimeoutStartSec=300s
TimeoutStopSec=30s
Environment=PYTHONUNBUFFERED=1
RuntimeDirectory=jibril-rules
RuntimeDirectoryMode=0700
StateDirectory=jibril-rules
StateDirectoryMode=0700
CapabilityBoundingSet={' '.join(CAPABILITIES)}
NoNewPrivileges=yes
LimitMEMLOCK=infinity
ProtectClock=yes
ProtectHostname=yes

[Install]
WantedBy=multi-user.target
"""


def config_text(root: str = "/") -> str:
    base = "" if root == "/" else str(Path(root))
    return f"""# jibril agent configuration (written by `jibril service install`; see docs/config.md)
from: [{base}/{ETC}/recipes]
printers: [stdout]
metrics:
  listen: "{DEFAULT_LISTEN}"    # /metrics, /healthz and the status page; "" turns it off
log:
  level: info
  format: text
reactions:
  mode: monitor               # monitor (dry run) | enforce
  state_dir: {base}/var/lib/jibril-rules
"""


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def install(root: str = "/", recipes: str | None = None, exec_start: str | None = None,
            enable: bool = False) -> list[str]:
    """Write the unit, the config (kept when present) and the recipes folder; returns lines
    saying what was done."""
    r = Path(root)
    said: list[str] = []
    written: dict[str, str] = {}
    etc = r / ETC
    (etc / "recipes").mkdir(parents=True, exist_ok=True)
    unit = r / UNIT_DIR / UNIT_NAME
    unit.parent.mkdir(parents=True, exist_ok=True)
    unit.write_text(unit_text(root, exec_start))
    written[str(unit)] = _sha(unit)
    said.append(f"wrote {unit}")
    conf = etc / "jibril.yaml"
    if conf.exists():
        said.append(f"kept {conf} (already there)")
    else:
        conf.write_text(config_text(root))
        written[str(conf)] = _sha(conf)
        said.append(f"wrote {conf}")
    if recipes:
        src = Path(recipes)
        files = [src] if src.is_file() else sorted(p for p in src.rglob("*") if p.is_file())
        for f in files:
            rel = f.name if src.is_file() else str(f.relative_to(src))
            dst = etc / "recipes" / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            if dst.exists():
                continue
            shutil.copyfile(f, dst)
            written[str(dst)] = _sha(dst)
        said.append(f"copied {len(files)} file(s) from {src} to {etc / 'recipes'}")
    man = etc / MANIFEST
    old = json.loads(man.read_text()) if man.exists() else {}
    man.write_text(json.dumps({**old, **written}, indent=1, sort_keys=True))
    if root == "/" and shutil.which("systemctl"):
        subprocess.run(["systemctl", "daemon-reload"], check=False)
        if enable:
            subprocess.run(["systemctl", "enable", "--now", UNIT_NAME], check=False)
            said.append(f"enabled and started {UNIT_NAME}")
        else:
            said.append(f"start it with: systemctl enable --now {UNIT_NAME}")
    return said


def uninstall(root: str = "/") -> list[str]:
    """Stop (root /), then remove the files install wrote that nobody changed since."""
    r = Path(root)
    said: list[str] = []
    if root == "/" and shutil.which("systemctl"):
        subprocess.run(["systemctl", "disable", "--now", UNIT_NAME], check=False,
                       capture_output=True)
    etc = r / ETC
    man = etc / MANIFEST
    files: dict[str, str] = {str(r / UNIT_DIR / UNIT_NAME): ""}
    if man.exists():
        try:
            files = dict(json.loads(man.read_text()))
        except (ValueError, TypeError) as e:
            raise OSError(f"{man} is not what install wrote ({e}): remove the files by hand "
                          "or fix it") from e
    for path, sha in sorted(files.items()):
        p = Path(path)
        if not p.exists():
            continue
        if sha and _sha(p) != sha:
            said.append(f"kept {p} (changed since install)")
            continue
        p.unlink()
        said.append(f"removed {p}")
    if man.exists():
        man.unlink()
    for d in sorted((p for p in (etc / "recipes").rglob("*") if p.is_dir()), reverse=True) \
            if (etc / "recipes").exists() else []:
        if not any(d.iterdir()):
            d.rmdir()
    for d in (etc / "recipes", etc):
        if d.is_dir() and not any(d.iterdir()):
            d.rmdir()
            said.append(f"removed {d}/")
    if root == "/" and shutil.which("systemctl"):
        subprocess.run(["systemctl", "daemon-reload"], check=False)
    return said


def verify(unit_path: str) -> tuple[bool | None, str]:
    """`systemd-analyze verify`; None when the tool is missing."""
    tool = shutil.which("systemd-analyze")
    if tool is None:
        return None, "systemd-analyze not installed"
    r = subprocess.run([tool, "verify", unit_path], capture_output=True, text=True, timeout=60)
    return r.returncode == 0, (r.stdout + r.stderr).strip()
