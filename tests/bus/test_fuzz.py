"""Thousands of malformed messages: the server neither crashes nor changes state, and answers `invalid`."""

from __future__ import annotations

import json
import time

import numpy as np
import zmq

from tests.bus.conftest import ServerThread
from twin.bus import protocol as P

SP = "CRAH-01.supply_temp_setpoint"


def _malformed(rng: np.random.Generator) -> list[list[bytes]]:
    """One list of frames per message, each wrong in its own way."""

    def hdr(**kw) -> bytes:
        base = {"protocol": "1.0", "kind": "set_setpoint", "id": f"f{rng.integers(1 << 60)}", "role": "engineer",
                "args": {"target": SP, "value": 20.0}}
        base.update(kw)
        return json.dumps({k: v for k, v in base.items() if v is not ...}).encode()

    good = hdr()
    out: list[list[bytes]] = []
    for _ in range(300):
        out += [
            [good, b"extra"],  # wrong frame count
            [good, b"", b"x"],
            [bytes(rng.integers(0, 256, rng.integers(1, 200), dtype=np.uint8))],  # noise
            [b"\xc3\x28" + good],  # invalid UTF-8
            [good[: int(rng.integers(1, len(good) - 1))]],  # truncated JSON
            [good.replace(b"20.0", b"NaN")],
            [good.replace(b"20.0", b"Infinity")],
            [good.replace(b"20.0", b"1e999")],  # parses as inf: the registry refuses it
            [hdr(id=int(rng.integers(1000)))],  # wrong types
            [hdr(id="")],
            [hdr(id="x" * 200)],
            [hdr(kind=["set_setpoint"])],
            [hdr(args=[SP, 20.0])],
            [hdr(args={"target": SP, "value": {"v": 20}})],
            [hdr(args={"target": 5, "value": 20.0})],
            [hdr(role=5)],
            [hdr(role="root")],
            [hdr(kind=f"kind_{rng.integers(1000)}")],  # unknown kinds
            [hdr(protocol="2.0")],  # another major version
            [hdr(protocol=1)],
            [hdr(protocol=...)],
            [b"[" * 5000 + b"]" * 5000],  # deep nesting
            [hdr(kind="scenario_event", args={"event": {"kind": "crah_trip", "target": "nope"}})],
            [hdr(kind="scenario_event", args={"event": "crah_trip"})],
            [hdr(kind="alarm_shelve", args={"alarm": "CRAH-01.trip", "duration_s": "long"})],
            [hdr(kind="set_speed", args={"speed": None})],
        ]
    out.append([b'{"protocol": "1.0", "kind": "ping", "id": "big", "pad": "' + b"x" * 200_000 + b'"}'])  # huge
    return out


def test_fuzzed_commands_change_nothing_and_get_invalid(rng):
    with ServerThread() as s:
        with s.client(role="operator") as c:
            assert c.connect(5.0)
            assert c.pause().ok
            time.sleep(0.3)  # the summary that shows the pause goes out within one summary period
            digest0 = c.ping().result["digest"]
        state = s.server.state
        before = (state.copy(), state.controls.registry.state_dict(), state.alarms.state_dict())
        messages = _malformed(rng)
        assert len(messages) > 7000

        dealer = zmq.Context.instance().socket(zmq.DEALER)
        dealer.setsockopt(zmq.LINGER, 0)
        dealer.connect(s.commands_ep)
        replies = []
        try:
            for frames in messages:
                dealer.send_multipart(frames)
                assert dealer.poll(5000), f"no reply to {frames[0][:80]!r}"
                replies.append(P.decode_message(dealer.recv_multipart()))
            # Past the socket's size limit a peer is dropped without a reply; the server lives on.
            dealer.send_multipart([b"{" + b" " * (17 * 1024 * 1024) + b"}"])
        finally:
            dealer.close()

        statuses = {r.header["status"] for r in replies}
        assert statuses == {"invalid"}, statuses
        assert all(r.header["reason"] for r in replies)
        with s.client(role="operator") as c:
            assert c.connect(5.0)
            ping = c.ping()
            assert ping.status == "ok" and ping.result["digest"] == digest0
        after = (state, state.controls.registry.state_dict(), state.alarms.state_dict())
        assert after[1] == before[1]
        for k, v in before[2].items():
            assert np.array_equal(v, after[2][k], equal_nan=v.dtype.kind == "f"), k
        for name in ("t_air_c", "crah_setpoint_c", "crah_tripped", "rack_it_w"):
            assert np.array_equal(getattr(before[0], name), getattr(after[0], name)), name
        assert after[0].time_s == before[0].time_s and after[0].utility_ok == before[0].utility_ok
