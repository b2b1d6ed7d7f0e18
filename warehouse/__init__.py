"""The DuckDB warehouse: schema, migrations and every SQL statement webtext runs."""

from webtext.warehouse.connection import WarehouseBusy, connect, transaction

__all__ = ["WarehouseBusy", "connect", "transaction"]
