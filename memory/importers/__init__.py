"""Importers: ``keel import PATH`` reads one CSV/JSON export per entity.

The format is documented in docs/import-format.md.
"""

from keel.memory.importers.report import FileRead, ImportReport, Written
from keel.memory.importers.run import import_path
from keel.memory.importers.write import ProgressFn

__all__ = ["FileRead", "ImportReport", "ProgressFn", "Written", "import_path"]
