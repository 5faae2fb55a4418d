"""Shell reactions: /bin/sh in a fresh 0700 directory, event JSON in REACTION_DATA."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from typing import Any

MAX_OUTPUT = 64 * 1024


@dataclass(frozen=True)
class ShellResult:
    status: str  # ok | error | timeout
    logs: tuple[str, ...]
    error: str | None
    returncode: int | None
    workdir: str


def _lines(prefix: str, raw: bytes) -> list[str]:
    text = raw[:MAX_OUTPUT].decode("utf-8", "replace")
    out = [f"{prefix}: {line}" for line in text.splitlines()]
    if len(raw) > MAX_OUTPUT:
        out.append(f"{prefix}: ... ({len(raw) - MAX_OUTPUT} more bytes dropped)")
    return out


def run_shell(code: str, detection: dict[str, Any], kind: str, name: str, timeout_s: float,
              temp_root: str, shell_path: str = "/bin/sh") -> ShellResult:
    workdir = tempfile.mkdtemp(prefix="jibril-reaction-", dir=temp_root)
    os.chmod(workdir, 0o700)
    uuid = str(detection.get("uuid", ""))
    env = {
        "PATH": os.environ.get("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
        "HOME": workdir, "TMPDIR": workdir, "PWD": workdir, "LANG": "C.UTF-8",
        "REACTION_DATA": json.dumps(detection, separators=(",", ":"), default=str),
        "REACTION_KIND": kind, "REACTION_NAME": name, "REACTION_UUID": uuid,
        "kind": kind, "name": name, "uuid": uuid,
    }
    try:
        proc = subprocess.Popen([shell_path, "-c", code], cwd=workdir, env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
        try:
            out, err = proc.communicate(timeout=timeout_s)
            timed_out = False
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            out, err = proc.communicate()
            timed_out = True
        else:
            # background children left behind are part of the reaction: end them too
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        logs = tuple(_lines("OUT", out) + _lines("ERR", err))
        if timed_out:
            return ShellResult("timeout", logs, f"shell reaction exceeded {timeout_s:g}s",
                               None, workdir)
        if proc.returncode != 0:
            return ShellResult("error", logs, f"shell exited with status {proc.returncode}",
                               proc.returncode, workdir)
        return ShellResult("ok", logs, None, 0, workdir)
    except OSError as exc:
        return ShellResult("error", (), f"cannot start {shell_path}: {exc}", None, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
