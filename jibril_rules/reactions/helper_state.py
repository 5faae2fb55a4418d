"""What every helper family shares: the per-execution state (`HelperState`), the
long-lived services and the failure a helper raises. The families (helpers_*.py) are
mixins of `HelperState`; helpers.py joins them into `HelperContext`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..core.vocab import HELPER_ORDER
from .config import ReactionConfig
from .datastore import DataStore
from .files import FileOps
from .killer import Killer
from .netpolicy import NetPolicy
from .records import HelperCall


class HelperFailure(Exception):
    """Raised inside a helper: the helper returns `result` and Errno() is the message."""

    def __init__(self, message: str, result: Any = -1) -> None:
        super().__init__(message)
        self.result = result


@dataclass
class Services:
    """Long-lived services shared by every execution."""

    cfg: ReactionConfig
    store: DataStore
    files: FileOps
    killer: Killer
    net: NetPolicy


class HelperState:
    """Per-execution state every helper family reads: the services, the event, the mode,
    the call log and Errno."""

    def __init__(self, services: Services, recipe_kind: str, recipe_name: str,
                 detection: dict[str, Any], mode: str, run_input: Any = None,
                 ) -> None:
        self.s = services
        self.kind = recipe_kind
        self.name = recipe_name
        self.data = detection
        self.mode = mode
        self.run_input = run_input
        self.calls: list[HelperCall] = []
        self.dropped_calls = 0
        self.logs: list[str] = []
        self.log_bytes = 0
        self.cut = {"log_lines": 0, "log_chars": 0}  # what the size caps removed
        self.errno = ""
        self.index = 0  # the reaction's index in its recipe (for log records)
        self._dry = False
        # monotonic time after which every helper fails at once: a helper cannot be
        # interrupted by V8's TerminateExecution, so none may start past the deadline
        self.deadline: float | None = None
        self._impl: dict[str, Callable[[list[Any]], Any]] = {
            n: getattr(self, "h_" + n) for n in HELPER_ORDER}

    @property
    def monitor(self) -> bool:
        return self.mode == "monitor"

