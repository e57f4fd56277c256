"""Worked solutions of the exercises (see ``minicnn.exercises``): read one after trying, with ``--show-solution``."""
