"""The [power] section of hall files: bundled chains as documented; bad references and placements are one
HallError line naming the file, the key path and what is allowed."""

from __future__ import annotations

import numpy as np
import pytest

from tests.halls import bad_hall
from twin.electrical import PowerNetwork, chiller_cop, solve_power
from twin.model import HallError, bundled_hall, load_hall


def _error(path) -> str:
    with pytest.raises(HallError) as info:
        load_hall(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{path}: ")
    return message


def test_reference_has_a_2n_chain():
    """reference.toml: UPS-A and UPS-B each rated for the whole IT load with 5–15 min of battery at it;
    every row fed by two PDUs on different UPSs; PDUs stand in the hall among the racks."""
    hall = bundled_hall("reference")
    power = hall.spec.power
    assert [u.name for u in power.ups] == ["UPS-A", "UPS-B"]
    it_kw = hall.it_w / 1e3
    for ups in power.ups:
        assert 1.05 * it_kw <= ups.rated_kva <= 1.5 * it_kw
        assert 5.0 <= ups.battery_kwh / (1.1 * it_kw) * 60.0 <= 15.0  # minutes at IT + chain losses
    ups_of = {p.name: p.ups for p in power.pdus}
    assert {f.row for f in power.rack_feeds} == {r.name for r in hall.spec.rows}
    assert all(ups_of[f.feed_a] != ups_of[f.feed_b] for f in power.rack_feeds)
    assert len(hall.pdus) == 2 * len(hall.spec.rows)
    assert power.transformer.rated_kva >= 1.3 * it_kw and power.generator.rated_kva >= 1.3 * it_kw


def test_large_has_n_plus_1_transformers_and_a_2n_chain_per_block():
    """large.toml: five 2500 kVA transformers in parallel, any four of which carry the hall at its design
    load (IT, the chain's losses, chillers, fans, pumps); a UPS pair per block, each UPS rated for its
    block's IT load; every row fed by two PDUs on the two UPSs of its own block."""
    hall = bundled_hall("large")
    power = hall.spec.power
    assert power is not None and power.transformers is not None
    units = power.transformer_units
    assert len(units) == 5 and all(t.in_service for t in units)
    net = PowerNetwork(hall)
    it = np.array([r.it_w for r in hall.racks])
    res = solve_power(net, it, crah_fan_w=np.full(len(net.crah_names), 0.04 * it.sum() / len(net.crah_names)),
                      chiller_w=it.sum() / chiller_cop(power.cooling_plant), pump_w=power.cooling_plant.pump_kw * 1e3)
    s_kva = res.transformer_unit_load_fraction * net.transformer_unit_rated_va / 1e3
    assert s_kva.sum() <= 4 * units[0].rated_kva  # N+1
    assert np.allclose(res.transformer_unit_load_fraction, res.transformer_load_fraction, rtol=1e-12)  # like units
    ups_of = {p.name: p.ups for p in power.pdus}
    for f in power.rack_feeds:
        block = f.row[0]
        assert {ups_of[f.feed_a], ups_of[f.feed_b]} == {f"UPS-{block}A", f"UPS-{block}B"}
    for ups in power.ups:
        block_kw = sum(r.it_w for r in hall.racks if r.row.startswith(ups.name[-2])) / 1e3
        assert 1.05 * block_kw <= ups.rated_kva <= 1.5 * block_kw
    assert np.all(res.ups_load_fraction < 0.6) and np.all(res.pdu_load_fraction < 1.0)
    assert power.generator.rated_kva >= 1.3 * it.sum() / 1e3
    assert abs(res.balance_w()) < 1e-11 * res.facility_w


@pytest.mark.parametrize(
    ("edit", "key", "rule"),
    [
        (('ups = "UPS-A"', 'ups = "UPS-C"'), "power.pdus[0].ups", "no UPS named 'UPS-C'; allowed: UPS-A, UPS-B"),
        (('feed_a = "PDU-A"', 'feed_a = "PDU-X"'), "power.rack_feeds[0].feed_a", "no PDU named 'PDU-X'; allowed: PDU-A, PDU-B"),
        (('feed_b = "PDU-B"', 'feed_b = "PDU-A"'), "power.rack_feeds[0].feed_b", "same PDU"),
        (('row = "A"', 'row = "Z"'), "power.rack_feeds[0].row", "no row named 'Z'; allowed: A"),
        (("position_m = [3.5, 2.5]", "position_m = [2.5, 2.5]"), "power.pdus[1]", "'PDU-B' overlaps 'A04'"),
        (("position_m = [3.5, 2.5]", "position_m = [5.8, 2.5]"), "power.pdus[1].position_m", "outside the room"),
        (('name = "UPS-B"', 'name = "UPS-A"'), "power.ups[1].name", "already used"),
        (("rated_kva = 30.0\nkind = \"panel\"", "rated_kva = -30.0\nkind = \"panel\""), "power.pdus[1].rated_kva",
         "greater than 0"),
        (('kind = "panel"', 'kind = "panel"\nload_loss_w = 100.0'), "power.pdus[1]", "'panel' PDU has no transformer"),
        (("sc_mva = 100.0", "sc_mva = 100.0\nvoltage = 3"), "power.utility.voltage", "unknown key; allowed keys here: mv_kv"),
    ],
    ids=["pdu-ups", "feed-a", "same-pdu", "row", "pdu-overlaps-rack", "pdu-outside", "ups-name", "rating",
         "panel-losses", "unknown-key"],
)
def test_bad_power_section(tmp_path, edit, key, rule):
    """Each kind of mistake in [power] is named with its key path and the rule."""
    message = _error(bad_hall(tmp_path, edit))
    assert f": {key}" in message and rule in message, message


def test_row_without_feeds(tmp_path):
    """A row that no rack_feeds entry names is an error on the row."""
    text = '[[power.rack_feeds]]  # row A\'s A and B feeds (the PDUs are in the [power] section at the end)\n'
    message = _error(bad_hall(tmp_path, (text + 'row = "A"\nfeed_a = "PDU-A"\nfeed_b = "PDU-B"\n', "")))
    assert ": rows[0]: row 'A' has no entry in power.rack_feeds (every row needs feed_a and feed_b)" in message
