"""What was run, as the report states it: ``RunSetup`` (the configuration, the profile, the command that reproduces
the run, the software and the session's times) and the words for the model and the protocol."""
from __future__ import annotations

import platform
from dataclasses import asdict, dataclass

import numpy as np
import scipy
import skimage
import sklearn

import minicnn
from femur_app.config import Config, ModelConfig, TrainConfig
from femur_app.data.augment import AugmentConfig
from femur_app.models.alexnet import ALEXNET_CHANNELS, ALEXNET_FC, feature_sizes
from femur_app.models.width import scaled


@dataclass(frozen=True)
class RunSetup:
    config: Config  # the resolved configuration
    profile: str = ""  # its name in the report: "quick", "paper" or the --config file's stem
    command: str = ""  # the command that reproduces the run
    software: str = ""  # ``software_versions``
    data_seconds: float = 0.0  # this session's time to read and prepare the data ...
    session_seconds: float = 0.0  # ... and its whole time up to the outputs

    @property
    def model(self) -> str:
        return describe_model(self.config.model, self.config.data.input_size)

    @property
    def protocol(self) -> str:
        c = self.config
        return describe_protocol(c.data.roi, c.train, c.cv.folds, c.augment)


def duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"


def software_versions(device: str) -> str:
    return (f"Python {platform.python_version()}, NumPy {np.__version__}, SciPy {scipy.__version__}, "
            f"scikit-learn {sklearn.__version__}, scikit-image {skimage.__version__}, minicnn {minicnn.__version__}; "
            f"{platform.platform()}, device {device}")


def describe_model(m: ModelConfig, size: int) -> str:
    """The network in words: its name, whether it is the paper's, its widths, input and feature-map sizes."""
    name = {"alexnet_bn": "AlexNet-BN", "alexnet": "AlexNet (no batch norm)"}.get(m.name, m.name)
    widths = "-".join(str(scaled(c, m.width)) for c in ALEXNET_CHANNELS)
    fc = scaled(ALEXNET_FC, m.width)
    paper = m.name == "alexnet_bn" and m.width == 1.0 and size == 224
    kind = "the paper's network" if paper else "a reduced CPU variant, not the paper's network"
    return (f"{name}, {kind}: conv {widths}, FC {fc}-{fc}, input {size} x {size} (feature maps "
            f"{' -> '.join(map(str, feature_sizes(size)))}), dropout {m.dropout} after fc6 and fc7, "
            f"L2 {m.l2:g} on {', '.join(m.l2_layers)}")


ROI_WORDS = {"otsu": "the lesion box + 20 px, masked by Otsu's threshold and the largest region (the paper's)",
             "box": "the lesion box + 20 px, unmasked (data.roi = box, not the paper's)",
             "mask": "the lesion box + 20 px, masked by the true lesion mask (data.roi = mask, not the paper's)"}


def describe_protocol(roi: str, t: TrainConfig, folds: int, augment: AugmentConfig) -> str:
    """The training protocol in words: the ROI, the folds, epochs, batch, optimiser, schedule, initialisation and
    augmentation."""
    init_text = f"conv weights N(0, {t.init_std:g}^2)" if t.init == "normal" else "He-normal weights"
    aug = ", ".join(f"{k} {v}" for k, v in {**asdict(augment), "scale": list(augment.scale)}.items())
    return (f"ROI: {ROI_WORDS[roi]}; "
            f"{folds}-fold cross-validation stratified by label and grouped by patient; {t.epochs} epochs, "
            f"batch {t.batch_size}, SGD lr {t.lr:g} momentum {t.momentum:g}"
            f"{' (Nesterov)' if t.nesterov else ''}, {t.schedule} schedule, {init_text}; "
            f"augmentation in the training fold only ({aug}); normalisation statistics from the training fold")
