"""jibril-rules: alchemy recipes compiled to in-kernel eBPF filters, a decision tree and reactions."""

__version__ = "0.1.0"
# pyproject.toml's [project.urls] say the same (tests/test_packaging.py checks).
PROJECT_URL = "https://github.com/jibril-rules/jibril-rules"
DOCS_URL = PROJECT_URL + "/blob/main/docs"
