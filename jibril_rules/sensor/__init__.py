"""Live sensor: the fixed BPF program set (bpf/), its loader and the raw-event assembly."""

from __future__ import annotations

from .bccload import SensorUnavailable

__all__ = ["SensorUnavailable"]
