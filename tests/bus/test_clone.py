"""Late joiners (the Clone pattern): snapshot + newer updates give a client exactly the server's state."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tests.bus.conftest import ServerThread, wait_until
from twin.bus.client import TwinClient


def _synced(server: ServerThread, client) -> bool:
    client.poll(0.05)
    return client.seq == server.server.seq and client.status == "live"


def test_snapshot_plus_updates_equal_the_server_state():
    """While the twin runs, a client follows; paused, its digest equals the server's (summary and fields)."""
    with ServerThread() as s, s.client(role="operator") as c:
        assert c.connect(5.0)
        t_end = time.monotonic() + 1.5
        while time.monotonic() < t_end:
            c.poll(0.05)  # updates applied on top of the snapshot
        assert c.pause().ok
        ping = c.ping().result
        assert wait_until(lambda: (c.poll(0.05), c.seq >= ping["seq"])[1], 5.0)
        assert c.ping().result["digest"] == c.digest() == s.server.digest()
        assert c.summary["clock"]["time_s"] == s.server.state.time_s
        assert c.fields[0]["time_s"] <= s.server.state.time_s


@pytest.mark.serial  # times itself against the wall clock: not beside another worker
def test_a_late_joiner_after_ten_thousand_updates_holds_the_state_within_a_second():
    """10⁴ updates published before it joins; the client holds the full state (digest) within 1 s."""
    with ServerThread(publish_every_step=True, summary_hz=1000.0) as s:
        assert wait_until(lambda: s.server.seq >= 10_000, 120.0, 0.1)
        t0 = time.monotonic()
        with s.client(role="operator") as c:
            assert c.connect(5.0)
            joined_s = time.monotonic() - t0
            assert joined_s < 1.0, joined_s
            assert c.seq >= 10_000 and c.summary is not None and c.fields is not None and c.hall is not None
            assert c.summary["racks"]["name"] == list(s.twin.racks.names)
            assert c.pause().ok
            ping = c.ping().result
            assert wait_until(lambda: (c.poll(0.05), c.seq >= ping["seq"])[1], 5.0)
            assert c.digest() == ping["digest"] == s.server.digest()


def test_updates_at_or_below_the_snapshot_are_dropped():
    """Messages queued before the snapshot came do not roll the state back."""
    with ServerThread(publish_every_step=True, summary_hz=1000.0) as s, s.client() as c:
        assert c.connect(5.0)
        seqs = []
        for _ in range(50):
            c.poll(0.01)
            seqs.append(c.summary_seq)
        assert all(b >= a for a, b in zip(seqs, seqs[1:]))
        assert c.summary["clock"]["time_s"] > 0


class _HeldSnapshotClient(TwinClient):
    """A client whose snapshot reply is held back until the test releases it (a slow command socket, made
    deterministic): updates keep arriving meanwhile and wait as pending."""

    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        self.held: list = []
        self.release = False

    def _take_snapshot(self, msg, changed) -> None:
        if not self.release:
            self.held.append((msg, changed))
            return
        super()._take_snapshot(msg, changed)


def test_a_snapshot_that_arrives_after_thousands_of_updates_still_gives_the_server_state():
    """Snapshot held back while > 2,000 updates and the pause arrive: the client ends on the server's digest.

    Before protocol 1.1 the client kept only the first 1,000 pending updates, so the last state (the one
    the paused twin keeps) was lost for good."""
    with ServerThread(publish_every_step=True, summary_hz=1000.0) as s, s.client(role="operator") as ctl:
        assert ctl.connect(5.0)
        c = _HeldSnapshotClient(s.state_ep, s.commands_ep, role="observer")
        try:
            assert wait_until(lambda: (c.poll(0.02), bool(c.held))[1], 10.0)
            snap_seq = c.held[0][0].header["seq"]
            assert wait_until(lambda: (c.poll(0.01), s.server.seq > snap_seq + 2_000)[1], 60.0)
            assert ctl.pause().ok
            ping = ctl.ping().result
            assert wait_until(lambda: (c.poll(0.01), any(m.seq >= ping["seq"] - 1 for m in c._pending.values()))[1],
                              10.0)
            msg, changed = c.held.pop()
            c.release = True
            c._take_snapshot(msg, changed)
            assert c.status == "live" and c.summary["clock"]["paused"] is True
            assert c.digest() == ping["digest"]
        finally:
            c.close()


class _LossyClient(TwinClient):
    """A client that loses the summary announcing the pause, as a slow reader past its high-water mark
    would (ZeroMQ drops the newest messages for it)."""

    lost = 0

    def _on_update(self, msg, changed) -> None:
        body = msg.header.get("body")
        if msg.kind == "summary" and isinstance(body, dict) and body["clock"]["paused"] and not self.lost:
            self.lost += 1
            return
        super()._on_update(msg, changed)


def test_a_client_that_lost_the_last_summary_takes_a_snapshot_when_a_heartbeat_says_so():
    """The paused twin publishes nothing new; its heartbeat names the last summary: the client resyncs."""
    with ServerThread(heartbeat_s=0.1) as s, s.client(role="operator") as ctl:
        assert ctl.connect(5.0)
        c = _LossyClient(s.state_ep, s.commands_ep, role="observer")
        try:
            assert c.connect(5.0)
            assert ctl.pause().ok
            ping = ctl.ping().result
            assert wait_until(lambda: (c.poll(0.05), c.lost == 1 and c.digest() == ping["digest"])[1], 5.0)
            assert c.summary["clock"]["paused"] is True and c.resyncs == 0  # same server: not a restart
        finally:
            c.close()


@pytest.mark.slow
def test_late_joiners_on_a_loaded_machine_hold_the_server_state():
    """Three busy processes on the two cores; 20 late joiners in turn each end on the server's digest."""
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(3)]
    try:
        with ServerThread(publish_every_step=True, summary_hz=1000.0) as s, s.client(role="operator") as ctl:
            assert ctl.connect(10.0)
            for k in range(20):
                # Each joiner comes while the twin runs and publishes every step, on a state the previous
                # one never saw; 100 updates apart is enough for that (300 only made the test longer).
                target = s.server.seq + 100
                assert wait_until(lambda: s.server.seq >= target, 60.0, 0.02)
                with s.client(role="observer") as c:
                    assert c.connect(10.0)
                    assert ctl.pause().ok
                    ping = ctl.ping().result
                    assert wait_until(lambda: (c.poll(0.05), c.digest() == ping["digest"])[1], 10.0), k
                assert ctl.resume().ok
    finally:
        for b in busy:
            b.kill()
            b.wait()


def test_the_digest_from_raw_frames_alone_equals_the_servers():
    """A plain SUB socket keeps the last summary and fields frames by topic; hashing them as the protocol
    says (no JSON parsed) gives the digest that ping returns."""
    import hashlib
    import struct

    import zmq

    with ServerThread(heartbeat_s=0.1) as s, s.client(role="operator") as ctl:
        assert ctl.connect(5.0)
        sub = zmq.Context.instance().socket(zmq.SUB)
        sub.setsockopt(zmq.LINGER, 0)
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        sub.connect(s.state_ep)
        try:
            last: dict[bytes, list[bytes]] = {}

            def read_until_heartbeat(timeout_s: float) -> bool:
                """Keep the newest frames of each topic until a heartbeat (nothing else was due then)."""
                deadline = time.monotonic() + timeout_s
                while time.monotonic() < deadline:
                    if sub.poll(100):
                        topic, *frames = sub.recv_multipart()
                        if topic == b"heartbeat":
                            return True
                        last[topic] = frames
                return False

            def read_some() -> bool:
                while sub.poll(0):
                    topic, *frames = sub.recv_multipart()
                    last[topic] = frames
                return b"summary" in last and b"fields" in last

            assert wait_until(read_some, 10.0)  # subscribed, and both kinds came since
            assert ctl.pause().ok
            ping = ctl.ping().result
            assert read_until_heartbeat(5.0)
            h = hashlib.sha256()
            for topic in (b"summary", b"fields"):
                frames = last.get(topic, [])
                h.update(struct.pack("<Q", len(frames)))
                for f in frames:
                    h.update(struct.pack("<Q", len(f)) + f)
            assert b"summary" in last and b"fields" in last
            assert h.hexdigest() == ping["digest"]
        finally:
            sub.close()
