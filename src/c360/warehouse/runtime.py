"""The process-wide warehouse: opened once, migrated on start, shared by every thread."""

from __future__ import annotations

import threading

from c360.warehouse.engine import Warehouse, connect

_lock = threading.Lock()
_current: Warehouse | None = None


def open_warehouse(url: str) -> Warehouse:
    """Open (and migrate) the warehouse for this process, replacing any previous one."""
    global _current
    with _lock:
        if _current is not None and _current.url != url:
            _current.close()
            _current = None
        if _current is None:
            from c360.config import load

            warehouse = connect(url, memory_limit=load().warehouse_memory)
            warehouse.migrate()
            _current = warehouse
        return _current


def get_warehouse() -> Warehouse:
    """The warehouse of this process, opened from settings on first use."""
    if _current is None:
        from django.conf import settings

        return open_warehouse(settings.C360_WAREHOUSE_URL)
    return _current


def close_warehouse() -> None:
    global _current
    with _lock:
        if _current is not None:
            _current.close()
            _current = None
