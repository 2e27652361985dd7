"""`twin bench HALL --bus` (twin/bus/bench.py): a real `twin serve --speed max` process, three real
subscribers, and `twin bench` on the same hall before and after, giving the serve/bench ratio."""

from __future__ import annotations

import statistics

import pytest

from tests.halls import TINY
from twin.bus.bench import bench_bus, human


@pytest.mark.slow
def test_bench_bus_reports_serve_against_bench_with_three_clients(tmp_path):
    r = bench_bus(TINY, seconds=2.0, out_dir=tmp_path / "serve", bench_duration="1min")
    assert len(r["rtf_bench"]) == 2 and all(x > 1.0 for x in r["rtf_bench"])
    assert r["serve_bench_ratio"] == pytest.approx(r["rtf_3_clients"] / statistics.mean(r["rtf_bench"]))
    # Three subscribers, none losing a message, each at the server's default rates (10 Hz summaries,
    # 2 Hz fields; the tiny hall's encoder keeps up with both).
    assert r["dropped_per_client"] == [0, 0, 0]
    assert 7.0 <= r["summary_hz_per_client"] <= 12.0
    assert 1.0 <= r["fields_hz_per_client"] <= 3.0
    assert "serve with 3 clients / bench" in human(r)
