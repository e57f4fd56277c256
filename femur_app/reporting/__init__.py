"""Reporting: a run's outputs rendered from its evaluation (``outputs.render``: predictions.csv, metrics.json,
folds.csv, the figures - every one through ``plots.save_figure`` - and report.md), a repeated run's summary and the
comparison of several models. Nothing here computes a result."""
