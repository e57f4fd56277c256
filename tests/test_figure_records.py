"""Every number that docs/batchnorm.md (section 2.8) and docs/bn_dynamics.md quote from a figure's run, asserted
from the committed records - docs/figures/figures.json (docs/make_figures.py) and docs/figures/bn_experiment.json
(docs/bn_experiment.py) - so that the prose and the record cannot drift apart. (The asserts used to sit in the
chapters' reading path; they live here now.) Nothing is trained here.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "docs" / "figures"


@pytest.fixture(scope="module")
def record():
    return json.loads((FIGURES / "figures.json").read_text())


@pytest.fixture(scope="module")
def experiment():
    return json.loads((FIGURES / "bn_experiment.json").read_text())


# --- docs/batchnorm.md, section 2.8 ----------------------------------------------------------------------------------
def test_chapter_2_8_settings(record):
    settings = record["settings"]
    assert {k: settings[k] for k in ("n", "n_malignant", "synthetic_seed", "input_size", "width", "held_out", "epochs",
                                     "batch_size", "lr", "momentum", "dropout", "l2", "init_std", "augmentation",
                                     "seed", "probe_epochs", "probe_size")} == {
        "n": 500, "n_malignant": 165, "synthetic_seed": 0, "input_size": 64, "width": 0.125, "held_out": 0.25,
        "epochs": 40, "batch_size": 32, "lr": 0.01, "momentum": 0.9, "dropout": 0.6, "l2": 1e-4, "init_std": 0.01,
        "augmentation": "none", "seed": 0, "probe_epochs": [0, 5, 40], "probe_size": 64}
    assert (record["batchnorm"]["n_train"], record["batchnorm"]["n_held_out"]) == (375, 125)
    from femur_app.models import alexnet_bn

    small = alexnet_bn(rng=np.random.default_rng(0), width=0.125, input_size=64)
    assert [small.find(f"conv{k}").out_channels for k in range(1, 6)] == [12, 32, 48, 48, 32]
    assert small.find("fc6").out_features == small.find("fc7").out_features == 512


def test_chapter_2_8_histograms(record):
    runs = record["batchnorm"]["runs"]
    probes = {name: run["probes"] for name, run in runs.items()}  # epoch -> mode -> array -> mean, std, min, max, ...
    std = {name: {(epoch, mode, key): numbers["std"] for epoch, modes in probe.items() for mode, arrays in modes.items()
                  for key, numbers in arrays.items()} for name, probe in probes.items()}
    a, b = std["AlexNet"], std["AlexNet-BN"]
    epochs, modes = ("0", "5", "40"), ("train", "eval")
    # without BN: the same numbers at every epoch, both modes; conv1's weights move by 0.2%
    assert {round(a[e, m, "conv1_output"], 3) for e in epochs for m in modes} == {0.112}
    assert {round(a[e, m, "conv2_output"], 4) for e in epochs for m in modes} == {0.0177}
    assert round(100 * runs["AlexNet"]["conv_weight_relative_change"]["conv1"], 1) == 0.2
    extremes = {epoch: (probes["AlexNet"][epoch]["train"]["conv1_output"]["min"],
                        probes["AlexNet"][epoch]["train"]["conv1_output"]["max"]) for epoch in ("0", "40")}
    assert extremes == {"0": (-1.014, 0.502), "40": (-1.012, 0.495)}
    # with BN: conv1's raw output grows, BN's training-mode output stays at 1
    assert a["0", "train", "conv1_output"] == b["0", "train", "conv1_output"]          # the same weights at the start
    assert [round(b[e, "train", "conv1_output"], 3) for e in ("0", "5")] == [0.112, 0.213]
    assert round(b["40", "train", "conv1_output"], 2) == 1.86
    conv1_40 = probes["AlexNet-BN"]["40"]["train"]["conv1_output"]
    assert (round(conv1_40["min"], 1), round(conv1_40["max"], 1)) == (-14.5, 16.7)
    assert round(runs["AlexNet-BN"]["conv_weight_relative_change"]["conv1"]) == 6
    assert (round(b["0", "train", "conv2_output"], 3), round(b["40", "train", "conv2_output"], 3)) == (0.191, 0.922)
    assert all(round(b[e, "train", f"relu{k}_input"], 2) == 1.00 for e in epochs for k in (1, 2))
    assert all(0.45 < probes["AlexNet-BN"][e]["train"][f"relu{k}_input"]["positive_fraction"] < 0.55
               for e in epochs for k in (1, 2))
    assert round(probes["AlexNet-BN"]["40"]["train"]["relu1_input"]["mean"], 3) == -0.053
    # evaluation mode: the raw output before training, narrower after epoch 5, close after epoch 40
    assert (b["0", "eval", "relu1_input"], b["0", "eval", "relu2_input"]) == (a["0", "train", "conv1_output"],
                                                                             a["0", "train", "conv2_output"])
    assert (round(b["5", "eval", "relu1_input"], 3), round(b["5", "eval", "relu2_input"], 3)) == (0.928, 0.892)
    assert (round(b["40", "eval", "relu1_input"], 3), round(b["40", "eval", "relu2_input"], 3)) == (0.969, 0.932)


def test_chapter_2_8_curves(record):
    runs = record["batchnorm"]["runs"]
    plain, with_bn = runs["AlexNet"], runs["AlexNet-BN"]
    assert (plain["final"]["train_acc"], plain["final"]["held_acc"], plain["best_held_acc"]) == (0.669, 0.672, 0.672)
    assert {round(a, 3) for a in plain["history"]["train_acc"][1:]} == {0.669}
    assert {round(a, 3) for a in plain["history"]["held_acc"]} == {0.672}
    assert round(1 - record["batchnorm"]["held_out_malignant_fraction"], 3) == 0.672
    curve = with_bn["history"]
    assert all(round(a, 3) == 0.669 for a in curve["train_acc"][1:13]) and round(curve["train_acc"][13], 3) != 0.669
    assert with_bn["first_epoch_train_acc_above_0.8"] == 22
    assert (with_bn["final"]["train_acc"], with_bn["final"]["held_acc"], with_bn["best_held_acc"]) == (0.947, 0.776,
                                                                                                      0.848)
    assert with_bn["final"]["train_loss"] == round(min(curve["train_loss"]), 3) == 0.141
    assert curve["held_acc"].index(max(curve["held_acc"])) + 1 == 39
    loss = curve["held_loss"][14:]                      # epochs 15-40
    assert (round(min(loss), 3), loss.index(min(loss)) + 15, round(max(loss), 3), loss.index(max(loss)) + 15) == (
        0.431, 26, 0.981, 40)
    below = {epoch + 1: acc for epoch, acc in enumerate(curve["held_acc"]) if acc < 0.672}
    assert len(below) == 4 and (below[16], below[28]) == (0.504, 0.44)
    assert 100 / 125 == 0.8
