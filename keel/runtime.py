"""Kept for older imports: the application object is :class:`keel.app.App`."""

from keel.app import App, Runtime

__all__ = ["App", "Runtime"]
