"""The paper's preprocessing (section 3.2), one function per step.

    crop_with_margin  the lesion rectangle plus a 20-pixel margin on every side, clipped at the image border
    scale_robust      intensities divided by the crop's 99th percentile and clipped to [0, 1]: MR signal has
                      no absolute unit but a true zero, so each crop is put on the same footing while the
                      lesion stays above the masked background's 0; the trainer standardises later
    binarize_otsu     Otsu's threshold splits the crop into two intensity classes; the lesion's class is the
                      foreground (see below)
    largest_region    the largest 8-connected foreground component within the lesion box: the component
                      with the most pixels inside the box. On T1 the lesion's class also holds muscle and
                      cortex, which, counted over the whole crop, often outweigh a lesion enclosed by marrow;
                      counting inside the box keeps the tumour (the paper keeps "the largest connected region"
                      of the extracted tumour region)
    opening           erosion then dilation with a disc: removes spurs and thin bridges to neighbours
    closing           dilation then erosion with a disc: bridges narrow gaps in the outline
    fill_holes        fills holes enclosed by the region (necrotic or cystic centres)
    apply_mask        pixels outside the mask become 0
    resize            zero-padded to a square (keeps the lesion's shape), then resized to size x size

Which Otsu class is the lesion? On fluid-sensitive sequences tumours are bright; on T1 (and in the synthetic
set) they are darker than fatty marrow. ``polarity="auto"`` (the default) takes the class that holds most pixels
of the central half of the lesion box, where the lesion is; ``"bright"`` or ``"dark"`` force it.

Without a box the whole image is the crop and its central half stands in for the box: right for images
already cropped to the lesion; for a full slice the mask then follows whatever the image centre shows, and
the result is not a lesion ROI. With a box at the
image border the margin is clipped there (the crop is smaller, never padded with invented pixels).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage import morphology
from skimage.filters import threshold_otsu
from skimage.measure import label
from skimage.transform import resize as _sk_resize

PREPROCESS_VERSION = 1  # bump when the output of ``preprocess`` changes, to invalidate cached arrays

ROIS = ("otsu", "box", "mask")  # what the network sees: the paper's Otsu mask, the plain box crop, the true mask
STAGES = ("crop", "scaled", "binary", "largest", "opened", "closed", "filled", "masked")


@dataclass
class Preprocessed:
    """The final ROI (float32 size x size, in [0, 1], 0 outside the lesion mask) and every intermediate."""

    image: np.ndarray
    stages: dict[str, np.ndarray]


def check_box(box, shape) -> tuple[int, int, int, int]:
    """The box as four ints, or ValueError unless 0 <= x0 < x1 <= W and 0 <= y0 < y1 <= H."""
    H, W = shape
    x0, y0, x1, y1 = (int(v) for v in box)
    if not (0 <= x0 < x1 <= W and 0 <= y0 < y1 <= H):
        raise ValueError(f"box (x0, y0, x1, y1) = {tuple(box)} is empty or outside the {W}x{H} (WxH) image; "
                         f"expected 0 <= x0 < x1 <= {W} and 0 <= y0 < y1 <= {H}")
    return x0, y0, x1, y1


def crop_with_margin(image: np.ndarray, box, margin: int = 20):
    """Crop ``box`` grown by ``margin`` pixels per side, clipped to the image.

    Returns ``(crop, box_in_crop)``: the box's coordinates inside the crop. ``box=None`` returns the whole image
    and, as the box, its central half: the image is taken to be already cropped to the lesion with a margin.
    """
    H, W = image.shape
    if box is None:
        return image, (W // 4, H // 4, W - W // 4, H - H // 4)
    x0, y0, x1, y1 = check_box(box, image.shape)
    cx0, cy0 = max(0, x0 - margin), max(0, y0 - margin)
    cx1, cy1 = min(W, x1 + margin), min(H, y1 + margin)
    return image[cy0:cy1, cx0:cx1], (x0 - cx0, y0 - cy0, x1 - cx0, y1 - cy0)


def scale_robust(image: np.ndarray, high: float = 99.0) -> np.ndarray:
    """float32 image / (its ``high``-th percentile), clipped to [0, 1]; all 0 if that percentile is not > 0.

    MR magnitude has a true zero (no signal), so only the arbitrary gain is removed; no offset is subtracted,
    so a lesion keeps values above the 0 that ``apply_mask`` gives the background.
    """
    image = np.asarray(image, dtype=np.float32)
    top = float(np.percentile(image, high))
    if top <= 0:
        return np.zeros_like(image)
    return np.clip(image / top, 0.0, 1.0)


def binarize_otsu(image: np.ndarray, box=None, polarity: str = "auto") -> np.ndarray:
    """Foreground of Otsu's two-class split; a flat image (nothing to split) is all foreground.

    ``polarity``: "bright" (above the threshold), "dark" (at or below it), or "auto": the class that holds the
    majority of the central half of ``box`` (x0, y0, x1, y1 in this image; None: the whole image).
    """
    if polarity not in ("auto", "bright", "dark"):
        raise ValueError(f"binarize_otsu: polarity must be 'auto', 'bright' or 'dark', got {polarity!r}")
    if image.min() == image.max():
        return np.ones(image.shape, bool)
    bright = image > threshold_otsu(image)
    if polarity == "auto":
        x0, y0, x1, y1 = box if box is not None else (0, 0, image.shape[1], image.shape[0])
        cx0, cy0 = int(x0 + (x1 - x0) / 4), int(y0 + (y1 - y0) / 4)
        cx1, cy1 = max(int(x1 - (x1 - x0) / 4), cx0 + 1), max(int(y1 - (y1 - y0) / 4), cy0 + 1)
        centre = bright[cy0:cy1, cx0:cx1]
        polarity = "bright" if centre.mean() >= 0.5 else "dark"
    return bright if polarity == "bright" else ~bright


def largest_region(binary: np.ndarray, box=None) -> np.ndarray:
    """The 8-connected component with the most pixels inside ``box`` (x0, y0, x1, y1; None: the whole image).

    The first by label order wins a tie; all False if no component reaches into the box.
    """
    labels = label(binary, connectivity=2)
    x0, y0, x1, y1 = box if box is not None else (0, 0, binary.shape[1], binary.shape[0])
    sizes = np.bincount(labels[y0:y1, x0:x1].ravel(), minlength=labels.max() + 1)
    sizes[0] = 0
    if sizes.max() == 0:
        return np.zeros(binary.shape, bool)
    return labels == int(np.argmax(sizes))


def opening(binary: np.ndarray, radius: int = 2) -> np.ndarray:
    """Morphological opening with a disc of ``radius`` pixels."""
    return ndimage.binary_opening(binary, structure=morphology.disk(radius))


def closing(binary: np.ndarray, radius: int = 2) -> np.ndarray:
    """Morphological closing with a disc of ``radius`` pixels (the image border counts as background)."""
    pad = radius + 1
    closed = ndimage.binary_closing(np.pad(binary, pad), structure=morphology.disk(radius))
    return closed[pad:-pad, pad:-pad]


def fill_holes(binary: np.ndarray) -> np.ndarray:
    """Fill background regions not connected to the border."""
    return ndimage.binary_fill_holes(binary)


def apply_mask(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """float32 image with every pixel outside ``mask`` set to 0."""
    return np.where(mask, image, 0.0).astype(np.float32)


def resize(image: np.ndarray, size: int = 224) -> np.ndarray:
    """Zero-pad to a centred square, then resize (bilinear, anti-aliased) to size x size float32."""
    H, W = image.shape
    side = max(H, W)
    top, left = (side - H) // 2, (side - W) // 2
    square = np.zeros((side, side), np.float32)
    square[top: top + H, left: left + W] = image
    return _sk_resize(square, (size, size), order=1, anti_aliasing=side > size, preserve_range=True).astype(np.float32)


def roi_mask(mask: np.ndarray, box, size: int = 224, margin: int = 20) -> np.ndarray:
    """A lesion mask carried into the ROI's coordinates: the same crop, square padding and resize as the image."""
    crop, _ = crop_with_margin(mask.astype(np.float32), box, margin)
    return resize(crop, size) > 0.5


def preprocess(image: np.ndarray, box=None, size: int = 224, margin: int = 20, *, polarity: str = "auto",
               radius: int = 2, roi: str = "otsu", mask: np.ndarray | None = None) -> Preprocessed:
    """Run every step on a 2-D image; ``box`` = (x0, y0, x1, y1) or None (the whole image, see module doc).

    ``roi`` chooses the region ``apply_mask`` keeps (the preprocessing ablation of ``data.roi``): "otsu" the
    paper's Otsu mask (the default), "box" the whole crop (no mask), "mask" the true lesion ``mask`` (bool, the
    image's shape), cropped like the image.
    """
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"preprocess: expected a 2-D image, got shape {image.shape}")
    if roi not in ROIS:
        raise ValueError(f"preprocess: roi must be one of {ROIS}, got {roi!r}")
    if roi == "mask" and (mask is None or np.shape(mask) != image.shape):
        raise ValueError(f"preprocess: roi 'mask' needs the true lesion mask of the image's shape {image.shape}, "
                         f"got {None if mask is None else np.shape(mask)}")
    crop, box_in_crop = crop_with_margin(image, box, margin)
    scaled = scale_robust(crop)
    binary = binarize_otsu(scaled, box_in_crop, polarity)
    largest = largest_region(binary, box_in_crop)
    opened = opening(largest, radius)
    closed = closing(opened, radius)
    filled = fill_holes(closed)
    region = {"otsu": lambda: filled, "box": lambda: np.ones(crop.shape, bool),
              "mask": lambda: crop_with_margin(np.asarray(mask, bool), box, margin)[0]}[roi]()
    masked = apply_mask(scaled, region)
    stages = dict(zip(STAGES, (crop, scaled, binary, largest, opened, closed, filled, masked)))
    return Preprocessed(image=resize(masked, size), stages=stages)
