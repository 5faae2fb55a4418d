"""Reference pages are generated from the registries; the committed copies must be current."""

from __future__ import annotations

from pathlib import Path

from jibril_rules.core.fields import FIELDS
from jibril_rules.tools.docgen import diagnostics_md, fields_md, ops_md

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_generated_docs_are_current() -> None:
    for name, text in (("fields.md", fields_md()), ("operators.md", ops_md()),
                       ("diagnostics.md", diagnostics_md())):
        assert (DOCS / name).read_text() == text, f"run 'jibril docs' to refresh docs/{name}"


def test_every_field_is_documented() -> None:
    text = fields_md()
    assert all(f"`{name}`" in text for name in FIELDS)


def test_layout_in_readme_and_design_matches_the_tree() -> None:
    """Every package of jibril_rules/ is in the README layout and docs/design.md; every module
    of the stage packages is in design.md's module map (reactions/ is mapped in
    docs/reactions.md, cli/ is one module per command group)."""
    pkg = DOCS.parent / "jibril_rules"
    readme = (DOCS.parent / "README.md").read_text()
    layout = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    design = (DOCS / "design.md").read_text()
    subs = sorted(p.name for p in pkg.iterdir() if (p / "__init__.py").exists())
    tops = sorted(p.name for p in pkg.glob("*.py") if p.name != "__init__.py")
    for name in subs:
        assert f"`{name}/`" in layout, f"README layout lacks {name}/"
        assert f"`{name}/`" in design, f"design.md lacks {name}/"
    for name in tops:
        assert f"`{name}`" in layout and f"`{name}`" in design, name
    missing = [f"{sub}/{m.name}" for sub in ("core", "compiler", "runtime", "sensor", "observe",
                                             "tools")
               for m in sorted((pkg / sub).glob("*.py"))
               if m.name != "__init__.py" and f"`{m.name}`" not in design]
    assert missing == [], f"docs/design.md's module map lacks {missing}"
