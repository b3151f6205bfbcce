"""Revision files, one per schema change, named ``NNNN_what.py`` (revision id = file stem)."""
