"""Migration operations of our own."""

from typing import Any

from django.db import migrations


class CustomValuesIndex(migrations.RunPython):
    """A GIN index on a record table's ``custom_values`` so that filtering by a custom field value
    (``custom_values @> '{"tier": "Gold"}'``) uses an index. PostgreSQL only; SQLite has no such index."""

    def __init__(self, table: str) -> None:
        self.table = table
        self.index = f"{table}_custom_values_gin"
        super().__init__(self._create, self._drop, elidable=False)

    def _create(self, apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(
                f'CREATE INDEX IF NOT EXISTS "{self.index}" ON "{self.table}" USING gin (custom_values jsonb_path_ops)'
            )

    def _drop(self, apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f'DROP INDEX IF EXISTS "{self.index}"')

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        return (f"{self.__class__.__module__}.{self.__class__.__name__}", [self.table], {})


class FillFactor(migrations.RunPython):
    """Leave room in each page of a table whose rows the sync updates again and again (links and their shadows,
    records): an updated row then fits beside the old one, and PostgreSQL's "heap-only" update skips rewriting
    every index of the table, which otherwise costs more than the update itself. New pages follow the setting;
    PostgreSQL only."""

    def __init__(self, table: str, percent: int = 80) -> None:
        self.table = table
        self.percent = percent
        super().__init__(self._set, self._reset, elidable=False)

    def _set(self, apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f'ALTER TABLE "{self.table}" SET (fillfactor = {int(self.percent)})')

    def _reset(self, apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f'ALTER TABLE "{self.table}" RESET (fillfactor)')

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        return (f"{self.__class__.__module__}.{self.__class__.__name__}", [self.table], {"percent": self.percent})
