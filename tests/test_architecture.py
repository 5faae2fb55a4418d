"""The layout enforces the architecture: the agent never carries the compiler, core imports
nothing outside core, and the diagnostic registry equals the codes the code can emit."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from jibril_rules.core.errors import CODES

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "jibril_rules"

# What `jibril run` imports: the CLI package (every command module), the agent, the runtime.
AGENT_MODULES = ("jibril_rules.cli", "jibril_rules.cli.live", "jibril_rules.sensor.agent",
                 "jibril_rules.sensor.sensor", "jibril_rules.runtime.pipeline",
                 "jibril_rules.runtime.loading", "jibril_rules.runtime.control",
                 "jibril_rules.reactions", "jibril_rules.config", "jibril_rules.bundle",
                 "jibril_rules.observe", "jibril_rules.observe.runner")


def _loaded_after(modules: tuple[str, ...]) -> list[str]:
    code = ("import sys, json\n" + "".join(f"import {m}\n" for m in modules)
            + "print(json.dumps(sorted(sys.modules)))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                       cwd=ROOT)
    return list(json.loads(r.stdout))


def test_agent_never_imports_the_compiler() -> None:
    loaded = _loaded_after(AGENT_MODULES)
    bad = [m for m in loaded if m.split(".")[0] in ("lark", "cerberus")
           or m.startswith(("jibril_rules.compiler", "jibril_rules.tools"))]
    assert bad == [], f"the agent's modules pulled in compile-time code: {bad}"


def test_agent_reads_a_bundle_without_the_compiler(tmp_path: Path) -> None:
    from jibril_rules.bundle import write
    from jibril_rules.compiler.driver import load_any
    out = tmp_path / "b.jbundle"
    write(load_any([str(ROOT / "alchemies")]), str(out))
    code = ("import sys, json\nfrom jibril_rules.runtime.loading import load_isolated\n"
            "from jibril_rules.runtime.engine import Engine\n"
            f"Engine(load_isolated([{str(out)!r}]))\n"
            "print(json.dumps(sorted(sys.modules)))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                       cwd=ROOT)
    loaded = json.loads(r.stdout)
    assert not [m for m in loaded if m.split(".")[0] in ("lark", "cerberus")
                or m.startswith("jibril_rules.compiler")]


def _internal_imports(path: Path) -> set[str]:
    """Absolute names of the jibril_rules modules a file imports (relative imports resolved)."""
    mod = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    pkg = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
    pkg = pkg.removesuffix(".__init__")
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            if name.startswith("jibril_rules"):
                out.add(name)
                out.update(f"{name}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("jibril_rules"))
    return out


def test_core_imports_nothing_outside_core() -> None:
    for f in sorted((PKG / "core").glob("*.py")):
        outside = {m for m in _internal_imports(f) if not m.startswith("jibril_rules.core")
                   and m not in ("jibril_rules", "jibril_rules.__version__")}
        assert not outside, f"{f.name} imports {sorted(outside)}"


def test_runtime_reactions_sensor_never_import_compile_time_code() -> None:
    for sub in ("runtime", "reactions", "sensor", "observe"):
        for f in sorted((PKG / sub).glob("*.py")):
            bad = {m for m in _internal_imports(f)
                   if m.startswith(("jibril_rules.compiler", "jibril_rules.tools", "jibril_rules.cli"))}
            assert not bad, f"{sub}/{f.name} imports {sorted(bad)}"
            text = f.read_text()
            assert not re.search(r"^\s*(import|from) (lark|cerberus)\b", text, re.M), f.name


def _emitted_codes() -> set[str]:
    """Every JRnnn literal in the package's code (the registry module itself excluded)."""
    found: set[str] = set()
    for f in PKG.rglob("*.py"):
        if f == PKG / "core" / "errors.py":
            continue
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.update(re.findall(r"\bJR\d{3}\b", node.value))
    return found


def test_registry_equals_the_codes_the_code_can_emit() -> None:
    emitted = _emitted_codes()
    assert sorted(emitted - set(CODES)) == [], "emitted but not registered (add to CODES)"
    assert sorted(set(CODES) - emitted) == [], "registered but never emitted (emit or remove)"


def test_kernel_numbers_come_from_the_header() -> None:
    from jibril_rules.core import kheader
    from jibril_rules.core.kernel_tables import MAX_PATH
    from jibril_rules.core.vocab import FILE_ACTION_BIT, action_mask
    from jibril_rules.sensor import hooks, layout
    k = kheader.constants()
    assert MAX_PATH == layout.PATH_MAX == k["JB_PATH_MAX"]
    assert hooks.FD_ACTIONS == k["JB_FA_FD_MASK"] == action_mask(
        ["fasync", "flock", "fsync", "llseek", "mmap", "read", "write", "truncate", "close"])
    assert all(k[f"JB_FA_{a.upper()}"] == bit for a, bit in FILE_ACTION_BIT.items())


def test_a_long_basename_is_a_kernel_entry_not_pass_all(tmp_path: Path) -> None:
    """The BPF program hashes the last component of any path it judges: no basename limit."""
    from jibril_rules.compiler.driver import load_any
    base = "b" * 100
    f = tmp_path / "r.yaml"
    f.write_text(f"- kind: test\n  name: r\n  mechanism: file_access\n  file_actions: [open]\n"
                 f"  bases:\n    - base: {base}\n")
    t = load_any([str(f)]).tables
    assert [b for b, _ in t.file_base] == [base] and t.file_any == 0


def test_one_event_pipeline_and_one_reactions_runtime_builder() -> None:
    """event -> engine -> printers -> reactions is written once (runtime/pipeline.py), and
    replay, the agent and `jibril test` go through it."""
    callers = []
    for f in PKG.rglob("*.py"):
        text = f.read_text()
        if re.search(r"\.process\(\s*\w", text) and "engine" in text and f.parent.name != "reactions":
            callers.append(f.relative_to(PKG).as_posix())
        if "ReactionRuntime(" in text and f.parent.name != "reactions":
            assert f.relative_to(PKG).as_posix() == "runtime/pipeline.py", f
    assert callers == ["runtime/pipeline.py"]
    for user in ("cli/replay.py", "sensor/agent.py", "tools/testrunner.py"):
        assert "Pipeline(" in (PKG / user).read_text(), user


def test_no_function_body_is_written_twice() -> None:
    """One source for every helper: two functions with the same arguments and the same body
    (docstring aside, three lines or more) are a copy to merge (e.g. sd_notify, _vals)."""
    seen: dict[str, list[str]] = {}
    for f in sorted(PKG.rglob("*.py")):
        for node in ast.walk(ast.parse(f.read_text())):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                body = body[1:]
            if sum(len(ast.unparse(b).splitlines()) for b in body) < 3:
                continue
            key = ast.dump(node.args) + ast.dump(ast.Module(body=body, type_ignores=[]))
            seen.setdefault(key, []).append(f"{f.relative_to(PKG)}:{node.lineno} {node.name}")
    copies = [where for where in seen.values() if len(where) > 1]
    # known, to merge: arrived with the kernel branches (bcc program holders of the current
    # and the legacy sensor design)
    known = [["sensor/kprog.py:67 detach", "sensor/legacy.py:73 detach"]]
    copies = [c for c in copies if [x.split(":")[0] for x in c] not in
              [[x.split(":")[0] for x in k] for k in known]]
    assert copies == [], f"the same function written twice: {copies}"


def test_names_and_numbers_have_one_owner() -> None:
    """The reaction modes, importance levels, the default metrics address, the system config
    folder and stdout printer names are written once, in the module that owns them."""
    owners = {("monitor", "enforce"): "core/vocab.py",
              ("low", "medium", "high", "critical"): "core/vocab.py",
              "127.0.0.1:9376": "observe/settings.py",
              "etc/jibril": "config.py", "etc/jibril/jibril.yaml": "config.py",
              ("stdout", "human"): "runtime/printers.py",
              ("stdout:json", "json"): "runtime/printers.py"}
    found: dict[Any, set[str]] = {}
    for f in PKG.rglob("*.py"):
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                val: Any = node.value
            elif isinstance(node, ast.Tuple | ast.List) and node.elts and all(
                    isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts):
                val = tuple(e.value for e in node.elts)  # type: ignore[attr-defined]
            else:
                continue
            if val in owners:
                found.setdefault(val, set()).add(f.relative_to(PKG).as_posix())
    # reactions/runtime.py is being rewritten on the react branch: its set_mode check moves to
    # MODES when that lands (an edit here now would only conflict with it).
    found.get(("monitor", "enforce"), set()).discard("reactions/runtime.py")
    for val, owner in owners.items():
        assert found.get(val, set()) <= {owner}, f"{val!r} written outside {owner}: {found[val]}"
    from jibril_rules.core.vocab import IMPORTANCE
    from jibril_rules.observe.alerts import PRIORITY
    assert list(PRIORITY) == list(IMPORTANCE)


def test_agent_commands_never_reach_for_compile_time_code() -> None:
    """`jibril run/record/ctl/service` compile only in a child (runtime/loading.py): not even a
    function-level import of the compiler or tools/ on an error path (a bad config once
    imported tools.lint just to print its diagnostics)."""
    for name in ("live", "ctl", "service"):
        bad = {m for m in _internal_imports(PKG / "cli" / f"{name}.py")
               if m.startswith(("jibril_rules.compiler", "jibril_rules.tools"))}
        assert not bad, f"cli/{name}.py imports {sorted(bad)}"
