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
