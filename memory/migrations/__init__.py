"""Keel's schema migrations (Alembic): ``env.py``, the revision template and ``versions/``.

Run them with ``keel db upgrade`` or :func:`keel.memory.migrations.runner.upgrade`; every
process does so on start through :func:`keel.memory.db.init_db`.
"""
