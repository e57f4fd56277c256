"""On-the-fly geometric augmentation (the paper's section 2.1): translation, scaling, rotation, h/v flips.

Used inside the training fold only, on preprocessed ROIs (background 0). Each image gets its own random
transform, drawn from the passed ``numpy.random.Generator`` alone, so the same seed gives the same batch.
Every image consumes exactly six uniform numbers ``u = rng.random(6)``, whatever the configuration, so that
switching one transform on or off does not change the others' draws:

    hflip    = u[0] < cfg.hflip                  mirror left-right
    vflip    = u[1] < cfg.vflip                  mirror top-bottom
    angle    = (2 u[2] - 1) * cfg.max_rotate_deg  degrees, counter-clockwise as displayed (scipy's convention)
    scale    = lo + u[3] * (hi - lo)             cfg.scale = (lo, hi); > 1 enlarges
    shift_x  = (2 u[4] - 1) * cfg.max_translate * W   pixels
    shift_y  = (2 u[5] - 1) * cfg.max_translate * H

Flips are exact index reversals, applied first. Rotation, scaling and translation are one affine map about
the image centre c = ((H-1)/2, (W-1)/2): an output pixel o shows the input at

    i = c + R(angle)^-1 (o - c - t) / scale

sampled bilinearly, with 0 outside the input (the ROI background). A transform with angle 0, scale 1 and no
shift skips the resampling, so zero ranges give the input back exactly.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from scipy import ndimage


MAX_SCALE = 10.0  # a zoom beyond 10x leaves an augmented ROI of a few source pixels


@dataclass(frozen=True)
class AugmentConfig:
    """Ranges of the random transforms; ``AugmentConfig.from_dict`` builds one from a config-file section."""

    max_translate: float = 0.1  # fraction of the image size, each axis
    scale: tuple[float, float] = (0.9, 1.1)
    max_rotate_deg: float = 15.0
    hflip: float = 0.5  # probability
    vflip: float = 0.5  # probability

    def __post_init__(self):
        lo, hi = self.scale
        problems = []
        if not 0 <= self.max_translate < 1:
            problems.append(f"max_translate = {self.max_translate} (expected 0 <= value < 1)")
        if not 0 < lo <= hi <= MAX_SCALE:
            problems.append(f"scale = {self.scale} (expected 0 < low <= high <= {MAX_SCALE:g})")
        if not 0 <= self.max_rotate_deg <= 180:
            problems.append(f"max_rotate_deg = {self.max_rotate_deg} (expected 0..180)")
        for name in ("hflip", "vflip"):
            if not 0 <= getattr(self, name) <= 1:
                problems.append(f"{name} = {getattr(self, name)} (expected a probability 0..1)")
        if problems:
            raise ValueError("AugmentConfig: " + "; ".join(problems))

    @classmethod
    def from_dict(cls, values: dict) -> "AugmentConfig":
        """From a mapping such as a TOML ``[augment]`` table; unknown keys are an error, missing ones default."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"AugmentConfig: unknown key(s) {unknown}; expected some of {sorted(known)}")
        values = dict(values)
        if "scale" in values:
            values["scale"] = tuple(float(v) for v in values["scale"])
            if len(values["scale"]) != 2:
                raise ValueError(f"AugmentConfig: scale = {list(values['scale'])} (expected two zoom factors [low, "
                                 "high])")
        return cls(**values)

    @classmethod
    def none(cls) -> "AugmentConfig":
        """No augmentation: every range zero, flips off."""
        return cls(max_translate=0.0, scale=(1.0, 1.0), max_rotate_deg=0.0, hflip=0.0, vflip=0.0)


@dataclass(frozen=True)
class Transform:
    """One drawn transform (see the module docstring)."""

    hflip: bool
    vflip: bool
    angle_deg: float
    scale: float
    shift: tuple[float, float]  # (x, y) pixels


def draw_transform(rng: np.random.Generator, cfg: AugmentConfig, shape) -> Transform:
    """Six uniform draws -> one transform for an image of ``shape`` (H, W)."""
    u = rng.random(6)
    H, W = shape
    lo, hi = cfg.scale
    shift_x, shift_y = (2 * u[4] - 1) * cfg.max_translate * W, (2 * u[5] - 1) * cfg.max_translate * H
    return Transform(hflip=bool(u[0] < cfg.hflip), vflip=bool(u[1] < cfg.vflip),
                     angle_deg=float((2 * u[2] - 1) * cfg.max_rotate_deg), scale=float(lo + u[3] * (hi - lo)),
                     shift=(float(shift_x), float(shift_y)))


def apply_transform(image: np.ndarray, t: Transform) -> np.ndarray:
    """Apply ``t`` to a 2-D image -> float32 of the same shape."""
    out = np.asarray(image, dtype=np.float32)
    if t.hflip:
        out = out[:, ::-1]
    if t.vflip:
        out = out[::-1, :]
    if t.angle_deg == 0 and t.scale == 1 and t.shift == (0.0, 0.0):
        return np.ascontiguousarray(out)
    theta = np.deg2rad(t.angle_deg)
    c, s = np.cos(theta), np.sin(theta)
    inverse = np.array([[c, s], [-s, c]]) / t.scale  # (row, col) coordinates: R^-1 / scale
    centre = (np.array(out.shape) - 1) / 2.0
    shift = np.array([t.shift[1], t.shift[0]])  # (row, col)
    offset = centre - inverse @ (centre + shift)
    return ndimage.affine_transform(out, inverse, offset=offset, order=1, mode="constant", cval=0.0)


def augment(x: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    """Augment one image (H, W) or a batch (N, H, W) / (N, C, H, W) -> float32 of the same shape.

    Each image of a batch gets its own transform (drawn in batch order); all channels of an image share it.
    """
    x = np.asarray(x)
    if x.ndim == 2:
        return apply_transform(x, draw_transform(rng, cfg, x.shape))
    if x.ndim not in (3, 4):
        raise ValueError(f"augment: expected (H, W), (N, H, W) or (N, C, H, W), got shape {x.shape}")
    out = np.empty(x.shape, np.float32)
    for n in range(len(x)):
        t = draw_transform(rng, cfg, x.shape[-2:])
        if x.ndim == 3:
            out[n] = apply_transform(x[n], t)
        else:
            for ch in range(x.shape[1]):
                out[n, ch] = apply_transform(x[n, ch], t)
    return out
