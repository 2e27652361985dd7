"""Where the power chain's losses become heat: in the hall (racks, PDUs, rack feed cables) or outside it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twin.electrical.solve import PowerResult

__all__ = ["LossLocations", "loss_locations"]


@dataclass(frozen=True)
class LossLocations:
    """Heat released by the chain, W.

    In the hall: ``rack_w`` (PSU losses, into each rack's air stream, ``net.rack_names`` order),
    ``rack_feed_cable_w`` (feed cables, at each rack: overhead or under the floor along its row) and
    ``pdu_w`` (PDU losses, at each PDU cabinet, ``net.pdu_names`` order). Outside (plant room, substation):
    ``outside_w`` by kind. Mechanical loads (fans, chillers, pumps) are not losses of the chain and are
    not here; IT power becomes heat in the racks as the thermal model already knows.
    """

    rack_w: np.ndarray
    rack_feed_cable_w: np.ndarray
    pdu_w: np.ndarray
    outside_w: dict[str, float]

    @property
    def hall_w(self) -> float:
        return float(self.rack_w.sum() + self.rack_feed_cable_w.sum() + self.pdu_w.sum())

    @property
    def outside_total_w(self) -> float:
        return float(sum(self.outside_w.values()))


def loss_locations(result: PowerResult) -> LossLocations:
    """Split the losses of one solve by where they stand."""
    return LossLocations(
        rack_w=result.psu_loss_w,
        rack_feed_cable_w=result.rack_feed_cable_loss_w,
        pdu_w=result.pdu_loss_w,
        outside_w={
            "ups": float(result.ups_loss_w.sum()),
            "ups_input_cables": float(result.ups_cable_loss_w.sum()),
            "ups_to_pdu_cables": float(result.pdu_cable_loss_w.sum()),
            "mechanical_cable": result.mechanical_cable_loss_w,
            "transformer": result.transformer_loss_w,
        },
    )
