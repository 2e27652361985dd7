"""Late joiners (the Clone pattern): snapshot + newer updates give a client exactly the server's state."""

from __future__ import annotations

import time

from tests.bus.conftest import ServerThread, wait_until


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
            assert c.digest() == s.server.digest()


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
