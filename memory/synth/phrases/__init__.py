"""Phrase banks (sentence templates and vocabulary) for the synthetic book's texts."""
