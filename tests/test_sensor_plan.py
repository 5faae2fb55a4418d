"""The mechanism plan (sensor/plan.py): pure, no kernel.

Soundness (hypothesis): splitting the kernel tables between marks, the raw_syscalls fallback
and the exec hook never drops an event the single-table KernelModel passes.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from jibril_rules.core.kernel_tables import KernelTables
from jibril_rules.core.vocab import FILE_ACTIONS, action_mask
from jibril_rules.runtime.kernel_model import KernelModel
from jibril_rules.sensor.plan import (
    CLOSE,
    EXEC,
    FALLBACK,
    FB_CLOSE,
    FB_FD,
    FB_OPEN,
    FB_PATH,
    LEGACY_NET,
    MARKABLE,
    MARKS,
    fb_groups,
    plan,
    recipe_hook_class,
)

SEGS = st.sampled_from(["etc", "tmp", "a", "b", "x.conf", "id_rsa"])
PATHS = st.lists(SEGS, min_size=1, max_size=4).map(lambda p: "/" + "/".join(p))
MASKS = st.integers(min_value=1, max_value=(1 << len(FILE_ACTIONS)) - 1)
TABLES = st.builds(
    lambda ex, pre, base, anym: KernelTables(
        file_any=anym, file_exact=tuple(sorted(dict(ex).items())),
        file_prefix=tuple(sorted(dict(pre).items())), file_base=tuple(sorted(dict(base).items())),
        exec_any=bool(anym & action_mask(["execve"]))),
    st.lists(st.tuples(PATHS, MASKS), max_size=4),
    st.lists(st.tuples(PATHS.map(lambda p: p + "/"), MASKS), max_size=3),
    st.lists(st.tuples(SEGS, MASKS), max_size=3),
    st.sampled_from([0, 0, 0, action_mask(["execve"]), action_mask(["mmap"])]))


@settings(max_examples=300, deadline=None)
@given(TABLES, st.lists(st.tuples(PATHS, st.sampled_from(FILE_ACTIONS)), min_size=1, max_size=8),
       st.booleans())
def test_split_never_drops_a_match(t: KernelTables, events: list[tuple[str, str]],
                                   marks: bool) -> None:
    p = plan(t, frozenset({MARKS}) if marks else frozenset())
    whole, kern, mk = KernelModel(t), KernelModel(p.kernel), KernelModel(p.marks)
    for path, action in events:
        if not whole.passes_file(path, action):
            continue
        if action == "execve":
            assert kern.passes_file(path, action) or p.kernel.exec_any
            continue
        bit = 1 << FILE_ACTIONS.index(action)
        by_fallback = bool(p.fbmask & bit) and kern.passes_file(path, action)
        by_marks = bool(MARKABLE & bit) and mk.passes_file(path, action)
        assert by_fallback or by_marks, (path, action, p)
        if by_fallback:  # its hook is attached
            assert p.fb & fb_groups(bit)


def test_cost_classes() -> None:
    exec_only = KernelTables(file_base=(("xmrig", action_mask(["execve"])),))
    p = plan(exec_only)
    assert p.names() == (EXEC,) and p.fb == 0
    assert "sched exec hook" in recipe_hook_class(exec_only)
    exact = KernelTables(file_exact=(("/etc/shadow", action_mask(["open", "write"])),))
    assert plan(exact, frozenset({MARKS})).names() == (EXEC, MARKS)
    assert "marks on 1 paths" in recipe_hook_class(exact, frozenset({MARKS}))
    fb = plan(exact)  # no marks mechanism: the fallback serves it, at sys_exit only
    assert fb.names() == (EXEC, FALLBACK) and fb.fb & FB_OPEN and not fb.fb & FB_CLOSE
    assert "per-syscall hook" in recipe_hook_class(exact)
    mm = KernelTables(file_prefix=(("/lib/", action_mask(["mmap", "close"])),))
    p = plan(mm, frozenset({MARKS}))
    assert p.fb == FB_FD and p.fbmask == action_mask(["mmap"])  # close goes to the marks
    p = plan(mm)
    assert p.fb & FB_CLOSE and p.fbmask & CLOSE and not p.fb & FB_PATH
    assert plan(KernelTables(net_remote_ports=(22,))).net == LEGACY_NET
