"""The encoder thread of `twin serve` (twin/bus/encoder.py): what reaches a subscriber is the state of its
step, never a mix of two; sequence numbers stay monotonic; the thread stops with the server; a failure in
it is logged and stops the server instead of leaving clients with a stale twin."""

from __future__ import annotations

import logging
import threading
import time

import numpy as np
import zmq

from tests.bus.conftest import ServerThread, wait_until
from twin.bus import protocol as P
from twin.bus.encoder import EncoderError
from twin.bus.views import field_arrays, summary_body


def _subscriber(endpoint: str) -> zmq.Socket:
    sub = zmq.Context.instance().socket(zmq.SUB)
    sub.setsockopt(zmq.RCVHWM, 0)  # keep everything: the test checks every message, not the newest
    sub.setsockopt(zmq.LINGER, 0)
    for topic in (b"summary", b"fields", b"heartbeat"):
        sub.setsockopt(zmq.SUBSCRIBE, topic)
    sub.connect(endpoint)
    return sub


def _collect(sub: zmq.Socket, until_s: float) -> list[P.Message]:
    got = []
    end = time.monotonic() + until_s
    while time.monotonic() < end:
        if sub.poll(50):
            topic, *frames = sub.recv_multipart(copy=True)
            got.append(P.decode_message(frames))
    return got


def test_summaries_and_fields_received_are_the_state_of_their_step():
    """A twin served as fast as it goes, fields at 50 Hz and a summary after every step: each fields message
    equals, bit for bit, the float16 fields of an offline replay of the same hall at the step its body
    names, and each summary's racks and CRAHs equal the replay's at its step. An encoder reading arrays
    while the solver mutates them would show a later step's values under an earlier step's number."""
    with ServerThread(publish_every_step=True, summary_hz=1000.0, fields_hz=50.0) as s:
        sub = _subscriber(s.state_ep)
        try:
            got = _collect(sub, 2.5)
        finally:
            sub.close()
        twin = s.twin  # the server's hall and grid; the replay runs on a fresh state of its own
    seqs = [m.header["seq"] for m in got]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), "sequence numbers must increase"
    fields = {m.header["body"]["steps"]: m for m in got if m.kind == "fields"}
    summaries = {m.header["body"]["clock"]["steps"]: m for m in got if m.kind == "summary"}
    assert len(fields) >= 5 and len(summaries) >= 50, (len(fields), len(summaries))

    replay = twin.initial_state()
    twin.operator(replay)
    checked_f = checked_s = 0
    for step in range(max(max(fields), max(summaries)) + 1):
        if step > 0:
            twin.step(replay)
        if step in fields:
            _, want = field_arrays(twin, replay, precision="float16")
            arrays = fields[step].arrays
            assert np.array_equal(arrays["t_c"], want["t_c"], equal_nan=True), f"fields at step {step}"
            assert np.array_equal(arrays["velocity_m_s"], want["velocity_m_s"], equal_nan=True)
            checked_f += 1
        if step in summaries:
            body = summaries[step].header["body"]
            want = P.decode_json(P.encode_json(summary_body(twin, replay, clock={})))
            for part in ("racks", "crahs"):
                for key, values in want[part].items():
                    assert body[part][key] == values, f"summary at step {step}: {part}.{key}"
            assert body["clock"]["time_s"] == replay.time_s
            checked_s += 1
    assert checked_f == len(fields) and checked_s == len(summaries)


def test_the_encoder_thread_stops_with_the_server():
    with ServerThread() as s:
        enc = s.server.encoder
        assert enc is not None and enc.alive
        assert wait_until(lambda: enc.encoded["summary"] > 0 and enc.encoded["fields"] > 0, 10.0)
    assert not enc.alive
    assert not [t for t in threading.enumerate() if t.name == "twin-bus-encoder" and t.is_alive()]


def test_an_encoder_failure_is_logged_and_stops_the_server(caplog):
    """A precision numpy does not know fails in the encoder's thread (building the fields): the traceback
    is logged, the server's run raises EncoderError naming the cause, and the thread is gone."""
    s = ServerThread(field_precision="float8")
    with caplog.at_level(logging.ERROR, logger="twin.bus.encoder"):
        s.server.bind()
        runner = threading.Thread(target=s._run, daemon=True)
        runner.start()
        runner.join(30)
        s.server.close()
    assert not runner.is_alive(), "the server must stop when its encoder failed"
    assert isinstance(s.error, EncoderError), repr(s.error)
    assert "float8" in str(s.error)
    failed = [r for r in caplog.records if r.name == "twin.bus.encoder" and r.levelno == logging.ERROR]
    assert failed and failed[0].exc_info is not None, "the worker's traceback must be logged"
    assert not s.server.encoder.alive
