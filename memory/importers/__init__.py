"""Importers: ``keel import PATH`` reads one CSV/JSON export per entity.

The format is documented in docs/import-format.md.
"""

from memory.importers.report import FileRead, ImportReport, Written
from memory.importers.run import import_path
from memory.importers.write import ProgressFn

__all__ = ["FileRead", "ImportReport", "ProgressFn", "Written", "import_path"]
