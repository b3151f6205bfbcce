"""Account health: the calibrated model, its explanation, flags, ranking and the scoring job.

A regular package (it was a namespace folder without this file), so every tool, including
import-linter, sees its modules.
"""
