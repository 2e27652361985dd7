"""Loopback by default; anywhere else only with CURVE keys; roles from the client's key."""

from __future__ import annotations

import subprocess

import pytest

from tests.bus.conftest import TWIN, ServerThread, free_ports
from tests.halls import TINY
from tests.sim.runs import twin_main_captured
from twin.bus.client import TwinClient
from twin.bus.security import SecurityError, is_loopback, load_client_keys, load_server_keys, make_keys


@pytest.mark.parametrize("endpoint, loopback", [
    ("tcp://127.0.0.1:5556", True), ("tcp://localhost:1", True), ("tcp://[::1]:5556", True),
    ("ipc:///tmp/x", True), ("tcp://0.0.0.0:5556", False), ("tcp://*:5556", False),
    ("tcp://192.168.1.4:5556", False), ("tcp://eth0:5556", False),
])
def test_is_loopback(endpoint, loopback):
    assert is_loopback(endpoint) is loopback


def test_a_non_loopback_bind_without_keys_refuses_to_start():
    """`twin serve --state tcp://0.0.0.0:…` exits 2 with one line that says what to do."""
    port = free_ports(1)[0]
    p = subprocess.run([str(TWIN), "serve", str(TINY), "--state", f"tcp://0.0.0.0:{port}"], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "refusing to bind" in lines[0] and "twin keys" in lines[0]
    with pytest.raises(SecurityError):
        ServerThread(state_endpoint=f"tcp://0.0.0.0:{port}").server.bind()


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    folder = tmp_path_factory.mktemp("keys")
    p = twin_main_captured("keys", folder, "--client", "ops=operator", "--client", "watch=observer")  # in process
    assert p.returncode == 0, p.stderr
    return folder


def test_curve_clients_get_their_role_from_their_key_and_strangers_get_nothing(keys, tmp_path):
    server_keys = load_server_keys(keys)
    assert set(server_keys.roles.values()) == {"operator", "observer"}
    with ServerThread(keys=server_keys, state_endpoint="tcp://127.0.0.1:%d" % free_ports(1)[0]) as s:
        ops = TwinClient(s.state_ep, s.commands_ep, role="engineer",
                         keys=load_client_keys(keys / "ops.key_secret", keys / "server.key"))
        watch = TwinClient(s.state_ep, s.commands_ep, role="engineer",
                           keys=load_client_keys(keys / "watch.key_secret", keys / "server.key"))
        plain = TwinClient(s.state_ep, s.commands_ep, role="engineer")  # no keys at all
        make_keys(tmp_path, {"mallory": "engineer"})  # a well-formed key the server does not know
        stranger = TwinClient(s.state_ep, s.commands_ep, role="engineer",
                              keys=load_client_keys(tmp_path / "mallory.key_secret", keys / "server.key"))
        try:
            assert ops.connect(10.0) and watch.connect(10.0)
            assert ops.summary is not None and ops.fields is not None
            # The role is the key's, whatever the client claims.
            r = ops.inject({"kind": "crah_trip", "target": "CRAH-01"})
            assert r.status == "denied" and "operator" in r.reason
            assert ops.set_setpoint("CRAH-01.supply_temp_setpoint", 19.0).status == "ok"
            assert watch.set_setpoint("CRAH-01.supply_temp_setpoint", 19.0).status == "denied"
            for c in (plain, stranger):
                assert not c.connect(1.5)
                assert c.summary is None and c.seq == 0 and c.hall is None
        finally:
            for c in (ops, watch, plain, stranger):
                c.close()


def test_keys_refuse_bad_roles_and_names(tmp_path):
    with pytest.raises(SecurityError, match="role"):
        make_keys(tmp_path, {"bob": "root"})
    with pytest.raises(SecurityError, match="name"):
        make_keys(tmp_path, {"../x": "observer"})
    with pytest.raises(SecurityError, match="twin keys"):
        load_server_keys(tmp_path / "missing")
