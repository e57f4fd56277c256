"""Evaluation: the results of a run as one value (``run.evaluate -> RunEvaluation``): metrics with confidence
intervals, calibration, the baselines on the same folds (``baselines``), the operating point each fold fixed on
its training cases (``operating_point``), Grad-CAM and the gallery against its baseline maps, the data's facts,
subgroups and failures, the Otsu mask against the true lesion, counterfactual sign tests, the independent test
set; a repeated run's summary (``repeats``); DeLong's test; and a trained model applied to new images
(``inference``). Nothing here writes a file or imports the configuration: every function takes the values it
reads."""
