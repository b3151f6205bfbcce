"""Outbound delivery: the adapters only the executor may call, and the executor itself.

Agents never import from here; the review graph's executor node calls
:func:`keel.tools.outbound.executor.execute_action` with adapters from
:func:`keel.tools.outbound.factory.adapters_from_settings`.
"""
