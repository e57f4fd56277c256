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


# --- docs/bn_dynamics.md: the worked example -------------------------------------------------------------------------
def test_worked_example_is_minicnn_plain_s(record):
    from minicnn import plain

    worked = record["bn_worked"]
    x, g = np.array([1.0, 3.0, 5.0, 7.0]), np.array([0.1, -0.2, 0.3, 0.4])
    y, cache = plain.batchnorm_forward(x.reshape(4, 1), np.array([2.0]), np.array([0.5]), eps=0.0)
    dx, dgamma, dbeta = plain.batchnorm_backward(g.reshape(4, 1), cache)
    assert (worked["mu"], worked["var"]) == (4.0, 5.0)                 # (3) and (4): mean 4, biased variance 20/4
    np.testing.assert_allclose(worked["x_hat"], (x - 4) / np.sqrt(5), atol=1e-6)
    np.testing.assert_allclose(worked["dx"], dx[:, 0], atol=1e-6)
    np.testing.assert_allclose(np.add(np.add(worked["direct"], worked["mean_path"]), worked["var_path"]), dx[:, 0],
                               atol=1e-5)
    assert (worked["dbeta"], worked["dgamma"]) == (0.6, round(float(dgamma[0]), 6))
    assert {round(v, 4) for v in worked["mean_path"]} == {-0.1342}      # the same for every value


# --- docs/bn_dynamics.md: the learning-rate and weight-scale sweeps ---------------------------------------------------
def auc_range(experiment, network, lr=None, scale=1.0):
    """(smallest, largest) held-out AUC after the last epoch over the seeds that did not diverge, and how many did."""
    settings = experiment["settings"]
    lr = settings["scale_lr"] if lr is None else lr
    runs = [experiment["runs"][f"{network}/lr{lr:g}/scale{scale:g}/seed{seed}"] for seed in settings["seeds"]]
    aucs = [run["held_auc"][-1] for run in runs if "diverged_epoch" not in run]
    diverged = sorted(run["diverged_epoch"] for run in runs if "diverged_epoch" in run)
    return (round(min(aucs), 3), round(max(aucs), 3)) if aucs else None, diverged


def test_experiment_settings_and_size(experiment):
    s = experiment["settings"]
    assert (s["width"], s["input_size"], s["n"], s["n_malignant"], s["synthetic_seed"]) == (0.125, 40, 500, 165, 0)
    assert (experiment["n_train"], experiment["n_held_out"]) == (375, 125)
    assert (s["batch_size"], s["momentum"], s["dropout"], s["l2"], s["epochs"], s["init"]) == (16, 0.9, 0.6, 1e-4, 20,
                                                                                               "he")
    assert s["networks"] == ["AlexNet", "AlexNet-BN", "AlexNet-BN-all"] and s["seeds"] == [0, 1, 2]
    assert s["lrs"] == [0.003, 0.01, 0.03, 0.1, 0.3] and (s["scale_lr"], s["scales"]) == (0.01, [0.1, 1.0, 10.0, 100.0])
    assert len(experiment["runs"]) == 72 and experiment["seconds"] == 1780


def test_the_pilots_were_another_data_set_and_seed(experiment):
    pilots = {name: json.loads((FIGURES / name).read_text())
              for name in ("bn_pilot_1.json", "bn_pilot_2.json", "bn_pilot.json")}
    for pilot in pilots.values():
        assert pilot["settings"]["synthetic_seed"] == 1 != experiment["settings"]["synthetic_seed"]
        assert pilot["settings"]["seeds"] == [100] and "note" in pilot
    first, second, third = pilots.values()
    for network in ("AlexNet", "AlexNet-BN"):  # pilot 1: both diverge from 0.1 on
        assert all("diverged_epoch" in first["runs"][f"{network}/lr{lr:g}/scale1/seed100"] for lr in (0.1, 0.3, 1.0))
    bn5 = {key: run for key, run in second["runs"].items() if key.startswith("AlexNet-BN5/")}
    assert all("diverged_epoch" not in bn5[f"AlexNet-BN5/lr0.01/scale{k:g}/seed100"] for k in (10, 100))
    assert "diverged_epoch" in bn5["AlexNet-BN5/lr0.1/scale1/seed100"]
    everywhere = [third["runs"][f"AlexNet-BN-all/lr{lr:g}/scale1/seed100"] for lr in third["settings"]["lrs"]]
    assert not any("diverged_epoch" in run for run in everywhere)
    assert everywhere[-1]["train_loss"][-1] > 1e6                      # rate 1.0: finite, but absurd
    assert all("diverged_epoch" in third["runs"][f"{n}/lr{lr:g}/scale1/seed100"]
               for n in ("AlexNet", "AlexNet-BN") for lr in (0.1, 0.3, 1.0))
    # 20 epochs are enough for all three to learn at the small rate
    assert max(third["runs"][f"{n}/lr0.003/scale1/seed100"]["train_loss"][-1] for n in third["settings"]["networks"]) \
        < 0.25


def test_the_learning_rate_sweep(experiment):
    lows = [auc_range(experiment, n, 0.003)[0][0] for n in ("AlexNet", "AlexNet-BN", "AlexNet-BN-all")]
    highs = [auc_range(experiment, n, 0.003)[0][1] for n in ("AlexNet", "AlexNet-BN", "AlexNet-BN-all")]
    assert (min(lows), max(highs)) == (0.694, 0.823) and not any(auc_range(experiment, n, 0.003)[1] for n in
                                                                 ("AlexNet", "AlexNet-BN", "AlexNet-BN-all"))
    assert auc_range(experiment, "AlexNet", 0.003) == ((0.77, 0.794), [])
    assert auc_range(experiment, "AlexNet", 0.01) == ((0.595, 0.769), [])
    assert auc_range(experiment, "AlexNet-BN", 0.01) == ((0.482, 0.836), [])
    bn_at_001 = sorted(experiment["runs"][f"AlexNet-BN/lr0.01/scale1/seed{s}"]["held_auc"][-1] for s in (0, 1, 2))
    assert bn_at_001[0] < 0.5 < 0.7 < bn_at_001[1]                      # two seeds of three learn
    assert auc_range(experiment, "AlexNet-BN-all", 0.01) == ((0.753, 0.823), [])
    for network in ("AlexNet", "AlexNet-BN"):
        assert auc_range(experiment, network, 0.03) == ((0.5, 0.5), [])
        assert auc_range(experiment, network, 0.3) == (None, [1, 1, 1])
    assert auc_range(experiment, "AlexNet-BN-all", 0.03) == ((0.675, 0.737), [])
    assert auc_range(experiment, "AlexNet", 0.1) == (None, [1, 1, 1])
    assert auc_range(experiment, "AlexNet-BN", 0.1) == ((0.5, 0.5), [2])
    assert auc_range(experiment, "AlexNet-BN-all", 0.1) == ((0.586, 0.687), [])
    assert auc_range(experiment, "AlexNet-BN-all", 0.3) == ((0.488, 0.5), [])


def test_the_weight_scale_sweep(experiment):
    for network in ("AlexNet", "AlexNet-BN"):
        for factor in (10.0, 100.0):
            assert auc_range(experiment, network, scale=factor) == (None, [1, 1, 1])
    assert auc_range(experiment, "AlexNet-BN-all", scale=10.0) == ((0.74, 0.807), [])
    assert auc_range(experiment, "AlexNet-BN-all", scale=100.0) == ((0.72, 0.759), [])
    assert auc_range(experiment, "AlexNet-BN-all", scale=1.0) == ((0.753, 0.823), [])
    losses = {k: [experiment["runs"][f"AlexNet-BN-all/lr0.01/scale{k:g}/seed{s}"]["train_loss"][-1] for s in (0, 1, 2)]
              for k in (1, 10, 100)}
    assert min(losses[10] + losses[100]) > max(losses[1])              # higher training loss after 20 epochs
    assert auc_range(experiment, "AlexNet", scale=0.1) == ((0.5, 0.529), [])
    assert auc_range(experiment, "AlexNet-BN", scale=0.1) == ((0.534, 0.664), [])
    assert auc_range(experiment, "AlexNet-BN-all", scale=0.1) == ((0.673, 0.816), [])


# --- docs/bn_dynamics.md: inside the layers ----------------------------------------------------------------------------
def test_inside_the_layers(record):
    runs, settings = record["dynamics"]["runs"], record["dynamics_settings"]
    assert (settings["input_size"], settings["width"], settings["epochs"], settings["batch_size"], settings["lr"]) == (
        40, 0.125, 16, 16, 0.01)
    assert (record["dynamics"]["n_train"], record["dynamics"]["n_held_out"]) == (240, 80)
    seeds = settings["seeds"]
    assert seeds == [0, 1, 2]

    def mean(net, key, epoch):
        return float(np.mean([runs[f"{net}/seed{s}"][key][epoch] for s in seeds]))

    plain_std = [mean("AlexNet", f"conv_output_std_conv{k}", 0) for k in range(1, 6)]
    ratios = [plain_std[k] / plain_std[k + 1] for k in range(4)]
    assert 7 <= min(ratios) and max(ratios) < 11 and round(min(ratios)) == 7 and round(max(ratios)) == 11
    assert 1e-5 < plain_std[4] < 1e-4                                   # conv5: some 1e-5 of the input's scale
    assert all(abs(runs[f"AlexNet-BN/seed{s}"][f"relu_input_std_conv{k}"][e] - 1) < 0.005
               for s in seeds for k in (1, 2) for e in range(17))
    assert (round(mean("AlexNet-BN", "conv_output_std_conv1", 0), 2), round(mean("AlexNet-BN", "conv_output_std_conv1",
                                                                                  16), 2)) == (0.12, 0.71)
    grad = [mean("AlexNet-BN", f"grad_norm_conv{k}", 0) / mean("AlexNet", f"grad_norm_conv{k}", 0) for k in range(1, 6)]
    step = [mean("AlexNet-BN", f"update_ratio_conv{k}", 0) / mean("AlexNet", f"update_ratio_conv{k}", 0)
            for k in range(1, 6)]
    assert (round(min(grad)), round(max(grad)), round(min(step)), round(max(step))) == (28, 124, 34, 131)
    plain_steps = [mean("AlexNet", f"update_ratio_conv{k}", 0) for k in range(1, 6)]
    assert 1e-5 < min(plain_steps) and max(plain_steps) < 4e-5
    he_steps = [mean("AlexNet-He", f"update_ratio_conv{k}", 0) for k in range(1, 6)]
    assert 0.009 < min(he_steps) and max(he_steps) < 0.014
    active = [runs[f"AlexNet-BN/seed{s}"][f"active_fraction_conv{k}"][e] for s in seeds for k in (1, 2)
              for e in range(17)]
    assert 0.45 <= min(active) and max(active) <= 0.52
    he_conv2 = [runs[f"AlexNet-He/seed{s}"]["active_fraction_conv2"][-1] for s in seeds]
    assert (round(min(he_conv2), 2), round(max(he_conv2), 2)) == (0.04, 0.13)
    assert max(runs[f"{n}/seed{s}"]["active_fraction_conv5"][-1] for n in settings["networks"] for s in seeds) < 0.18
    majority = record["dynamics"]["held_out_majority"]
    assert majority == 0.675
    assert all(runs[f"{n}/seed{s}"]["held_acc_running"][-1] == majority for n in settings["networks"] for s in seeds)
    for s in seeds:
        run = runs[f"AlexNet-BN/seed{s}"]
        assert {*run["held_acc_running"], *run["held_acc_population"], *run["held_acc_batch"]} == {majority}
