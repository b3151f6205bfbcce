"""Keel's eval suite: datasets of account scenarios, deterministic scorers, a runner.

``keel eval`` seeds a synthetic book in a temporary workspace, builds each scenario on it
(:mod:`evals.workspace`), runs the real review graph (:mod:`evals.collect`), scores what
came out (:mod:`evals.scorers`), and writes JSON and HTML reports (:mod:`evals.report`),
compared with an earlier run (:mod:`evals.compare`) and held to a gate (:mod:`evals.gate`).
Nothing below ``evals`` imports it.
"""
