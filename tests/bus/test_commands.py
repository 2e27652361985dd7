"""Commands over a real ROUTER socket: every status, idempotent ids, the audit log, the clock."""

from __future__ import annotations

import json
import math

import pytest
import zmq

from tests.bus.conftest import ServerThread, wait_until
from twin.bus import protocol as P
from twin.bus.audit import read_audit

SP = "CRAH-01.supply_temp_setpoint"


@pytest.fixture
def live(tmp_path):
    """A paused-on-demand server on tiny.toml with an audit log, and an operator client."""
    with ServerThread(audit_path=tmp_path / "audit.jsonl", checkpoint_path=tmp_path / "ckpt.npz") as s:
        with s.client(role="operator", name="test-op") as c:
            assert c.connect(5.0)
            yield s, c


def test_every_status_of_a_setpoint_write(live):
    """ok, clamped, out_of_range, not_writable, denied, interlock and invalid, each with a reason."""
    s, c = live
    reg = s.server.state.controls.registry
    start = reg.read(SP)
    r = c.set_setpoint(SP, start + 1.0)
    assert (r.status, r.reason) == ("ok", "") and r.result["target"] == start + 1.0
    r = c.set_setpoint(SP, start + 1.0 + 5.0)  # more than the 3 K a single write may move
    assert r.status == "clamped" and "3" in r.reason and r.result["target"] == start + 4.0
    r = c.set_setpoint(SP, 99.0)
    assert r.status == "out_of_range" and "14" in r.reason and reg.read(SP) == start + 4.0
    r = c.set_setpoint("CRAH-01.valve", 0.5)
    assert r.status == "not_writable"
    r = c.set_setpoint("CRAH-01.fallback_speed", 0.9)  # engineer only
    assert r.status == "denied" and "engineer" in r.reason
    r = c.set_setpoint("CRAH-01.enabled", 0)  # tiny.toml has one CRAH: it is the last one running
    assert r.status == "interlock" and "last running" in r.reason
    for bad in ("warm", None, [1], {"a": 1}):
        r = c.set_setpoint(SP, bad)
        assert r.status == "invalid" and r.reason
    r = c.set_setpoint("CRAH-99.supply_temp_setpoint", 20.0)
    assert r.status == "invalid" and "unknown setpoint" in r.reason


def test_the_twin_applies_what_was_accepted(live):
    """A write that was accepted reaches the controller: the next summaries carry the new target."""
    s, c = live
    target = s.server.state.controls.registry.read(SP) + 2.0
    assert c.set_setpoint(SP, target).ok

    def shown() -> float | None:
        c.poll(0.05)
        ctl = c.summary["controllers"][0]
        return next(sp["target"] for sp in ctl["setpoints"] if sp["name"] == SP)

    assert wait_until(lambda: shown() == target, 5.0)


def test_a_repeated_id_is_applied_once(live):
    """Sending the same clamped write twice under one id moves the target once and answers the same."""
    s, c = live
    reg = s.server.state.controls.registry
    start = reg.read(SP)
    r1 = c.request("set_setpoint", {"target": SP, "value": start + 9.0}, id="fixed-id-1")
    r2 = c.request("set_setpoint", {"target": SP, "value": start + 9.0}, id="fixed-id-1")
    assert r1.status == r2.status == "clamped"
    assert r1.result == r2.result
    assert reg.read(SP) == start + 3.0  # not + 6: the second was not applied
    lines = [rec for rec in read_audit(s.server.opt.audit_path) if rec.get("id") == "fixed-id-1"]
    assert len(lines) == 2 and lines[1]["duplicate"] is True and not lines[0].get("duplicate")


def test_every_command_lands_in_the_audit_log(live):
    """One JSON line per command, accepted or not, with time, client, role, target, old, new, status."""
    s, c = live
    c.set_setpoint(SP, 20.0)
    c.set_setpoint(SP, 99.0)
    c.request("no_such_command")
    c.pause()
    lines = read_audit(s.server.opt.audit_path)
    assert lines[0]["kind"] == "snapshot"  # the client's own snapshot request is a command too
    lines = lines[1:]
    assert [rec["status"] for rec in lines] == ["ok", "out_of_range", "invalid", "ok"]
    first = lines[0]
    for key in ("time", "sim_time_s", "client", "role", "id", "kind", "target", "old", "new", "status", "reason"):
        assert key in first, key
    assert first["role"] == "operator" and first["name"] == "test-op" and first["target"] == SP
    assert first["new"] == 20.0 and math.isclose(first["old"], 18.0)
    # the file is JSON lines, one per command, written as they came
    raw = s.server.opt.audit_path.read_text().splitlines()
    assert len(raw) == 5 and all(json.loads(line) for line in raw)


def test_roles_gate_commands_and_the_server_caps_loopback_roles(tmp_path):
    """An observer may look but not write; a loopback client can't claim more than --max-role."""
    with ServerThread(max_role="operator") as s:
        with s.client(role="observer") as obs, s.client(role="engineer") as eng:
            assert obs.connect(5.0) and eng.connect(5.0)
            assert obs.set_setpoint(SP, 19.0).status == "denied"
            assert obs.pause().status == "denied"
            assert obs.ping().status == "ok"
            r = eng.inject({"kind": "crah_trip", "target": "CRAH-01"})
            assert r.status == "denied" and "operator" in r.reason  # capped to operator
            assert s.server.state.controls is not None


def test_scenario_events_and_alarms(tmp_path):
    """An engineer trips a CRAH; its trip alarm is raised, acknowledged, shelved and unshelved."""
    with ServerThread() as s:
        with s.client(role="engineer") as c:
            assert c.connect(5.0)
            r = c.inject({"kind": "crah_trip", "target": "CRAH-01"})
            assert r.status == "ok" and r.reason == "tripped"
            r = c.inject({"kind": "crah_trip", "target": "CRAH-77"})
            assert r.status == "invalid" and "CRAH-01" in r.reason
            r = c.inject({"kind": "meteor", "target": "CRAH-01"})
            assert r.status == "invalid" and "kind" in r.reason

            def alarm_state(name):
                c.poll(0.05)
                for a in c.summary["alarms"]["active"] + c.summary["alarms"]["shelved"]:
                    if a["name"] == name:
                        return a["state"]
                return None

            assert wait_until(lambda: alarm_state("CRAH-01.trip") == "UNACK", 5.0)
            assert c.summary["clock"]["training"] is True
            assert c.ack_alarm("CRAH-01.trip").status == "ok"
            assert wait_until(lambda: alarm_state("CRAH-01.trip") == "ACKED", 5.0)
            r = c.shelve_alarm("CRAH-01.trip", 600)
            assert r.status == "ok" and r.result["state"] == "SHELVED"
            assert c.shelve_alarm("CRAH-01.trip", -5).status == "out_of_range"
            assert c.ack_alarm("no.such.alarm").status == "invalid"
            assert c.unshelve_alarm("CRAH-01.trip").status == "ok"
            assert c.inject({"kind": "crah_restart", "target": "CRAH-01"}).status == "ok"
            assert wait_until(lambda: (c.poll(0.05), c.summary["clock"]["training"])[1] is False, 5.0)


@pytest.mark.serial  # times itself against the wall clock: not beside another worker
def test_pause_resume_and_speed(tmp_path):
    """Paused: simulated time stands still; a paced speed runs at that many simulated seconds per second."""
    with ServerThread() as s:
        with s.client(role="operator") as c:
            assert c.connect(5.0)
            assert c.pause().status == "ok"
            t0 = c.ping().result["time_s"]
            import time

            time.sleep(0.4)
            assert c.ping().result["time_s"] == t0
            assert c.set_speed(20).status == "ok"
            assert c.set_speed(0).status == "out_of_range"
            assert c.set_speed("fast").status == "invalid"
            assert c.resume().status == "ok"
            w0, t1 = time.monotonic(), c.ping().result["time_s"]
            time.sleep(1.5)
            w1, t2 = time.monotonic(), c.ping().result["time_s"]
            rate = (t2 - t1) / (w1 - w0)
            assert 12 <= rate <= 22, rate  # ×20, within a step either side of the window
            assert c.set_speed("max").status == "ok"


def test_checkpoint_command_writes_a_file(tmp_path):
    with ServerThread(checkpoint_path=tmp_path / "c.npz") as s:
        with s.client(role="operator") as c:
            assert c.connect(5.0)
            r = c.checkpoint()
            assert r.status == "ok" and (tmp_path / "c.npz").exists()
    with ServerThread() as s, s.client(role="operator") as c:
        assert c.connect(5.0)
        assert c.checkpoint().status == "not_writable"


def test_a_req_socket_written_from_the_document_works(tmp_path):
    """A plain REQ client (the delimiter frame) gets its reply: the protocol is not tied to our client."""
    with ServerThread() as s:
        ctx = zmq.Context.instance()
        req = ctx.socket(zmq.REQ)
        req.setsockopt(zmq.LINGER, 0)
        req.connect(s.commands_ep)
        try:
            req.send(json.dumps({"protocol": "1.0", "kind": "ping", "id": "req-1", "role": "observer"}).encode())
            assert req.poll(5000)
            reply = json.loads(req.recv())
            assert reply["kind"] == "reply" and reply["id"] == "req-1" and reply["status"] == "ok"
            req.send(json.dumps({"protocol": "1.0", "kind": "snapshot", "id": "req-2"}).encode())
            assert req.poll(5000)
            frames = req.recv_multipart()
            snap = P.decode_message(frames)
            assert snap.kind == "snapshot" and snap.header["hall"]["name"]
            assert snap.arrays["t_c"].shape == tuple(reversed(snap.header["hall"]["grid"]["shape_xyz"]))
        finally:
            req.close()


def test_a_command_s_effect_is_published_before_the_next_command_is_answered():
    """Pause and ping sent back to back (both waiting in the socket when the server reads them): the ping's
    digest is the paused state's, already published, so a client that holds the published state ends on it.
    Read in one drain, the ping used to answer before the pause's summary went out, with a digest no later
    message matched (seen as a late joiner that never held the server's digest on a loaded machine)."""
    import json

    import zmq

    from twin.bus import protocol as P

    with ServerThread() as s, s.client(role="observer") as c:
        assert c.connect(10.0)
        for k in range(5):  # each round: the twin runs, then pause and ping arrive together
            d = zmq.Context.instance().socket(zmq.DEALER)
            d.setsockopt(zmq.LINGER, 0)
            d.connect(s.commands_ep)
            try:
                for kind in ("resume", "pause", "ping"):
                    d.send(json.dumps({"protocol": P.PROTOCOL_VERSION, "kind": kind, "id": f"{kind}-{k}",
                                       "role": "operator"}).encode())
                replies = {}
                for _ in range(3):
                    assert d.poll(5000), "no reply"
                    r = P.decode_message(d.recv_multipart())
                    replies[r.header["request"]] = r.header
            finally:
                d.close()
            assert replies["pause"]["status"] == replies["ping"]["status"] == "ok"
            ping = replies["ping"]["result"]
            assert ping["paused"] is True
            assert s.server.digest() == ping["digest"], k  # nothing published after the ping's answer
            assert wait_until(lambda: (c.poll(0.05), c.digest() == ping["digest"])[1], 5.0), k
