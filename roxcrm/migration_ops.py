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
