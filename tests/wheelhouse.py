"""An offline wheelhouse for the install tests: the installed distributions, repacked as wheels.

The install tests (setup.sh into a temp venv, wheel/sdist installs, pre-commit's try-repo, the
GitHub Action's steps) run pip for real, but tests make no network traffic. So pip gets
`--no-index --find-links WHEELHOUSE`, where every distribution jibril-rules[dev] needs (and
the build backend) is rebuilt from the files this Python already has installed (their RECORD).
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata as md
import re
import tomllib
import zipfile
from pathlib import Path

from packaging.requirements import Requirement

SKIP = {"jibril-rules"}  # installed from the checkout under test, never from here


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def project_requirements(pyproject: Path) -> list[str]:
    """What the checkout asks for: dependencies, the dev extras and the build backend."""
    doc = tomllib.loads(pyproject.read_text())
    proj = doc["project"]
    return [*proj.get("dependencies", []), *proj.get("optional-dependencies", {}).get("dev", []),
            *doc.get("build-system", {}).get("requires", [])]


def closure(requirements: list[str]) -> dict[str, md.Distribution]:
    """Every installed distribution these requirements need (recursively)."""
    seen: dict[str, md.Distribution] = {}
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        if req.marker and not req.marker.evaluate({"extra": ""}):
            continue
        key = _norm(req.name)
        if key in seen or key in SKIP:
            continue
        try:
            dist = md.distribution(req.name)
        except md.PackageNotFoundError:
            continue
        seen[key] = dist
        for r in dist.requires or []:
            sub = Requirement(r)
            wanted = not sub.marker or any(sub.marker.evaluate({"extra": e}) for e in ("", *req.extras))
            if wanted:
                sub.marker = None
                todo.append(sub)
    return seen


def repack(dist: md.Distribution, out: Path) -> Path | None:
    """One installed distribution as a wheel file (None if it cannot be, e.g. editable)."""
    files = dist.files or []
    info = next((f for f in files if f.parts[0].endswith(".dist-info")), None)
    direct = dist.read_text("direct_url.json") or ""
    if info is None or '"editable": true' in direct:
        return None
    info_dir = info.parts[0]
    wheel_meta = dist.read_text("WHEEL") or ""
    tags = [ln.split(":", 1)[1].strip().split("-") for ln in wheel_meta.splitlines()
            if ln.startswith("Tag:")] or [["py3", "none", "any"]]
    tag = "-".join(".".join(dict.fromkeys(t[i] for t in tags)) for i in range(3))  # compressed set
    name = re.sub(r"[-.]+", "_", dist.metadata["Name"])
    whl = out / f"{name}-{dist.version}-{tag}.whl"
    record: list[str] = []
    scripts = {ep.name for ep in dist.entry_points if ep.group in ("console_scripts", "gui_scripts")}
    with zipfile.ZipFile(whl, "w", zipfile.ZIP_DEFLATED) as z:
        for f in files:
            rel = f.as_posix()
            if "__pycache__" in f.parts or rel.endswith(".pyc"):
                continue
            if rel.startswith(".."):  # a file outside site-packages: keep real binaries (ruff)
                if f.parent.name != "bin" or f.name in scripts:
                    continue  # pip writes entry-point wrappers itself
                rel = f"{name}-{dist.version}.data/scripts/{f.name}"
            if f.parts[0] == info_dir and f.name in ("RECORD", "INSTALLER", "REQUESTED", "direct_url.json"):
                continue
            src = Path(str(f.locate()))
            if not src.is_file():
                continue
            data = src.read_bytes()
            z.writestr(rel, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{rel},sha256={digest},{len(data)}")
        record.append(f"{info_dir}/RECORD,,")
        z.writestr(f"{info_dir}/RECORD", "\n".join(record) + "\n")
    return whl


def build(out: Path, pyproject: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    for dist in closure(project_requirements(pyproject)).values():
        repack(dist, out)
    return out


def pip_env(house: Path, base: dict[str, str]) -> dict[str, str]:
    """The environment for an offline pip: no index, the wheelhouse only."""
    env = {k: v for k, v in base.items() if not k.startswith("PIP_")}
    env.update(PIP_NO_INDEX="1", PIP_FIND_LINKS=str(house), PIP_DISABLE_PIP_VERSION_CHECK="1",
               PIP_CONFIG_FILE="/dev/null")
    return env
