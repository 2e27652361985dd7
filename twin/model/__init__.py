"""Hall description: schema, loading, validation."""

from twin.model.load import (
    ASSETS_DIR,
    Box,
    CrahSpec,
    HallError,
    HallModel,
    ObstacleSpec,
    PduSpec,
    RackSpec,
    bundled_hall,
    bundled_hall_names,
    hall_path,
    load_hall,
    parse_hall,
)

__all__ = [
    "ASSETS_DIR",
    "Box",
    "CrahSpec",
    "HallError",
    "HallModel",
    "ObstacleSpec",
    "PduSpec",
    "RackSpec",
    "bundled_hall",
    "bundled_hall_names",
    "hall_path",
    "load_hall",
    "parse_hall",
]
