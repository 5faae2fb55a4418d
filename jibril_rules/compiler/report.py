"""What `jibril compile` says about a bundle: table sizes, per-recipe kernel/tree summary."""

from __future__ import annotations

from typing import assert_never

from ..bundle import Bundle
from ..core.ir import And, Atom, Const, Node, Or
from .index import describe, index_need
from .split import approx

SHOWN = 20  # recipes summarised without --verbose


def count_atoms(n: Node) -> int:
    match n:
        case Const():
            return 0
        case Atom():
            return 1
        case And(kids) | Or(kids):
            return sum(count_atoms(k) for k in kids)
        case _:
            assert_never(n)


def summary(b: Bundle, n_files: int, ms: float, output: str, verbose: bool) -> list[str]:
    t = b.tables
    lines = [f"compiled {len(b.recipes)} recipe(s) from {n_files} file(s) in {ms:.0f} ms -> "
             f"{output} (hash {b.hash})",
             f"kernel: {t.entry_count()} table entries (exact {len(t.file_exact)}, prefix "
             f"{len(t.file_prefix)}, basename {len(t.file_base)}, cidr "
             f"{len(t.net_remote_cidrs) + len(t.net_local_cidrs)}, ports "
             f"{len(t.net_remote_ports) + len(t.net_local_ports)}); pass-all: file actions "
             f"mask {t.file_any:#x}, network {t.net_any}"]
    atoms = list(b.atoms)
    indexed = 0
    for i, r in enumerate(b.recipes):
        need = index_need(r.ir.cond, atoms)
        indexed += need is not None
        if verbose or i < SHOWN:
            a = approx(r.ir.cond, atoms)
            lines.append(f"  {r.name}: {count_atoms(r.ir.cond)} residual predicate(s), "
                         f"{'indexed by ' + describe(need) if need else 'unindexed'}, "
                         f"{len(a.files) + len(a.nets)} kernel clause(s)")
    if len(b.recipes) > SHOWN and not verbose:
        lines.append(f"  ... {len(b.recipes) - SHOWN} more (use -v)")
    lines.append(f"tree: {indexed}/{len(b.recipes)} recipes indexed, {len(atoms)} distinct predicates")
    return lines
