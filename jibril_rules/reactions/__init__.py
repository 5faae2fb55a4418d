"""Reactions runtime: JavaScript (isolated V8) and shell reactions with Jibril's helpers.

See docs/reactions.md. Public API::

    from jibril_rules.reactions import (ReactionConfig, Reaction, RecipeRef,
        ReactionRuntime, ExecutionRecord, HelperCall, check_js, check_shell,
        HELPER_NAMES, NETWORK_HELPERS)
"""

from ..core.reaction import Reaction  # the one reaction type, recipe file to runtime
from .check import check_js, check_shell
from .config import ReactionConfig, RecipeRef
from .helpers import HELPER_NAMES, JIBRIL_HELPERS, KILL_HELPERS, NETWORK_HELPERS
from .records import ExecutionRecord, HelperCall, JsIssue
from .rehearsal import NOTICE as REHEARSAL_NOTICE
from .rehearsal import SHARED_STORE_NOTICE as REHEARSAL_SHARED_STORE_NOTICE
from .rehearsal import Rehearsal
from .runtime import ReactionRuntime

__all__ = [
    "HELPER_NAMES",
    "JIBRIL_HELPERS",
    "KILL_HELPERS",
    "NETWORK_HELPERS",
    "REHEARSAL_NOTICE",
    "REHEARSAL_SHARED_STORE_NOTICE",
    "ExecutionRecord",
    "HelperCall",
    "JsIssue",
    "Reaction",
    "ReactionConfig",
    "ReactionRuntime",
    "RecipeRef",
    "Rehearsal",
    "check_js",
    "check_shell",
]
