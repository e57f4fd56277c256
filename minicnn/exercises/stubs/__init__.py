"""The exercises' starting files (see ``minicnn.exercises``): copy one with ``python -m minicnn.exercises start``."""
