"""Data files the tools read (package data): the labelled risk and expansion language set."""
