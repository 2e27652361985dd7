"""What a careless or hostile client can send: the server answers, stays up, stays small and keeps time."""

from __future__ import annotations

import json
import subprocess
import time

import pytest
import zmq

from tests.bus.conftest import TWIN, ServerThread
from tests.halls import TINY
from twin.bus import protocol as P
from twin.bus.audit import AuditLog, read_audit


def _dealer(endpoint: str) -> zmq.Socket:
    d = zmq.Context.instance().socket(zmq.DEALER)
    d.setsockopt(zmq.LINGER, 0)
    d.connect(endpoint)
    return d


def _ask(d: zmq.Socket, frames: list[bytes]) -> P.Message:
    d.send_multipart(frames)
    assert d.poll(5000), "no reply"
    return P.decode_message(d.recv_multipart())


def test_values_python_cannot_hold_are_invalid_not_fatal():
    """Huge integer literals, lone surrogates and integers beyond float range: `invalid`, server lives."""
    big = "1" * 5001
    cases = [
        b'{"protocol":"1.0","kind":"ping","id":"a","x":' + big.encode() + b"}",
        b'{"protocol":"1.0","kind":"ping","id":"\\ud800"}',
        b'{"protocol":"1.0","kind":"ping","id":"b","client":"\\udfff"}',
    ]
    huge = 10 ** 400
    for kind, args in (("set_setpoint", {"target": "CRAH-01.supply_temp_setpoint", "value": huge}),
                       ("set_speed", {"speed": huge}), ("alarm_shelve", {"alarm": "CRAH-01.trip", "duration_s": huge})):
        cases.append(json.dumps({"protocol": "1.0", "kind": kind, "id": f"h-{kind}", "role": "operator",
                                 "args": args}).encode())
    with ServerThread() as s:
        d = _dealer(s.commands_ep)
        try:
            for frames in cases:
                r = _ask(d, [frames])
                assert r.header["status"] == "invalid" and r.header["reason"], frames[:60]
            assert _ask(d, [b'{"protocol":"1.0","kind":"ping","id":"alive"}']).header["status"] == "ok"
        finally:
            d.close()


def test_client_strings_are_bounded_in_replies_and_the_audit_log(tmp_path):
    """A 60 kB command kind costs a few hundred bytes of log, not 60 kB per line (memory stays flat)."""
    with ServerThread(audit_path=tmp_path / "audit.jsonl") as s:
        d = _dealer(s.commands_ep)
        try:
            for k in range(50):
                head = {"protocol": "1.0", "kind": "x" * 60_000, "id": f"k{k}", "client": "y" * 60_000}
                r = _ask(d, [json.dumps(head).encode()])
                assert r.header["status"] == "invalid" and len(r.header["reason"]) < 1000
        finally:
            d.close()
        lines = (tmp_path / "audit.jsonl").read_bytes().splitlines()
        assert len(lines) == 50 and max(map(len, lines)) < 2000


@pytest.mark.serial  # times itself against the wall clock: not beside another worker
def test_a_flood_of_snapshot_requests_does_not_silence_the_twin():
    """400 snapshot requests at once: summaries keep coming (no gap near the STALE limit)."""
    with ServerThread(heartbeat_s=0.5) as s, s.client(topics=("summary", "heartbeat")) as c:
        assert c.connect(5.0)
        d = _dealer(s.commands_ep)
        try:
            for k in range(400):
                d.send(json.dumps({"protocol": "1.0", "kind": "snapshot", "id": f"s{k}"}).encode())
            gaps, last = [], time.monotonic()
            t_end = last + 3.0
            while time.monotonic() < t_end:
                if c.poll(0.05) & {"summary"}:
                    now = time.monotonic()
                    gaps.append(now - last)
                    last = now
            assert max(gaps) < 1.0, max(gaps)
            assert c.status == "live"
        finally:
            d.close()


def test_scenario_setpoints_answer_with_the_registry_status_and_events_have_no_time():
    with ServerThread() as s, s.client(role="engineer") as c:
        assert c.connect(5.0)
        r = c.inject({"kind": "setpoint", "target": "CRAH-01.enabled", "value": 0})
        assert r.status == "interlock" and "last running" in r.reason
        r = c.inject({"kind": "setpoint", "target": "CRAH-01.supply_temp_setpoint", "value": 26.0})
        assert r.status == "clamped"
        r = c.inject({"kind": "crah_trip", "target": "CRAH-01", "at": "10min"})
        assert r.status == "invalid" and "at" in r.reason
        assert not s.server.state.crah_tripped.any()


def test_an_empty_frame_alone_is_a_command_not_a_delimiter():
    with ServerThread() as s:
        d = _dealer(s.commands_ep)
        try:
            d.send(b"")
            assert d.poll(5000)
            frames = d.recv_multipart()
            assert len(frames) == 1 and P.decode_message(frames).header["status"] == "invalid"
        finally:
            d.close()


def test_a_refused_snapshot_is_not_retried_in_a_loop(tmp_path):
    """A client whose snapshot is refused says why and asks again only after its timeout."""
    with ServerThread(audit_path=tmp_path / "a.jsonl") as s:
        c = s.client(role="admin")  # not a role: every request is invalid
        try:
            t_end = time.monotonic() + 2.0
            while time.monotonic() < t_end:
                c.poll(0.02)
            assert c.status == "connecting" and "role" in (c.snapshot_refused or "")
        finally:
            c.close()
        assert 1 <= len(read_audit(tmp_path / "a.jsonl")) <= 3


def test_idempotency_is_per_sender():
    """An observer resending an operator's (broadcast) id gets its own answer, not the operator's."""
    with ServerThread() as s, s.client(role="operator", name="op") as op, s.client(role="observer", name="o") as ob:
        assert op.connect(5.0) and ob.connect(5.0)
        r1 = op.request("set_setpoint", {"target": "CRAH-01.supply_temp_setpoint", "value": 19.0}, id="shared")
        r2 = ob.request("set_setpoint", {"target": "CRAH-01.supply_temp_setpoint", "value": 19.0}, id="shared")
        assert r1.status == "ok" and r2.status == "denied"


def test_a_torn_audit_line_does_not_swallow_the_next_record(tmp_path):
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b'{"kind": "pause", "status": "ok"}\n{"kind": "res')  # killed mid-line
    log = AuditLog(path)
    log.append({"kind": "after-torn", "status": "ok"})
    log.close()
    kinds = [r["kind"] for r in read_audit(path)]
    assert kinds == ["pause", "after-torn"]


def test_publish_rates_must_be_positive():
    p = subprocess.run([str(TWIN), "serve", str(TINY), "--summary-hz", "0"], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 2 and "--summary-hz" in p.stderr and len(p.stderr.strip().splitlines()) == 1
