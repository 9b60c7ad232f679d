"""Busy-host records: when a verdict rests on a unit measured on a busy host, it says so."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from dtf_ci.busy import Snapshot, UnitLoad, between, decode, encode, is_timing, set_aside_busy


def test_busy_means_others_wanted_more_cores_than_the_unit_left_free():
    assert UnitLoad(2, 1.0, 1.2, 0.0, own=1.0).busy() == ""  # the unit itself, on a quiet box
    assert UnitLoad(2, 4.9, 3.0, 0.0, own=1.0).busy() == "load 4.9 on 2 cores"
    # A benchmark that keeps 4 threads busy on 2 cores made that load itself.
    assert UnitLoad(2, 4.2, 4.2, 0.0, own=4.0).busy() == ""
    assert UnitLoad(1, 1.0, 1.0, 0.25, own=1.0).busy() == "CPU steal 25%"
    assert UnitLoad(1, 3.0, 1.0, 0.25, own=1.0).busy() == "load 3.0 on 1 core, CPU steal 25%"


def test_between_measures_steal_share_and_own_cores():
    rec = between(Snapshot(0.5, 10.0, 1000.0), Snapshot(0.7, 30.0, 1100.0), cpu_s=2.0, wall_s=4.0)
    assert (rec.load_before, rec.load_after, rec.steal, rec.own) == (0.5, 0.7, 0.2, 0.5)
    assert rec.cores >= 1


def test_records_round_trip_and_hostile_values_are_skipped():
    loads = {"a@x": UnitLoad(2, 1.0, 2.0, 0.0, 1.0)}
    assert decode(encode(loads)) == loads
    hostile = json.dumps({"b@x": {"cores": "two"}, "c@x": [1], "d@x": {"cores": 2, "load_before": 1,
                                                                      "load_after": 1, "steal": 0}})
    assert list(decode(hostile)) == ["d@x"]
    assert decode("not json") == {} and decode("[1, 2]") == {} and decode(None) == {}


@given(st.text(max_size=200))
def test_decode_never_raises(text):
    assert isinstance(decode(text), dict)


def test_load_changes_times_and_rates_not_counts():
    for unit in ("s", "ms", "ns", "", "MB/s", "ops/s", "it/s", "Hz"):
        assert is_timing(unit), unit
    for unit in ("compares", "bytes", "MB", "%", "instructions"):
        assert not is_timing(unit), unit


def test_changes_on_a_busy_host_are_set_aside_with_the_reason():
    rows = [
        {"task": "sort", "target": "local", "unit": "s", "verdict": "regression", "reason": "x"},
        {"task": "sort", "target": "local", "unit": "compares", "verdict": "regression", "reason": "x"},
        {"task": "hash", "target": "local", "unit": "MB/s", "verdict": "unchanged", "reason": ""},
        {"task": "quiet", "target": "local", "unit": "s", "verdict": "improvement", "reason": ""},
    ]
    loads = {"sort@local": UnitLoad(2, 4.9, 4.0, 0.0, 1.0), "hash@local": UnitLoad(2, 3.0, 3.6, 0.0, 1.0),
             "quiet@local": UnitLoad(2, 0.4, 1.0, 0.0, 1.0)}
    note = set_aside_busy(rows, loads)
    assert note == "host was busy: load 4.9 on 2 cores; results unreliable"
    timing, count, rate, quiet = rows
    assert timing["verdict"] == "inconclusive" and timing["busy"] is True
    assert "host was busy (load 4.9 on 2 cores)" in timing["reason"]
    assert count["verdict"] == "regression" and "host_busy" not in count  # counts do not move with load
    assert rate["verdict"] == "unchanged" and rate["host_busy"] == "load 3.6 on 2 cores"
    assert quiet["verdict"] == "improvement" and "host_busy" not in quiet
    assert set_aside_busy([dict(quiet)], loads) == ""
