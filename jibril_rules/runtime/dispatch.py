"""From a compiled recipe to what the reactions runtime takes: one place, used by replay,
`jibril test` and the live agent."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..bundle import CompiledRecipe
    from ..reactions import ReactionSpec, RecipeRef


def reaction_call(r: CompiledRecipe) -> tuple[RecipeRef, list[ReactionSpec]]:
    """RecipeRef (mode and limit overrides) and the reaction specs of a recipe.

    A recipe's limits are the largest `timeout_ms` / `memory_mb` its reactions declare.
    """
    from ..reactions import ReactionSpec, RecipeRef
    specs = [ReactionSpec(x.format, x.code, i) for i, x in enumerate(r.reactions)]
    timeouts = [x.timeout_ms for x in r.reactions if x.timeout_ms]
    memories = [x.memory_mb for x in r.reactions if x.memory_mb]
    ref = RecipeRef(r.kind, r.name, mode=r.mode, timeout_ms=max(timeouts) if timeouts else None,
                    memory_mb=max(memories) if memories else None)
    return ref, specs
