"""OpenMetrics for Prometheus and Grafana beside the bus: `twin serve --metrics 127.0.0.1:9108`.

An adapter like the bus's publisher, and fed by it: a scrape reads the last summary the server
published (the very body clients decode, so a scrape and a bus client agree to the digit) and turns it
into metric families. Nothing runs in the solver's loop: the HTTP server is prometheus_client's, in its
own thread, and the families are built only when Prometheus asks (a few hundred microseconds for 200
racks). The summary is replaced, never changed in place, so the scrape thread reads a whole one.

Names follow Prometheus' conventions: a ``datahall_`` prefix, base units as suffixes (``_celsius``,
``_watts``, ``_seconds``, ``_ratio`` for 0–1), labels for who (``rack``, ``row``, ``crah``, ``ups``,
``pdu``, ``priority``, ``state``)::

    datahall_rack_inlet_celsius{rack="A01",row="A"} 24.1

Where it may listen follows the bus's rule (twin/bus/security.py): loopback by default; any other
address needs credentials, here mutual TLS: ``--metrics-tls DIR`` with ``metrics.crt`` and
``metrics.key`` (the endpoint's certificate and key) and ``clients-ca.crt`` (the CA whose certificates
scrapers must present, as Prometheus' ``tls_config`` does).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twin.bus.security import SecurityError, is_loopback
from twin.control.alarms import PRIORITIES

__all__ = ["METRIC_PREFIX", "MetricsServer", "SummaryCollector", "check_metrics_address", "parse_metrics_address",
           "start_metrics", "summary_metrics"]

METRIC_PREFIX = "datahall"
#: Alarm states counted per priority (ISA-18.2: unacknowledged, acknowledged, returned to normal
#: unacknowledged, shelved); the names are the summary's.
ALARM_STATES = ("UNACK", "ACKED", "RTNUN", "SHELVED")
#: Files of a --metrics-tls folder.
TLS_FILES = {"certfile": "metrics.crt", "keyfile": "metrics.key", "client_cafile": "clients-ca.crt"}


def parse_metrics_address(text: str) -> tuple[str, int]:
    """'127.0.0.1:9108', 'localhost:9108', '[::1]:9108' or ':9108' (every interface) → (host, port)."""
    m = re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[^:\[\]]*):(\d{1,5})", text.strip())
    port = int(m.group(2)) if m else -1
    if not m or not 0 <= port < 65536:  # 0: the kernel picks a free port (the URL printed says which)
        raise SecurityError(f"--metrics {text!r}: give HOST:PORT, e.g. 127.0.0.1:9108")
    return m.group(1).strip("[]") or "0.0.0.0", port


def check_metrics_address(address: str, tls_dir: Path | None = None) -> None:
    """SecurityError (one line) unless ``address`` may serve metrics: checked before anything binds."""
    _check_bind(*parse_metrics_address(address), tls_dir)


def _check_bind(host: str, port: int, tls_dir: Path | None) -> dict[str, str]:
    """The bus's rule for HTTP: loopback, or else mutual TLS; returns the TLS arguments (or none)."""
    if tls_dir is None:
        shown = f"[{host}]" if ":" in host else host
        if not is_loopback(f"tcp://{shown}:{port}"):
            raise SecurityError(f"refusing to serve metrics on {host}:{port}: it is reachable from other machines "
                                f"and no TLS is configured (pass --metrics-tls DIR with "
                                f"{', '.join(TLS_FILES.values())}, or use 127.0.0.1)")
        return {}
    tls_dir = Path(tls_dir)
    missing = [name for name in TLS_FILES.values() if not (tls_dir / name).is_file()]
    if missing:
        raise SecurityError(f"--metrics-tls {tls_dir}: missing {', '.join(missing)} "
                            f"(needs {', '.join(TLS_FILES.values())})")
    return {arg: str(tls_dir / name) for arg, name in TLS_FILES.items()}


class SummaryCollector:
    """A prometheus_client collector over the last published summary.

    Args:
        summary: returns the last summary body as published (or None before the first).
        hall: the hall's name (the ``datahall_info`` metric).
        rack_rows: each rack's row, for the ``row`` label (the summary names racks only).
    """

    def __init__(self, summary: Callable[[], dict | None], *, hall: str, rack_rows: dict[str, str]) -> None:
        self._summary = summary
        self._hall = hall
        self._rack_rows = dict(rack_rows)

    def describe(self) -> list:
        return []  # families depend on the hall (a [power] section adds UPS and PDU): no fixed description

    def collect(self) -> Iterator[Any]:
        summary = self._summary()
        if summary is not None:
            yield from summary_metrics(summary, hall=self._hall, rack_rows=self._rack_rows)


def summary_metrics(summary: dict, *, hall: str, rack_rows: dict[str, str]) -> list[Any]:
    """The metric families of one summary body (twin.bus.views.summary_body's shape, JSON-decoded)."""
    from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily

    out: list[Any] = []

    def per(kind: str, key: str, name: str, doc: str, unit: str, *, labels: Callable[[str], dict] | None = None,
            scale: float = 1.0) -> None:
        table = summary.get(kind) or {}
        values, who = table.get(key), table.get("name") or []
        if values is None:
            return
        label = {"racks": "rack", "crahs": "crah", "pdus": "pdu"}.get(kind, kind)  # "ups" stays

        def label_of(n: str) -> dict:
            return labels(n) if labels is not None else {label: n}

        fam = GaugeMetricFamily(f"{METRIC_PREFIX}_{name}", doc, unit=unit, labels=list(label_of("").keys()))
        for n, v in zip(who, values):
            if v is not None:  # NaN travels as null: no sample is better than a made-up one
                fam.add_metric(list(label_of(n).values()), float(v) * scale)
        out.append(fam)

    def one(name: str, doc: str, unit: str, value: Any) -> None:
        if value is not None:
            fam = GaugeMetricFamily(f"{METRIC_PREFIX}_{name}", doc, unit=unit)
            fam.add_metric([], float(value))
            out.append(fam)

    def rack(n: str) -> dict:
        return {"rack": n, "row": rack_rows.get(n, "")}

    clock = summary.get("clock") or {}
    info = InfoMetricFamily(f"{METRIC_PREFIX}_twin", "The twin being served.")
    info.add_metric([], {"hall": hall, "server": str(clock.get("server") or "")})
    out.append(info)
    one("simulated_time_seconds", "Simulated time of the state.", "seconds", clock.get("time_s"))
    one("state_timestamp_seconds", "Wall time (Unix) when a step last changed the state.", "seconds",
        clock.get("state_wall_time"))
    one("paused", "1 while the twin's clock is paused.", "", clock.get("paused"))
    step_ms, dt_s = clock.get("step_ms"), clock.get("dt_s")
    # How fast the solver could run: simulated seconds per wall second of solving (dt / mean step time).
    one("solver_realtime_factor", "Simulated seconds per wall second the solver takes (dt / mean step time).", "",
        dt_s * 1e3 / step_ms if step_ms and dt_s else None)
    one("solver_step_seconds", "Mean wall time of one solver step.", "seconds",
        step_ms / 1e3 if step_ms is not None else None)
    one("clock_speed_ratio", "Simulated seconds per wall second the clock is set to (absent at max).", "",
        clock.get("speed"))

    per("racks", "t_inlet_c", "rack_inlet_celsius", "Rack inlet air temperature.", "celsius", labels=rack)
    per("racks", "t_exhaust_c", "rack_exhaust_celsius", "Rack exhaust air temperature.", "celsius", labels=rack)
    per("racks", "it_load_w", "rack_it_load_watts", "Rack IT load: the servers' draw after their PSUs.", "watts",
        labels=rack)
    per("racks", "flow_m3s", "rack_airflow_cubic_meters_per_second", "Air drawn through the rack.",
        "cubic_meters_per_second", labels=rack)
    per("racks", "powered", "rack_powered", "1 while at least one of the rack's feeds is live.", "", labels=rack)

    per("crahs", "t_supply_c", "crah_supply_celsius", "CRAH supply air temperature.", "celsius")
    per("crahs", "t_return_c", "crah_return_celsius", "CRAH return air temperature.", "celsius")
    per("crahs", "supply_setpoint_c", "crah_supply_setpoint_celsius", "CRAH supply air setpoint in force.", "celsius")
    per("crahs", "fan_speed", "crah_fan_speed_ratio", "CRAH fan speed, 0–1 of full speed.", "ratio")
    per("crahs", "valve", "crah_valve_ratio", "CRAH chilled-water valve opening, 0–1.", "ratio")
    per("crahs", "heat_removed_w", "crah_heat_removed_watts", "Heat the CRAH's coil removes.", "watts")
    per("crahs", "fan_power_w", "crah_fan_power_watts", "CRAH fan power.", "watts")
    per("crahs", "running", "crah_running", "1 while the CRAH's fans turn.", "")
    per("crahs", "tripped", "crah_tripped", "1 while the CRAH is tripped.", "")
    per("crahs", "powered", "crah_powered", "1 while the CRAH's panel has power.", "")

    per("ups", "load_fraction", "ups_load_ratio", "UPS output over its rating.", "ratio")
    per("ups", "soc", "ups_state_of_charge_ratio", "UPS battery state of charge, 0–1.", "ratio")
    per("ups", "output_w", "ups_output_watts", "UPS output power.", "watts")
    per("ups", "loss_w", "ups_loss_watts", "UPS losses.", "watts")
    per("ups", "battery_w", "ups_battery_watts", "UPS battery power (positive while discharging).", "watts")
    ups = summary.get("ups") or {}
    if ups.get("mode") is not None:
        fam = GaugeMetricFamily(f"{METRIC_PREFIX}_ups_on_battery", "1 while the UPS carries its load from the "
                                "battery.", labels=["ups"])
        for n, mode in zip(ups.get("name") or [], ups["mode"]):
            fam.add_metric([n], float(mode == "on_battery"))
        out.append(fam)
    per("pdus", "load_fraction", "pdu_load_ratio", "PDU load over its rating.", "ratio")
    per("pdus", "input_w", "pdu_input_watts", "PDU input power.", "watts")

    kpis = summary.get("hall") or {}
    one("pue_ratio", "Power usage effectiveness: facility power over IT power (ISO/IEC 30134-2).", "ratio",
        kpis.get("pue"))
    one("it_load_watts", "IT load: the servers' draw after their PSUs.", "watts", kpis.get("it_load_w"))
    one("rack_input_watts", "Power at the racks' inputs: IT load plus PSU losses (PUE's IT).", "watts",
        kpis.get("rack_input_w"))
    one("cooling_power_watts", "Cooling power (CRAH fans, chillers, pumps).", "watts", kpis.get("cooling_power_w"))
    one("facility_power_watts", "Facility power.", "watts", kpis.get("facility_power_w"))
    one("heat_removed_watts", "Heat the CRAHs remove.", "watts", kpis.get("heat_removed_w"))
    one("racks_outside_recommended", "Racks whose inlet is outside ASHRAE's recommended 18–27 °C.", "",
        kpis.get("racks_outside_recommended"))
    one("racks_outside_allowable", "Racks whose inlet is outside their ASHRAE class's allowable range.", "",
        kpis.get("racks_outside_allowable"))
    one("utility_ok", "1 while the utility supply is live.", "", kpis.get("utility_ok"))
    one("on_generator", "1 while the ATS feeds the hall from the generator.", "", kpis.get("on_generator"))

    alarms = summary.get("alarms") or {}
    counts = {(p, s): 0 for p in PRIORITIES for s in ALARM_STATES}
    for a in [*(alarms.get("active") or []), *(alarms.get("shelved") or [])]:
        key = (a.get("priority"), a.get("state"))
        if key in counts:
            counts[key] += 1
    fam = GaugeMetricFamily(f"{METRIC_PREFIX}_alarms", "Alarms by priority and ISA-18.2 state (UNACK, ACKED, "
                            "RTNUN: returned to normal unacknowledged, SHELVED).", labels=["priority", "state"])
    for (p, s), n in counts.items():
        fam.add_metric([p, s], float(n))
    out.append(fam)
    return out


@dataclass
class MetricsServer:
    """The running HTTP endpoint: its URL, and close() to stop it."""

    url: str
    _server: Any
    _thread: threading.Thread

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def start_metrics(address: str, collector: SummaryCollector, *, tls_dir: Path | None = None) -> MetricsServer:
    """Serve ``collector`` at ``http(s)://address/metrics`` in a daemon thread; SecurityError if not allowed."""
    from prometheus_client import CollectorRegistry, start_http_server

    host, port = parse_metrics_address(address)
    tls = _check_bind(host, port, tls_dir)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    try:
        # The TLS files by name (prometheus_client's stubs type each keyword; a **dict of str matches none).
        server, thread = start_http_server(port, addr=host, registry=registry, client_auth_required=bool(tls),
                                           certfile=tls.get("certfile"), keyfile=tls.get("keyfile"),
                                           client_cafile=tls.get("client_cafile"))
    except OSError as exc:
        raise SecurityError(f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}") from None
    shown = f"[{host}]" if ":" in host else host
    return MetricsServer(f"{'https' if tls else 'http'}://{shown}:{server.server_port}/metrics", server, thread)
