"""Keel's eval suite: datasets of account scenarios, deterministic scorers, a runner.

``keel eval`` seeds a synthetic book in a temporary workspace, builds each scenario on it
(:mod:`keel.evals.workspace`), runs the real review graph (:mod:`keel.evals.collect`), scores what
came out (:mod:`keel.evals.scorers`), and writes JSON and HTML reports (:mod:`keel.evals.report`),
compared with an earlier run (:mod:`keel.evals.compare`) and held to a gate
(:mod:`keel.evals.gate`).
Nothing below ``evals`` imports it.
"""
