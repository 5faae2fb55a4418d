"""jibril-rules: alchemy recipes compiled to in-kernel eBPF filters, a decision tree and reactions."""

__version__ = "0.1.0"
