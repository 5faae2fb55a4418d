"""The process helpers: KillCurrent, KillParent, KillProcess, PowerOff, Panic."""

from __future__ import annotations

import os
from typing import Any

from .helper_state import HelperFailure, HelperState
from .killer import KillRefused


class ProcessHelpers(HelperState):
    """The process helpers: KillCurrent, KillParent, KillProcess, PowerOff, Panic."""

    # -- processes -------------------------------------------------------------------
    def _kill(self, pid: Any) -> int:
        try:
            pid_int = int(pid)
        except (TypeError, ValueError):
            raise HelperFailure(f"invalid pid {pid!r}") from None
        if pid_int != pid and not isinstance(pid, str):
            raise HelperFailure(f"invalid pid {pid!r}")
        try:
            result = self.s.killer.kill(pid_int, dry_run=self.monitor)
        except KillRefused as exc:
            raise HelperFailure(str(exc)) from None
        if result == 1:
            self.errno = f"pid {pid_int}: no such process (already gone)"
        self._dry = self.monitor and result == 0
        return result

    def _event_pid(self, field: str) -> Any:
        proc = self.data.get("process")
        pid = proc.get(field) if isinstance(proc, dict) else None
        if pid in (None, ""):
            raise HelperFailure(f"the event has no process.{field}")
        return pid

    def h_KillCurrent(self, args: list[Any]) -> Any:
        kp = self.data.get("kernel_prevent")
        if isinstance(kp, dict) and kp.get("enforced") and not self.monitor:
            self.errno = "already killed in the kernel at exec (prevent: kill)"
            return 1  # like a process that is already gone
        return self._kill(self._event_pid("pid"))

    def h_KillParent(self, args: list[Any]) -> Any:
        return self._kill(self._event_pid("ppid"))

    def h_KillProcess(self, args: list[Any]) -> Any:
        if not args:
            raise HelperFailure("KillProcess needs a pid")
        return self._kill(args[0])

    # -- emergency -------------------------------------------------------------------
    def _emergency(self, what: str, allowed: bool) -> int:
        if not allowed:
            self._dry = True
            raise HelperFailure(f"{what} is disabled by configuration (allow_{what.lower()})")
        if self.monitor:
            self._dry = True
            return 0
        return _really(what)

    def h_PowerOff(self, args: list[Any]) -> Any:
        return self._emergency("PowerOff", self.s.cfg.allow_poweroff)

    def h_Panic(self, args: list[Any]) -> Any:
        return self._emergency("Panic", self.s.cfg.allow_panic)


def _really(what: str) -> int:  # pragma: no cover - never exercised: it stops the machine
    if "PYTEST_CURRENT_TEST" in os.environ or os.environ.get("JIBRIL_RULES_NO_EMERGENCY"):
        raise HelperFailure(f"{what} refused: running under a test harness")
    os.sync()
    if what == "Panic":
        with open("/proc/sysrq-trigger", "w", encoding="ascii") as fh:
            fh.write("c")
        return 0
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.reboot(0x4321FEDC) != 0:  # LINUX_REBOOT_CMD_POWER_OFF
        raise HelperFailure(f"PowerOff failed: errno {ctypes.get_errno()}")
    return 0
