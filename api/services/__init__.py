"""Services: one module per use case, called by every entry point.

The CLI, ``keel serve``, the LangGraph server entry, ``bench/`` and (next) the nightly run,
the chat, web routes and workers call these and nothing below them. A service takes the
application object (:class:`keel.app.App`) and typed inputs, and returns typed results
(pydantic models or dataclasses); it never formats for a terminal or a page.
"""
