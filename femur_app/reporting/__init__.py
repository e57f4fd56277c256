"""Reporting: predictions.csv, a run's outputs and report.md, the figures (every one through ``plots.save_figure``)
and the comparison of several models."""
