"""The bus's ``whatif`` command: a real server and clients on loopback, a real Dask cluster.

What a what-if answers must be what ``twin sweep --from`` answers from a checkpoint of the same
moment; while it runs the twin goes on stepping; one runs at a time; only engineers may start one;
a cluster that cannot be reached costs a failed event, not the server.
"""

from __future__ import annotations

import json
import math
import os
import time

import pytest

from tests.bus.conftest import free_ports, wait_until
from tests.sim.runs import twin_cli
from twin.bus.whatif import WORKER_NICE
from twin.sweep.report import read_rows


def _live(srv, role: str):
    c = srv.client(role=role, name=f"test-{role}", topics=("summary", "event", "heartbeat"))
    assert c.connect(10.0), f"the {role} client did not connect"
    return c


def test_whatif_needs_role_engineer(server_thread):
    """Operators and observers get the usual refusal, naming the role needed; nothing starts."""
    with server_thread() as srv:
        for role in ("observer", "operator"):
            with _live(srv, role) as c:
                r = c.whatif("crah")
                assert r.status == "denied"
                assert r.reason == f"whatif needs role engineer; this client is {role}"
        assert srv.server.whatif.running is None and not srv.server.whatif.recent


def test_whatif_arguments_are_checked_before_anything_starts(server_thread):
    """A set that is not one, a duration out of range, and a hall part the hall lacks: one clear reply each."""
    from tests.halls import hall_from, tiny_dict

    with server_thread() as srv, _live(srv, "engineer") as c:
        r = c.whatif("n-2")
        assert (r.status, r.reason) == ("invalid", "args.set must be one of crah, ups, pdu, feed, all")
        r = c.whatif("crah", duration_s=-5)
        assert r.status == "out_of_range" and "duration_s must be within (0, 86400] s" in r.reason
        r = c.request("whatif", {"set": "crah", "duration_s": "10min"})
        assert (r.status, r.reason) == ("invalid", "args.duration_s must be a number")
        assert srv.server.whatif.running is None
    with server_thread(hall=hall_from(tiny_dict(power=False))) as srv, _live(srv, "engineer") as c:
        r = c.whatif("ups")
        assert r.status == "invalid" and "no [power] section" in r.reason, r.reason
        assert srv.server.whatif.running is None


def test_unreachable_cluster_gives_a_failed_event_and_the_twin_runs_on(server_thread):
    """A scheduler nobody listens on: the what-if fails with the reason, in an event; the server keeps
    stepping and takes the next what-if (it is not left 'running')."""
    (port,) = free_ports(1)
    address = f"tcp://127.0.0.1:{port}"
    with server_thread(scheduler=address, whatif_connect_timeout_s=1.0, speed=50.0) as srv, \
            _live(srv, "engineer") as c:
        r = c.whatif("crah")
        assert r.status == "ok", r.reason
        body = c.wait_whatif(r.result["whatif"], timeout_s=30.0)
        assert body["state"] == "failed"
        assert str(port) in body["reason"], body["reason"]
        t0 = srv.server.state.time_s
        assert wait_until(lambda: srv.server.state.time_s > t0 + 5, 10.0), "the twin stopped stepping"
        again = c.whatif("crah")
        assert again.status == "ok", again.reason  # not refused as still running
        assert c.wait_whatif(again.result["whatif"], timeout_s=30.0)["state"] == "failed"
        # A client that joins later finds both in its snapshot (a what-if's result is no audit record).
        with _live(srv, "observer") as late:
            assert list(late.whatifs) == [r.result["whatif"], again.result["whatif"]]
            assert all(w["state"] == "failed" and str(port) in w["reason"] for w in late.whatifs.values())


@pytest.mark.slow
def test_whatif_equals_twin_sweep_from_a_checkpoint_and_the_twin_keeps_stepping(server_thread, tmp_path):
    """Paused at a moment, the twin's checkpoint and a what-if fork the same state: the what-if's
    event (and its cases.parquet) equal `twin sweep --n-1 crah --from` that checkpoint to 1e-9, on the
    LocalCluster the server started at the first what-if. The reply comes at once; a second what-if is
    refused while the first runs; the solver steps on meanwhile; the cluster closes with the server."""
    run_dir = tmp_path / "run"
    with server_thread(checkpoint_path=tmp_path / "live.npz", out_dir=run_dir, whatif_workers=1,
                       speed=50.0) as srv, _live(srv, "engineer") as eng:
        assert eng.pause().ok
        ck = eng.checkpoint()
        assert ck.ok, ck.reason
        t_fork = ck.result["time_s"]
        sent = time.monotonic()
        r = eng.whatif("crah", timeout_s=5.0)
        reply_s = time.monotonic() - sent
        assert r.status == "ok", r.reason
        assert r.result["cases"] == 2 and r.result["fork_time_s"] == t_fork and r.result["mode"] == "steady"
        wid = r.result["whatif"]
        assert reply_s < 2.0  # (the cluster alone takes longer to start)
        second = eng.whatif("all")
        assert second.status == "interlock" and wid in second.reason, second.reason
        assert eng.resume().ok
        # The twin steps on while the what-if runs (its cluster starting, its cases solving).
        t_start = srv.server.state.time_s
        assert wait_until(lambda: srv.server.state.time_s >= t_start + 20, 20.0)
        assert srv.server.whatif.running is not None and srv.server.whatif.running.id == wid, \
            "the what-if ended before the twin could be seen stepping"
        body = eng.wait_whatif(wid, timeout_s=180.0)
        assert body["state"] == "done", body
        assert srv.server.state.time_s > t_start + 20
        cluster = srv.server.whatif._cluster
        assert cluster is not None and len(cluster.workers) == 1
        # Its worker gives way to the live twin on a busy machine.
        (pid,) = srv.server.whatif._client.run(os.getpid).values()
        assert os.getpriority(os.PRIO_PROCESS, pid) >= WORKER_NICE
        address = cluster.scheduler_address
        # `twin sweep` from the checkpoint of the same moment, on the same cluster.
        proc = twin_cli("sweep", "tiny", "--n-1", "crah", "--from", tmp_path / "live.npz", "--json",
                        "--out", tmp_path / "cli", "--scheduler", address, timeout_s=180.0)
        assert proc.returncode == 0, proc.stderr
    assert "closed" in str(cluster.status).lower()  # the server's own cluster ends with it

    summary = json.loads(proc.stdout)
    cli = {row["case"]: row for row in read_rows(tmp_path / "cli" / "cases.parquet")}
    assert body["verdict"] == summary["verdict"]
    assert body["fork_time_s"] == t_fork and body["set"] == "crah" and body["cases_total"] == 2
    assert sorted(row["case"] for row in body["rows"]) == sorted(cli)
    for row in body["rows"]:
        ref = cli[row["case"]]
        assert (row["status"], row["reason"]) == (ref["status"], ref["reason"])
        for key in ("max_inlet_c", "worst_load_fraction", "max_feed_load_fraction"):
            a, b = row.get(key), ref.get(key)
            if b is None or (isinstance(b, float) and math.isnan(b)):
                assert a is None, (key, a, b)
            else:
                assert a == pytest.approx(b, abs=1e-9, rel=0), (row["case"], key)
        assert row.get("max_inlet_rack") == ref.get("max_inlet_rack")
        assert row["elapsed_s"] >= 0
    ok_rows = [row for row in body["rows"] if row["status"] != "error"]
    assert ok_rows and any(row["status"] == "error" for row in body["rows"])  # tiny without its only CRAH
    # The what-if's own outputs, named in the event, hold every rack's inlet: equal to the CLI's.
    assert body["report"].endswith("report.html") and body["parquet"].endswith("cases.parquet")
    assert body["parquet"].startswith(str(run_dir / "whatif" / wid))
    mine = {row["case"]: row for row in read_rows(run_dir / "whatif" / wid / "cases.parquet")}
    for name, ref in cli.items():
        if ref["status"] != "error":
            assert mine[name]["rack_inlet_c"] == pytest.approx(ref["rack_inlet_c"], abs=1e-9, rel=0)
    assert "<svg" in (run_dir / "whatif" / wid / "report.html").read_text(encoding="utf-8")


@pytest.mark.slow
def test_twin_serve_runs_a_whatif_and_stops_cleanly(tmp_path):
    """`twin serve --whatif-workers 1 --out DIR` as a real process: a what-if of every kind ends with its
    report in DIR/whatif/ID; SIGTERM still stops the server (exit 143) with its cluster."""
    import signal

    from tests.bus.conftest import serve_process

    with serve_process("--speed", "20", "--whatif-workers", "1", out=tmp_path) as (proc, state_ep, commands_ep):
        from twin.bus.client import TwinClient

        with TwinClient(state_ep, commands_ep, role="engineer", topics=("event", "heartbeat")) as c:
            assert c.connect(30.0)
            r = c.whatif("all", timeout_s=10.0)
            assert r.status == "ok" and r.result["cases"] == 14, r.reason  # base, 1 CRAH, 2 UPS, 2 PDU, 8 feeds
            body = c.wait_whatif(r.result["whatif"], timeout_s=240.0)
        assert body["state"] == "done", body
        assert body["verdict"].startswith("N-1 cooling: fails: without CRAH-01")
        assert (tmp_path / "whatif" / body["id"] / "report.html").is_file()
        assert (tmp_path / "whatif" / body["id"] / "fork.npz").is_file()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 143
        assert "twin serve: stopped" in proc.stderr.read()
