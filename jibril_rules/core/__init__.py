"""Shared by every stage: diagnostics, vocabulary, field/operator registries, YAML with spans.

Imports nothing internal outside core/."""
