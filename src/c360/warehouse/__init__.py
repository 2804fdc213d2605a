"""The warehouse seam: every warehouse read and write goes through here."""

from c360.warehouse.engine import (
    BatchWriter,
    Warehouse,
    WarehouseError,
    WarehouseLocked,
    connect,
)
from c360.warehouse.runtime import get_warehouse, open_warehouse
from c360.warehouse.schema import JOURNEY_COLUMNS, TABLES

__all__ = [
    "JOURNEY_COLUMNS",
    "TABLES",
    "BatchWriter",
    "Warehouse",
    "WarehouseError",
    "WarehouseLocked",
    "connect",
    "get_warehouse",
    "open_warehouse",
]
