"""Importers: ``keel import PATH`` reads one CSV/JSON export per entity.

The format is documented in docs/import-format.md.
"""

from memory.importers.run import FileRead, ImportReport, ProgressFn, Written, import_path

__all__ = ["FileRead", "ImportReport", "ProgressFn", "Written", "import_path"]
