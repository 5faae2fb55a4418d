"""The seam between the sensor and its kernel mechanisms.

A mechanism owns one way of seeing events (sched raw tracepoints, raw_syscalls fallback,
fanotify marks, cgroup programs, the previous tracepoint design). The Sensor plans from the
tables (plan.py), asks each mechanism it needs to attach, hands it new contents on reload
(attach-before-detach: no gap), and collects its stats. Events reach the assembler through
the Host: ring-buffer records (`host.add_ring(map)`), or already-decoded file/flow actions
from userspace mechanisms (`host.file_event(...)`).

    class Mechanism(Protocol):
        name: str
        def attach(self, host: Host, plan: Plan, tables: KernelTables) -> None
        def reload(self, plan: Plan, tables: KernelTables) -> None
        def detach(self) -> None
        def stats(self) -> dict[str, dict[str, int]]   # sensor -> seen/sent/lost
        def fds(self) -> list[int]                     # userspace fds to poll (may be [])
        def service(self, fd: int) -> None             # an fd from fds() is readable
        def hook_names(self) -> list[str]              # what is attached, for `jibril run`

A mechanism the new plan no longer needs gets reload(plan, KernelTables()) (empty) after the
new tables are live and must then drop its hooks; detach() is called only at close.

Registering an optional mechanism (knet): `register(MARKS, factory)`; the planner then routes
exact paths/prefixes to it (plan.available()).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from ..core.kernel_tables import KernelTables
from .plan import Plan

# One poll turn reads events for at most this long (ring buffers and fanotify alike): under a
# flood the rest wait in the kernel for the next turn, so the agent's loop (status, reload,
# watchdog, stop) still runs about every 100 ms + this.
POLL_BUDGET_S = 0.05


class Host(Protocol):
    """What the Sensor offers its mechanisms."""

    self_tgid: int

    def add_ring(self, bpf: Any, map_name: bytes) -> None:
        """Poll this BPF object's ring buffer with the sensor's; records go to the assembler."""

    def file_event(self, tgid: int, path: str, actions: int, ts_ns: int = 0) -> None:
        """A file action decoded in userspace (marks): becomes a file_access raw event."""

    def prevented(self, tgid: int, recipe: int, action: str, enforced: bool) -> None:
        """A prevent: decision taken by a mechanism (for the "would prevent" line)."""


class Mechanism(Protocol):
    name: str

    def attach(self, host: Host, plan: Plan, tables: KernelTables) -> None: ...

    def reload(self, plan: Plan, tables: KernelTables) -> None: ...

    def detach(self) -> None: ...

    def stats(self) -> dict[str, dict[str, int]]: ...

    def fds(self) -> list[int]: ...

    def service(self, fd: int) -> None: ...

    def hook_names(self) -> list[str]: ...


Factory = Callable[[], Mechanism]
_REGISTRY: dict[str, Factory] = {}
_PROBES: dict[str, Callable[[], str]] = {}


def register(name: str, factory: Factory, probe: Callable[[], str] | None = None) -> None:
    """Offer an optional mechanism. probe() returns "" when the host allows it, else why not."""
    _REGISTRY[name] = factory
    if probe is not None:
        _PROBES[name] = probe


def _builtin() -> None:
    """The optional mechanisms this package ships register themselves on import."""
    from . import knetmech  # noqa: F401 - marks and cgroup_net


def registered() -> dict[str, Factory]:
    _builtin()
    return dict(_REGISTRY)


def available() -> tuple[frozenset[str], dict[str, str]]:
    """(names the host allows, name -> why not for the others)."""
    _builtin()
    ok: set[str] = set()
    why: dict[str, str] = {}
    for name in _REGISTRY:
        reason = _PROBES[name]() if name in _PROBES else ""
        if reason:
            why[name] = reason
        else:
            ok.add(name)
    return frozenset(ok), why
