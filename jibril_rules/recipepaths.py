"""Which recipes a command reads when it is given none: the configured recipe paths.

Like Jibril's `alchemies:builtin=true:path=DIR`: the recipes shipped in the package (the
recipe library, `jibril_rules/data/alchemies`) plus /etc/jibril/recipes when it exists, or
`recipes.paths` / `recipes.builtin` from jibril.yaml; a `from:` list (what `jibril service
install` writes) alone means exactly those paths. Works the same from any folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .config import Config

BUILTIN_DIR = Path(__file__).resolve().parent / "data" / "alchemies"
SYSTEM_RECIPES = "/etc/jibril/recipes"


@dataclass(frozen=True)
class RecipeSources:
    paths: tuple[str, ...]
    origin: str  # said to the user: where these paths come from


def builtin_dir() -> Path:
    return BUILTIN_DIR


def configured(cfg: Config) -> RecipeSources:
    """The recipe paths of a configuration (defaults: the built-ins and /etc/jibril/recipes)."""
    parts: list[str] = []
    paths: list[str] = []
    if cfg.builtin and BUILTIN_DIR.is_dir():
        paths.append(str(BUILTIN_DIR))
        parts.append(f"the built-in recipes ({BUILTIN_DIR})")
    legacy = cfg.observe.get("from")  # `from:` (what `service install` writes): run's --from default
    if cfg.recipe_paths is not None:
        paths += cfg.recipe_paths
        if cfg.recipe_paths:
            parts.append(f"recipes.paths of {cfg.path or 'the configuration'} ({', '.join(cfg.recipe_paths)})")
    elif legacy:
        from .observe.settings import from_paths
        src = from_paths(cfg.observe)
        return RecipeSources(tuple(src), f"from: of {cfg.path or 'the configuration'} ({', '.join(src)})")
    elif Path(SYSTEM_RECIPES).is_dir():
        paths.append(SYSTEM_RECIPES)
        parts.append(SYSTEM_RECIPES)
    return RecipeSources(tuple(paths), " and ".join(parts) or "no recipe paths")
