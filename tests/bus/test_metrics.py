"""`twin serve --metrics`: a real server scraped over HTTP, parsed with prometheus_client's OpenMetrics parser,
its values checked against the summary a bus client holds; the bus's bind rule; the shipped Grafana dashboard."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from tests.bus.conftest import endpoints, free_ports, serve_process, wait_until
from tests.sim.runs import REPO, TINY, twin_main
from twin.bus.client import TwinClient

OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"


def scrape(url: str) -> tuple[str, dict[str, dict[tuple, float]], dict]:
    """GET url asking for OpenMetrics; returns (content type, {sample name: {labels: value}}, families)."""
    request = urllib.request.Request(url, headers={"Accept": OPENMETRICS})
    with urllib.request.urlopen(request, timeout=10) as response:
        content_type, text = response.headers["Content-Type"], response.read().decode("utf-8")
    samples: dict[str, dict[tuple, float]] = {}
    families = {}
    for family in text_string_to_metric_families(text):  # raises on anything that is not OpenMetrics
        families[family.name] = family
        for s in family.samples:
            samples.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return content_type, samples, families


@pytest.fixture(scope="module")
def paused_tripped_twin(tmp_path_factory):
    """`twin serve tiny.toml --metrics` at max speed with its CRAH tripped at 60 s, paused after 5 min
    by a client: (the client's last summary, the metrics URL)."""
    tmp = tmp_path_factory.mktemp("metrics")
    scenario = tmp / "trip.toml"
    scenario.write_text('[scenario]\nname = "trip"\n[[events]]\nat = "60s"\nkind = "crah_trip"\n'
                        'target = "CRAH-01"\n', encoding="utf-8")
    (port,) = free_ports(1)
    url = f"http://127.0.0.1:{port}/metrics"
    with serve_process("--metrics", f"127.0.0.1:{port}", "--speed", "max", "--scenario", str(scenario),
                       out=tmp / "out") as (proc, state_ep, commands_ep):
        with TwinClient(state_ep, commands_ep, role="operator", name="metrics-test") as client:
            assert client.connect(timeout_s=30), proc.stderr.read() if proc.poll() is not None else "no snapshot"
            assert wait_until(lambda: (client.poll(0.05), (client.summary or {}).get("clock", {})
                                       .get("time_s", 0) >= 300)[1], 60)
            assert client.pause().ok
            assert wait_until(lambda: (client.poll(0.05), client.summary["clock"]["paused"])[1], 10)
            client.poll(0.3)  # nothing newer comes while paused
            summary = client.summary
            yield summary, url, scrape(url)
        proc.terminate()
        _, stderr = proc.communicate(timeout=30)
        assert f"metrics {url}" in stderr


def _value(samples, name: str, **labels) -> float:
    return samples[name][tuple(sorted(labels.items()))]


def test_scrape_is_openmetrics_with_units(paused_tripped_twin):
    """The endpoint answers in OpenMetrics when asked, with each family's unit declared."""
    content_type, samples, families = paused_tripped_twin[2]
    assert content_type.startswith("application/openmetrics-text")
    assert families["datahall_rack_inlet_celsius"].unit == "celsius"
    assert families["datahall_crah_heat_removed_watts"].unit == "watts"
    assert families["datahall_ups_state_of_charge_ratio"].unit == "ratio"
    assert families["datahall_rack_inlet_celsius"].type == "gauge"


def test_metrics_equal_the_bus_summary(paused_tripped_twin):
    """Racks (with their row), the CRAH (tripped: not running, no fan), UPS, PDU, PUE and the solver's
    real-time factor carry the values of the summary a bus client holds for the same paused state."""
    summary, _, (_, samples, _) = paused_tripped_twin
    racks, crahs, ups = summary["racks"], summary["crahs"], summary["ups"]
    assert summary["clock"]["time_s"] >= 300
    for i, name in enumerate(racks["name"]):
        assert _value(samples, "datahall_rack_inlet_celsius", rack=name, row="A") == racks["t_inlet_c"][i]
        assert _value(samples, "datahall_rack_it_load_watts", rack=name, row="A") == racks["it_load_w"][i]
    assert len(samples["datahall_rack_inlet_celsius"]) == len(racks["name"]) == 4
    for metric, key in (("crah_supply_celsius", "t_supply_c"), ("crah_return_celsius", "t_return_c"),
                        ("crah_fan_speed_ratio", "fan_speed"), ("crah_valve_ratio", "valve"),
                        ("crah_supply_setpoint_celsius", "supply_setpoint_c")):
        assert _value(samples, f"datahall_{metric}", crah="CRAH-01") == crahs[key][0], metric
    assert _value(samples, "datahall_crah_tripped", crah="CRAH-01") == 1.0 == float(crahs["tripped"][0])
    assert _value(samples, "datahall_crah_running", crah="CRAH-01") == 0.0
    assert _value(samples, "datahall_crah_fan_speed_ratio", crah="CRAH-01") == 0.0
    for i, name in enumerate(ups["name"]):
        assert _value(samples, "datahall_ups_load_ratio", ups=name) == ups["load_fraction"][i]
        assert _value(samples, "datahall_ups_state_of_charge_ratio", ups=name) == ups["soc"][i]
    pue = _value(samples, "datahall_pue_ratio")
    assert pue == summary["hall"]["pue"] and 1.0 < pue < 3.0
    clock = summary["clock"]
    assert _value(samples, "datahall_solver_realtime_factor") == pytest.approx(clock["dt_s"] * 1e3 / clock["step_ms"])
    assert _value(samples, "datahall_simulated_time_seconds") == clock["time_s"]
    assert _value(samples, "datahall_paused") == 1.0


def test_alarms_are_counted_by_priority_and_state(paused_tripped_twin):
    """datahall_alarms{priority,state} counts the summary's active and shelved alarms; the trip is among them."""
    summary, _, (_, samples, _) = paused_tripped_twin
    active = summary["alarms"]["active"]
    assert any(a["name"].startswith("CRAH-01") for a in active)
    counted = {dict(k)["priority"] + "/" + dict(k)["state"]: v for k, v in samples["datahall_alarms"].items()}
    assert len(counted) == 16  # every priority × state, zeros included, so that Grafana's sums see no gaps
    expected: dict[str, int] = {}
    for a in active + summary["alarms"]["shelved"]:
        expected[f"{a['priority']}/{a['state']}"] = expected.get(f"{a['priority']}/{a['state']}", 0) + 1
    assert {k: v for k, v in counted.items() if v} == expected


def test_grafana_dashboard_queries_only_exported_metrics(paused_tripped_twin):
    """assets/grafana/datahall.json is a dashboard whose every query names metrics the endpoint exports."""
    _, _, (_, samples, _) = paused_tripped_twin
    dashboard = json.loads((REPO / "assets" / "grafana" / "datahall.json").read_text(encoding="utf-8"))
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    used = {name for expr in exprs for name in re.findall(r"\bdatahall_[a-z0-9_]+", expr)}
    assert {"datahall_rack_inlet_celsius", "datahall_pue_ratio", "datahall_alarms"} <= used
    assert used <= set(samples), sorted(used - set(samples))
    assert dashboard["title"] and dashboard["schemaVersion"] >= 30


@pytest.mark.parametrize(("args", "said"), [
    (("--metrics", "0.0.0.0:9108"), "refusing to serve metrics on 0.0.0.0:9108"),
    (("--metrics", "127.0.0.1:9108", "--metrics-tls", "/nonexistent"), "missing metrics.crt"),
    (("--metrics", "9108"), "give HOST:PORT"),
])
def test_metrics_bind_follows_the_bus_rule(args, said, capsys):
    """Off loopback without TLS, or with an incomplete TLS folder, serve refuses in one line and exits 2
    (`twin serve` run in process: the refusal comes before the hall is built or anything binds)."""
    state_ep, commands_ep = endpoints()
    proc = twin_main(capsys, "serve", TINY, "--state", state_ep, "--commands", commands_ep, *args)
    assert proc.returncode == 2 and said in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr


def _openssl(*args: str, cwd) -> None:
    import subprocess

    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _make_tls(folder) -> None:
    """A throwaway CA, the endpoint's certificate for 127.0.0.1 and a scraper's client certificate."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "clients-ca.crt", "-days", "1", "-subj", "/CN=test CA",
             cwd=folder)
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n", encoding="ascii")
    for name, ext in (("metrics", ["-extfile", "san.ext"]), ("scraper", [])):
        _openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=folder)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "clients-ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                 "-out", f"{name}.crt", "-days", "1", *ext, cwd=folder)


def test_metrics_off_loopback_need_a_client_certificate(tmp_path, paused_tripped_twin):
    """With --metrics-tls the endpoint binds every interface and speaks TLS; a scraper with a certificate from
    the clients' CA reads the metrics, one without is refused in the handshake."""
    import ssl

    from twin.bus.metrics import SummaryCollector, start_metrics

    _make_tls(tmp_path)
    summary = paused_tripped_twin[0]
    (port,) = free_ports(1)
    server = start_metrics(f"0.0.0.0:{port}", SummaryCollector(lambda: summary, hall="Tiny test hall",
                                                               rack_rows={}), tls_dir=tmp_path)
    try:
        assert server.url == f"https://0.0.0.0:{port}/metrics"
        url = f"https://127.0.0.1:{port}/metrics"
        context = ssl.create_default_context(cafile=str(tmp_path / "clients-ca.crt"))
        context.load_cert_chain(tmp_path / "scraper.crt", tmp_path / "scraper.key")
        request = urllib.request.Request(url, headers={"Accept": OPENMETRICS})
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            text = response.read().decode("utf-8")
        families = {f.name: f for f in text_string_to_metric_families(text)}
        inlet = {s.labels["rack"]: s.value for s in families["datahall_rack_inlet_celsius"].samples}
        assert inlet == dict(zip(summary["racks"]["name"], summary["racks"]["t_inlet_c"]))
        anonymous = ssl.create_default_context(cafile=str(tmp_path / "clients-ca.crt"))
        with pytest.raises((ssl.SSLError, ConnectionError, urllib.error.URLError)):
            with urllib.request.urlopen(url, timeout=10, context=anonymous) as response:
                response.read()
    finally:
        server.close()
