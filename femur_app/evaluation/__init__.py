"""Evaluation: metrics with confidence intervals, calibration, DeLong's test, Grad-CAM and the gallery, and a trained
model applied to new images (``inference``)."""
