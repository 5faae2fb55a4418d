"""Shared fixtures. Tests marked `kernel` need eBPF: they skip with the reason printed."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _need_bpf(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("kernel") is None:
        return
    from jibril_rules.sensor.bccload import SensorUnavailable, preflight
    try:
        preflight()
    except SensorUnavailable as e:
        print(f"SKIP {request.node.name}: {e}")
        pytest.skip(str(e))
