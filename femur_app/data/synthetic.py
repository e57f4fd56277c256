"""Synthetic femur-MRI phantoms: the built-in default data set.

The paper's 500 cases are private, so this module draws stand-ins: axial T1-weighted MRI slices, 460 x 700
pixels, through both distal thighs (the patient's right thigh on the image's left, anterior up), with one bone
tumour in the distal metaphysis of one femur.

Anatomy, in T1 signal (fat bright, muscle intermediate, cortical bone and flowing blood dark):
    skin (a thin grey line), subcutaneous fat (bright, 5-25 mm), muscle (intermediate, faintly textured)
    divided into 6-9 compartments by thin bright fascial (intermuscular fat) planes that run as smooth curves
    between muscle groups (``muscle_compartments``: a Voronoi partition in randomly warped coordinates, not
    wedges around the bone), the femoral artery and vein (dark flow voids in a cushion of fat, posteromedial)
    and the great saphenous vein (a dark dot in the medial fat), and the femur: a dark cortical ring 2-3.5 mm
    thick around bright, slightly mottled fatty marrow.
Acquisition: pixel spacing drawn per case from ``SPACING_MM`` (a field of view of 315-392 mm), patient
position and thigh size vary, a smooth multiplicative coil-sensitivity field, a slight point-spread blur,
Rician noise (the magnitude of complex Gaussian noise, as in any magnitude MR image, so air is not 0) and a
scanner-dependent gain to 12-bit-like integer values.

The lesion. On T1 a tumour replaces the bright marrow by intermediate signal. Each lesion has a hidden
*aggressiveness* ``a`` in [0, 1], drawn from Beta(2, 5) for benign and Beta(5, 2) for malignant lesions, so the
classes overlap: some benign lesions look aggressive (giant-cell tumour, osteoid osteoma with oedema), some
malignant ones look quiet. Every imaging sign is a *separate noisy* function of ``a`` (``LesionSigns``):

    zone of transition   0.4 mm (sharp) .. 5.5 mm (permeative)        sigmoid edge of that 10-90 % width
    outline              round/oval + lobulation, irregular at high a Fourier harmonics of the radius: how many
                         (``harmonics``) and how strong (``irregularity``) are two readings, each with its own
                         wider noise (``OUTLINE_NOISE``), so the true outline's shape alone stays a weak sign
    heterogeneity        smooth texture, plus haemorrhage (bright) / necrosis (dark) foci at high a
    sclerotic rim        a dark 1-2 mm ring, mostly at low a
    marrow oedema        a hazy darker halo, fall-off 3-18 mm, mostly at high a; it tapers to exactly 0
                         (``oedema_falloff``), so no drawing window leaves an edge
    cortical destruction the lesion sits eccentrically, erases the cortex and extends as a soft-tissue mass
                         into muscle; without it a lesion that outgrows the marrow *expands* the bone inside
                         a thin intact cortical shell (benign remodelling)
    periosteal reaction  with destruction at high a: lamellated (onion-skin) layers or sunburst spicules

Size carries little class information by design (in real series malignant lesions tend to be a little
larger): the largest diameter D follows the paper's 0.7-3.9 cm, mean about 3.2 +- 0.7 cm, as
D = 39 mm - Exponential(scale), truncated at 7 mm, with scale 7.5 mm (benign) and 6 mm (malignant).
Lesion contrast, position, side and every anatomical and acquisition parameter are drawn independently of the
class, so no global statistic gives the label away (``tests/femur_app/data/test_synthetic.py`` measures this).

A set is one value, ``SyntheticSet(n, n_malignant, seed, null)``: ``.cases()`` draws it (``.cached_cases()``
keeps it on disk), ``.signs()`` gives the signs every case was drawn with (no rendering), and ``.case(index,
**changes)`` draws a case again with some signs switched (a counterfactual): the lesion has its own random stream,
so the anatomy, the acquisition and its noise stay identical. ``null=True`` keeps the labels and counts but draws
every lesion from one class-independent law: a set without class signal, ceiling 0.5.

What only the generator knows, from the drawn signs: ``hidden_log_likelihood_ratio`` is the Bayes-optimal score
from the hidden aggressiveness and diameter (the label acts through nothing else), and ``ceiling_auc`` its AUC on
a set: the best any reader can expect. ``sign_rates`` measures the class-conditional sign rates.

Determinism: case generators come from ``numpy.random.SeedSequence(seed, spawn_key=(label, k))`` for the
k-th case of a class, so a case does not depend on ``n``: ``SyntheticSet(20, 7).cases()`` holds exactly the first
13 benign and 7 malignant phantoms of ``SyntheticSet(500, 165).cases()``. Which positions hold malignant cases is
a seeded permutation.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed
from scipy import ndimage, special
from sklearn.metrics import roc_auc_score

from minicnn.serialize import write_atomic

from femur_app.data.dataset import MALIGNANT, Case, box_of, default_cache_dir

GENERATOR_VERSION = 4  # bump whenever the drawn images change, to invalidate cached sets
IMAGE_SHAPE = (460, 700)  # rows x columns, as the paper's images
CASE_BYTES = IMAGE_SHAPE[0] * IMAGE_SHAPE[1] * 3  # one case in memory: its uint16 image and bool lesion mask
SPACING_MM = (0.45, 0.56)  # per-case pixel spacing range, mm per pixel
DIAMETER_MM = (7.0, 39.0)  # the paper's 0.7-3.9 cm
AGGRESSIVENESS_BETA = {0: (2.0, 5.0), 1: (5.0, 2.0)}  # (alpha, beta) of the Beta law of ``a`` per label
DIAMETER_TAIL_MM = {0: 7.5, 1: 6.0}  # scale of the exponential tail below 39 mm per label
OUTLINE_NOISE = 0.6  # sd of the outline's two readings of ``a``: no single shape feature of the true outline
#                       (compactness, area, perimeter, harmonic count) reaches AUC 0.80 (test_synthetic.py)
NULL_MALIGNANT_SHARE = 165 / 500  # a null set's lesions look malignant with the paper's prevalence, any label

_ANGLES = 4096  # resolution of the radius lookup tables (0.1 mm at the thigh's edge)
_SIGMOID_10_90 = 2 * np.log(9.0)  # a sigmoid rises from 10 % to 90 % over 4.39 of its unit


@dataclass(frozen=True)
class LesionSigns:
    """The imaging signs of one lesion; see the module docstring for their radiology."""

    aggressiveness: float
    diameter_mm: float
    transition_mm: float  # 10-90 % width of the edge
    irregularity: float  # amplitude of the outline's harmonics (fraction of the radius)
    harmonics: int  # how many harmonics shape the outline: 5 (lobulated) .. 12 (irregular)
    heterogeneity: float  # relative amplitude of the internal texture
    rim: float  # sclerotic rim strength, 0 = none
    oedema: float  # marrow oedema strength, 0 = none
    breach: bool  # cortical destruction with a soft-tissue mass
    periosteal: str  # "none", "lamellated" or "sunburst"
    contrast: float  # lesion signal / muscle signal


def _noisy(a: float, rng: np.random.Generator, sd: float = 0.2) -> float:
    """``a`` seen through independent Gaussian noise, clipped to [0, 1]: one sign's reading of the latent."""
    return float(np.clip(a + sd * rng.standard_normal(), 0.0, 1.0))


def sample_signs(label: int, rng: np.random.Generator) -> LesionSigns:
    """Draw a lesion's hidden aggressiveness for its class, then each sign from it with its own noise."""
    a = float(rng.beta(*AGGRESSIVENESS_BETA[label]))
    while True:
        diameter = DIAMETER_MM[1] - rng.exponential(DIAMETER_TAIL_MM[label])
        if diameter >= DIAMETER_MM[0]:
            break
    breach = _noisy(a, rng) > 0.6
    periosteal = "none"
    if breach and _noisy(a, rng) > 0.55:
        periosteal = ("lamellated", "sunburst")[int(rng.integers(2))]
    rim_reading = _noisy(a, rng)
    transition = 0.4 + 5.0 * _noisy(a, rng) ** 2
    irregularity = 0.02 + 0.16 * _noisy(a, rng, OUTLINE_NOISE)
    heterogeneity = 0.03 + 0.14 * _noisy(a, rng)
    rim = float(rng.uniform(0.5, 0.9)) if rim_reading < 0.4 else 0.0
    oedema = max(0.0, _noisy(a, rng, 0.25) - 0.35) / 0.65
    contrast = float(rng.uniform(0.9, 1.3))
    harmonics = 5 + int(7 * _noisy(a, rng, OUTLINE_NOISE))  # its own reading (it once read ``a`` without noise)
    return LesionSigns(aggressiveness=a, diameter_mm=float(diameter), transition_mm=transition,
                       irregularity=irregularity, harmonics=harmonics, heterogeneity=heterogeneity, rim=rim,
                       oedema=oedema, breach=breach, periosteal=periosteal, contrast=contrast)


# --- geometry helpers: star-shaped outlines and smooth random fields -------------------------------------

def radius_table(a_mm: float, b_mm: float, rotation: float, amplitudes, phases) -> np.ndarray:
    """Radius (mm) of a perturbed ellipse at ``_ANGLES`` angles from -pi.

    r(theta) = r_ellipse(theta - rotation) * (1 + sum_k amplitudes[k] cos((k + 2) theta + phases[k])):
    harmonics 2, 3, ... add lobulation (low k) or irregularity (high k).
    """
    theta = np.linspace(-np.pi, np.pi, _ANGLES, endpoint=False)
    t = theta - rotation
    r = a_mm * b_mm / np.hypot(b_mm * np.cos(t), a_mm * np.sin(t))
    k = np.arange(2, 2 + len(amplitudes))[:, None]
    wobble = (np.asarray(amplitudes)[:, None] * np.cos(k * theta + np.asarray(phases)[:, None])).sum(axis=0)
    return (r * (1.0 + wobble)).astype(np.float32)


def polar(X: np.ndarray, Y: np.ndarray, cx: float, cy: float):
    """Distance (mm) and angle (radians, -pi..pi) of every grid point from the centre (cx, cy)."""
    dx, dy = X - cx, Y - cy
    return np.sqrt(dx * dx + dy * dy), np.arctan2(dy, dx)


def at_angle(theta: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Look up a table of ``_ANGLES`` values from -pi at the angles ``theta`` (nearest entry)."""
    return table[((theta + np.pi) * (_ANGLES / (2 * np.pi))).astype(np.int32) & (_ANGLES - 1)]  # _ANGLES = 2^k


def star_distance(rho: np.ndarray, theta: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Approximate signed distance (mm, negative inside) to a star-shaped outline: rho - r(theta)."""
    return rho - at_angle(theta, table)


def wrap(angle: np.ndarray) -> np.ndarray:
    """Angle wrapped to [-pi, pi)."""
    return np.remainder(angle + np.pi, 2 * np.pi) - np.pi


def inside(distance: np.ndarray, spacing: float) -> np.ndarray:
    """Fractional membership of a sharp outline, anti-aliased over one pixel."""
    return np.clip(0.5 - distance / spacing, 0.0, 1.0)


def smooth_noise(shape, sigma_px: float, rng: np.random.Generator) -> np.ndarray:
    """Zero-mean, unit-variance Gaussian random field with correlation length ``sigma_px`` pixels.

    A long correlation (``sigma_px`` >= 8) is drawn on a grid ``step`` = sigma_px // 4 times coarser and
    interpolated with cubic splines (smooth to the second derivative), which changes nothing visible.
    """
    step = max(1, int(sigma_px // 4))
    coarse = tuple(size // step + 1 for size in shape) if step > 1 else tuple(shape)  # covers the fine grid
    field = ndimage.gaussian_filter(rng.standard_normal(coarse, dtype=np.float32), sigma_px / step, mode="wrap",
                                    truncate=3.0)
    if step > 1:
        field = ndimage.zoom(field, step, order=1, grid_mode=False)[: shape[0], : shape[1]]
    return field / max(float(field.std()), 1e-12)


def mix(image: np.ndarray, value, weight) -> np.ndarray:
    """Partial-volume blend: ``weight`` of the pixel becomes ``value``."""
    return image + weight * (value - image)


@dataclass
class _Grid:
    """A rectangle of the image and the millimetre coordinates of its pixel centres (origin: image centre)."""

    rows: slice
    cols: slice
    X: np.ndarray
    Y: np.ndarray


def grid(spacing: float, centre_mm=(0.0, 0.0), half_mm: float | None = None, cols: slice | None = None) -> _Grid:
    """The whole image, or the part of it within ``half_mm`` of ``centre_mm`` (x, y), within columns ``cols``."""
    H, W = IMAGE_SHAPE
    r0, r1 = 0, H
    c0, c1 = (0, W) if cols is None else (cols.start, cols.stop)
    if half_mm is not None:
        cx, cy = W / 2 + centre_mm[0] / spacing, H / 2 + centre_mm[1] / spacing
        half = half_mm / spacing
        r0, r1 = max(0, int(cy - half)), min(H, int(cy + half) + 1)
        c0, c1 = max(c0, int(cx - half)), min(c1, int(cx + half) + 1)
    y = ((np.arange(r0, r1) + 0.5 - H / 2) * spacing).astype(np.float32)
    x = ((np.arange(c0, c1) + 0.5 - W / 2) * spacing).astype(np.float32)
    Y, X = np.meshgrid(y, x, indexing="ij")
    return _Grid(slice(r0, r1), slice(c0, c1), X, Y)


# --- the scene ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Tissue:
    """T1 signal of each tissue, relative to subcutaneous fat = 1."""

    marrow: float
    muscle: float
    cortex: float
    vessel: float
    skin: float


def _draw_disc(image, spacing: float, centre, radius: float, value: float) -> None:
    """An anti-aliased disc of ``value`` (a vessel, a fat cushion), drawn in place within its own small window."""
    g = grid(spacing, centre, radius + 2 * spacing)
    rho, _ = polar(g.X, g.Y, *centre)
    view = image[g.rows, g.cols]
    view[...] = mix(view, value, inside(rho - radius, spacing))


def muscle_compartments(X: np.ndarray, Y: np.ndarray, bone_centre, spacing: float, rng: np.random.Generator):
    """The muscle compartments of one thigh and the distance (mm) of every point to the nearest fascial plane.

    The compartments are the cells of a Voronoi partition of 6-9 seed points (one per muscle group: the vasti,
    rectus femoris, the hamstrings, the adductors; plus one or two small superficial ones such as sartorius
    and gracilis) that lie at 28-62 mm from the bone centre, so cell walls do not meet at the bone. The
    partition is taken in *warped* coordinates, (X, Y) displaced by a smooth random field (correlation length
    8-14 mm, amplitude 3-7 mm), which bends every wall into a smooth curve. For the two nearest seeds s1, s2
    of a point p, the distance to their bisector is (|p - s2|^2 - |p - s1|^2) / (2 |s1 - s2|): the fascial
    plane lies where it is 0.

    Returns (compartment index per point, distance to the nearest plane in mm), both of X's shape.
    """
    k = int(rng.integers(6, 10))
    angles = rng.uniform(-np.pi, np.pi) + 2 * np.pi * (np.arange(k) + rng.uniform(-0.3, 0.3, k)) / k
    radii = rng.uniform(28, 48, k)
    superficial = rng.permutation(k)[: int(rng.integers(1, 3))]  # small muscles near the fascia lata
    radii[superficial] = rng.uniform(50, 62, len(superficial))
    seeds = np.stack([bone_centre[0] + radii * np.cos(angles), bone_centre[1] + radii * np.sin(angles)], axis=1)
    correlation, amplitude = rng.uniform(8, 14) / spacing, rng.uniform(3, 7)
    warped_x = X + amplitude * smooth_noise(X.shape, correlation, rng)
    warped_y = Y + amplitude * smooth_noise(X.shape, correlation, rng)
    d1 = np.full(X.shape, np.inf, np.float32)  # squared distance to the nearest seed so far ...
    d2 = np.full(X.shape, np.inf, np.float32)  # ... and to the second nearest
    first = np.zeros(X.shape, np.int8)
    second = np.zeros(X.shape, np.int8)
    for i, (sx, sy) in enumerate(seeds.astype(np.float32)):
        d = (warped_x - sx) ** 2 + (warped_y - sy) ** 2
        nearer = d < d1
        runner_up = ~nearer & (d < d2)
        d2 = np.where(nearer, d1, np.where(runner_up, d, d2))
        second = np.where(nearer, first, np.where(runner_up, np.int8(i), second))
        d1 = np.where(nearer, d, d1)
        first = np.where(nearer, np.int8(i), first)
    separation = np.sqrt(((seeds[:, None] - seeds[None]) ** 2).sum(-1)).astype(np.float32)[first, second]
    return first, (d2 - d1) / (2 * separation)


def _draw_thigh(image, spacing: float, cols: slice, centre, medial: int, bone_centre, tissue: _Tissue,
                texture, rng) -> None:
    """Skin, subcutaneous fat, muscle with fascial planes, and vessels of one thigh, into ``image`` in place.

    ``cols``: the image columns that belong to this thigh's side; ``medial``: +1 if medial is towards +x.
    """
    s = spacing
    a_t, b_t = rng.uniform(60, 76), rng.uniform(52, 66)
    outer = radius_table(a_t, b_t, rng.uniform(-0.15, 0.15), rng.uniform(0, 0.03, 3), rng.uniform(0, 2 * np.pi, 3))
    fat = rng.uniform(6, 20) * radius_table(1, 1, 0, rng.uniform(0, 0.2, 3), rng.uniform(0, 2 * np.pi, 3))
    g = grid(s, centre, float(outer.max()) + 2, cols)
    rho, theta = polar(g.X, g.Y, *centre)
    d_skin = star_distance(rho, theta, outer)
    d_muscle = star_distance(rho, theta, outer - fat)
    view = image[g.rows, g.cols]
    body = inside(d_skin, s)
    view[...] = mix(view, 1.0 + 0.03 * texture[g.rows, g.cols], body)
    view[...] = mix(view, tissue.skin, body * np.clip(1 + d_skin / 1.2, 0, 1))
    # muscles: compartments, each with its own signal (+-6 %) and a fine texture, between thin bright fascial
    # (intermuscular fat) planes 0.5-1.1 mm thick
    compartment, to_plane = muscle_compartments(g.X, g.Y, bone_centre, s, rng)
    levels = 1 + 0.06 * rng.standard_normal(int(compartment.max()) + 1)
    signal = tissue.muscle * (1 + 0.06 * texture[g.rows, g.cols]) * levels[compartment]
    muscle = inside(d_muscle, s)
    view[...] = mix(view, signal, muscle)
    plane = inside(to_plane - rng.uniform(0.25, 0.55), s)
    view[...] = mix(view, 1.0, 0.85 * plane * muscle)
    # femoral artery and vein in their fat cushion, posteromedial to the bone; great saphenous vein medially
    vx, vy = bone_centre[0] + medial * rng.uniform(12, 22), bone_centre[1] + rng.uniform(22, 32)
    _draw_disc(image, s, (vx, vy), rng.uniform(5.5, 8), rng.uniform(0.7, 0.9))
    _draw_disc(image, s, (vx - 2.5, vy), rng.uniform(2.5, 3.5), tissue.vessel)
    _draw_disc(image, s, (vx + 3.0, vy + 1.0), rng.uniform(3, 4.5), tissue.vessel)
    saphenous = (centre[0] + medial * (a_t - fat.mean() / 2) * 0.9, centre[1] + 0.25 * b_t)
    _draw_disc(image, s, saphenous, rng.uniform(1.5, 2.5), tissue.vessel)


def _lesion_centre(signs: LesionSigns, bone_table: np.ndarray, cortex: float, rng) -> tuple[float, float]:
    """Where the lesion sits relative to the bone centre (x, y mm).

    With cortical destruction its far edge crosses the outer cortex by 15-60 % of its radius (the
    soft-tissue mass); otherwise it is placed inside the marrow where it fits, or near the centre when it does
    not (then the bone expands around it).
    """
    direction = rng.uniform(-np.pi, np.pi)
    r_bone = float(at_angle(np.array(direction), bone_table))
    radius = signs.diameter_mm / 2
    if signs.breach:
        distance = r_bone - radius + rng.uniform(0.15, 0.6) * 2 * radius
    else:
        room = r_bone - cortex - radius - 1.0
        distance = rng.uniform(0, room) if room > 0 else rng.uniform(0, 3)
    distance = max(distance, 0.0)
    return distance * np.cos(direction), distance * np.sin(direction)


def _lesion_outline(signs: LesionSigns, rng) -> np.ndarray:
    """Radius table of the lesion: an oval with lobulation (few harmonics) or irregularity (many), scaled so
    that its largest diameter (maximum Feret diameter) is ``signs.diameter_mm``."""
    harmonics = signs.harmonics
    amplitudes = signs.irregularity * rng.uniform(0.3, 1.0, harmonics) / np.sqrt(np.arange(1, harmonics + 1))
    table = radius_table(1.0, rng.uniform(0.7, 1.0), rng.uniform(-np.pi, np.pi), amplitudes,
                         rng.uniform(0, 2 * np.pi, harmonics))
    theta = np.linspace(-np.pi, np.pi, _ANGLES, endpoint=False)[::16]
    points = table[::16, None] * np.stack([np.cos(theta), np.sin(theta)], axis=1)
    feret = np.sqrt(((points[:, None] - points[None]) ** 2).sum(-1)).max()  # largest distance across the outline
    return table * (signs.diameter_mm / float(feret))


OEDEMA_REACH = 3.0  # oedema stops, smoothly, at this many fall-off lengths from the lesion


def oedema_falloff(distance_mm: np.ndarray, length_mm: float) -> np.ndarray:
    """Oedema weight at a signed distance (mm, negative inside) from the lesion's outline.

    w(d) = 1 for d <= 0, exp(-d / L) (1 - (d / R)^2)^2 for 0 < d < R = OEDEMA_REACH * L, and 0 beyond R. The
    taper reaches 0 with zero slope, so the haze ends without any step and the window it is drawn in (which
    extends past R) leaves no edge.
    """
    d = np.maximum(distance_mm, 0.0)
    taper = np.clip(1.0 - (d / (OEDEMA_REACH * length_mm)) ** 2, 0.0, None) ** 2
    return np.exp(-d / length_mm) * taper


@dataclass(frozen=True)
class Placement:
    """Where a lesion was drawn: centres in mm from the image centre (x to the right, y down), largest radii."""

    bone_centre_mm: tuple[float, float]
    bone_radius_mm: float  # the native bone outline's largest radius
    lesion_centre_mm: tuple[float, float]
    lesion_radius_mm: float  # the lesion outline's largest radius


def _draw_femur(image, mask, spacing, bone_centre, tissue: _Tissue, marrow_noise, signs: LesionSigns | None, rng,
                lesion_rng):
    """The femur of one thigh, and its lesion when ``signs`` is given, into ``image`` (and ``mask``) in place.

    Outlines are signed distances in mm (negative inside). A lesion without cortical destruction is confined
    to the marrow, and where it outgrows it the bone is expanded (union of outlines) inside a thin shell.
    The bone's numbers come from ``rng`` (always as many), the lesion's from ``lesion_rng`` and the marrow's
    mottling from the whole-image field ``marrow_noise``, so a lesion drawn with other signs leaves the rest of
    the scene unchanged (``SyntheticSet.case``). Returns the lesion's ``Placement`` (None without a lesion).
    """
    s = spacing
    a_b, b_b = rng.uniform(24, 31), rng.uniform(19, 24)
    cortex = rng.uniform(2.0, 3.5)
    bone_table = radius_table(a_b, b_b, rng.uniform(-0.2, 0.2), rng.uniform(0, 0.07, 3), rng.uniform(0, 2 * np.pi, 3))
    g = grid(s, bone_centre, float(bone_table.max()) + 2)
    if signs is not None:
        offset = _lesion_centre(signs, bone_table, cortex, lesion_rng)
        lesion_centre = (bone_centre[0] + offset[0], bone_centre[1] + offset[1])
        table = _lesion_outline(signs, lesion_rng)
        oedema_length = 3 + 15 * signs.oedema
        halo = max(OEDEMA_REACH * oedema_length, 3 * signs.transition_mm + 10) + 1  # oedema, soft edge, periosteum
        g = grid(s, bone_centre, max(float(bone_table.max()) + 2, float(np.hypot(*offset) + table.max()) + halo))
    view = image[g.rows, g.cols]
    rho, theta = polar(g.X, g.Y, *bone_centre)
    d_outer = star_distance(rho, theta, bone_table)
    d_inner = d_outer + cortex
    d_native = d_outer  # the cortex before any expansion, where periosteal reaction starts
    patchy = marrow_noise[g.rows, g.cols]
    marrow = tissue.marrow * (1 + 0.035 * patchy)
    if signs is not None:
        d_lesion = star_distance(*polar(g.X, g.Y, *lesion_centre), table)
        if not signs.breach:
            d_inner = np.minimum(d_inner, d_lesion)
            d_outer = np.minimum(d_outer, d_lesion - 0.5 * cortex)
    view[...] = mix(view, tissue.cortex, inside(d_outer, s))
    in_marrow = inside(d_inner, s)
    view[...] = mix(view, marrow, in_marrow)
    if signs is None:
        return None
    if signs.oedema > 0:  # a hazy darker halo fading over millimetres to centimetres, mostly in the marrow
        haze = oedema_falloff(d_lesion, oedema_length) * np.clip(1 + 0.3 * patchy, 0, 1.5)
        where = in_marrow + 0.4 * (1 - in_marrow) * (1 - inside(d_outer, s))  # marrow, and less in soft tissue
        view[...] *= 1 - 0.5 * signs.oedema * np.clip(haze, 0, 1) * where
    texture = smooth_noise(view.shape, 1.0 / s, lesion_rng)
    foci = np.clip(-patchy - 1.0, 0, None)  # haemorrhage or necrosis: patches over about 16 % of the area
    focal = lesion_rng.choice([-2.5, 1.5]) * max(signs.heterogeneity - 0.04, 0)  # necrosis darker, blood brighter
    lesion_signal = tissue.muscle * signs.contrast * (1 + signs.heterogeneity * texture + focal * foci)
    body = 0.5 - 0.5 * np.tanh(d_lesion * (0.5 * _SIGMOID_10_90 / signs.transition_mm))  # logistic sigmoid
    if not signs.breach:
        body = body * in_marrow
    view[...] = mix(view, lesion_signal, body)
    width = lesion_rng.uniform(1.0, 2.0)  # drawn with or without a rim: the same draws follow either way
    if signs.rim > 0:
        ring = np.exp(-((d_lesion - width / 2) / (width / 2)) ** 2) * (d_outer < 0)
        view[...] = mix(view, tissue.cortex * 1.5, signs.rim * ring)
    if signs.periosteal != "none":
        _draw_periosteal(view, d_native, theta, float(np.arctan2(offset[1], offset[0])), signs, tissue, lesion_rng)
    mask[g.rows, g.cols] |= d_lesion < 0
    return Placement(bone_centre_mm=tuple(bone_centre), bone_radius_mm=float(bone_table.max()),
                     lesion_centre_mm=lesion_centre, lesion_radius_mm=float(table.max()))


def _draw_periosteal(view, d_outer, theta, direction: float, signs: LesionSigns, tissue: _Tissue, rng) -> None:
    """Aggressive periosteal reaction beside a cortical breach, in a sector of the bone's surface.

    Lamellated: thin dark layers parallel to the cortex ("onion skin"). Sunburst: thin dark spicules
    radiating from the cortex. Both reach 3-9 mm into the soft tissue.
    """
    depth = rng.uniform(3, 9)
    angle = wrap(theta - direction)
    sector = np.exp(-(angle / rng.uniform(0.35, 0.7)) ** 2)
    zone = sector * (d_outer > 0) * np.clip(1 - d_outer / depth, 0, 1)
    if signs.periosteal == "lamellated":
        pattern = np.maximum(np.cos(2 * np.pi * d_outer / rng.uniform(1.4, 2.4)), 0) ** 6
    else:
        pattern = np.maximum(np.cos(angle * (2 * np.pi * 28 / rng.uniform(1.8, 2.8))), 0) ** 8  # ~2 mm apart
    view[...] = mix(view, tissue.cortex * 2, 0.75 * zone * pattern)


def _acquire(scene: np.ndarray, rng) -> np.ndarray:
    """Coil sensitivity, blur, Rician noise and gain: a relative-signal scene becomes uint16 pixel values.

    The coil field is a smooth separable product exp(f(y)) exp(g(x)); the noise is complex Gaussian of
    standard deviation sigma added before taking the magnitude, so air shows Rayleigh noise and low signal is
    biased upwards, as in any magnitude MR image.
    """
    H, W = scene.shape
    y = np.linspace(-1, 1, H, dtype=np.float32)[:, None]
    x = np.linspace(-1, 1, W, dtype=np.float32)[None, :]
    gx, gy, curve = rng.uniform(-0.2, 0.2), rng.uniform(-0.1, 0.25), rng.uniform(-0.15, 0.15)
    gain = rng.uniform(1200, 3400)
    bias = gain * (np.exp(gy * y + curve * y**2)
                   * np.exp(gx * x + curve * x**2 + 0.05 * np.cos(np.pi * x * rng.uniform(1, 2) + rng.uniform(0, 6))))
    signal = ndimage.gaussian_filter(scene * bias, rng.uniform(0.4, 0.8), truncate=2.5)
    sigma = rng.uniform(0.015, 0.04) * gain
    real = rng.standard_normal(scene.shape, dtype=np.float32)
    real *= sigma
    real += signal
    imag = rng.standard_normal(scene.shape, dtype=np.float32)
    imag *= sigma
    real *= real
    imag *= imag
    real += imag
    magnitude = np.sqrt(real, out=real)
    magnitude += 0.5  # round to nearest on the cast below
    return np.minimum(magnitude, 65535, out=magnitude).astype(np.uint16)


@dataclass(frozen=True)
class Scene:
    """A drawn slice before acquisition: T1 signal relative to subcutaneous fat (float32), the lesion mask, the
    pixel spacing (mm) and where the lesion sits."""

    signal: np.ndarray
    mask: np.ndarray
    spacing_mm: float
    placement: Placement


def draw_scene(signs: LesionSigns, rng: np.random.Generator) -> Scene:
    """Draw the anatomy and the lesion ``signs`` of one slice, noise-free (``render`` then acquires it)."""
    spacing = float(rng.uniform(*SPACING_MM))
    tissue = _Tissue(marrow=rng.uniform(0.82, 0.95), muscle=rng.uniform(0.26, 0.38), cortex=rng.uniform(0.02, 0.05),
                     vessel=rng.uniform(0.04, 0.12), skin=rng.uniform(0.45, 0.6))
    image = np.zeros(IMAGE_SHAPE, np.float32)
    mask = np.zeros(IMAGE_SHAPE, bool)
    texture = smooth_noise(IMAGE_SHAPE, 1.0, rng)
    half_gap = rng.uniform(68, 88)
    shift = rng.uniform(-12, 12), rng.uniform(-10, 10)
    lesion_side = int(rng.integers(2))
    lesion_rng = np.random.default_rng(int(rng.integers(2**63)))  # the lesion's own stream (see _draw_femur)
    marrow_noise = smooth_noise(IMAGE_SHAPE, 2.0 / spacing, rng)
    mid = IMAGE_SHAPE[1] // 2 + int(round(shift[0] / spacing))
    placement = None
    for side, medial in ((0, +1), (1, -1)):  # side 0: the patient's right thigh, on the image's left
        centre = (shift[0] - medial * half_gap + rng.uniform(-4, 4), shift[1] + rng.uniform(-4, 4))
        bone_centre = (centre[0] + medial * rng.uniform(0, 8), centre[1] - rng.uniform(5, 14))
        cols = slice(0, mid) if side == 0 else slice(mid, IMAGE_SHAPE[1])
        _draw_thigh(image, spacing, cols, centre, medial, bone_centre, tissue, texture, rng)
        placed = _draw_femur(image, mask, spacing, bone_centre, tissue, marrow_noise,
                             signs if side == lesion_side else None, rng, lesion_rng)
        if side == lesion_side:
            placement = placed
    return Scene(image, mask, spacing, placement)


def render(signs: LesionSigns, rng: np.random.Generator):
    """Draw one slice with the lesion ``signs``: returns (uint16 image, bool lesion mask, spacing in mm)."""
    scene = draw_scene(signs, rng)
    return _acquire(scene.signal, rng), scene.mask, scene.spacing_mm


def case_generator(seed: int, label: int, k: int) -> np.random.Generator:
    """The generator of the k-th case of a class: independent of how many cases are drawn."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(label, k)))


def _draw_signs(seed: int, label: int, k: int, null: bool):
    """The k-th case of a class: its lesion signs and its generator, ready to render.

    In a null set the lesion's appearance does not depend on ``label``: the case first draws which class's laws
    it looks like (malignant with probability ``NULL_MALIGNANT_SHARE``, the same for both labels).
    """
    rng = case_generator(seed, label, k)
    looks_like = int(rng.random() < NULL_MALIGNANT_SHARE) if null else label
    return sample_signs(looks_like, rng), rng


def _make_case(seed: int, label: int, k: int, index: int, null: bool, **changes) -> Case:
    signs, rng = _draw_signs(seed, label, k, null)
    image, mask, spacing = render(dataclasses.replace(signs, **changes), rng)
    return Case(case_id=f"case_{index:04d}", patient_id=f"P{index:04d}", label=label, image=image, box=box_of(mask),
                mask=mask, source="synthetic", spacing_mm=spacing)


def _index_within_class(labels: np.ndarray) -> np.ndarray:
    """k for every position: how many cases of the same class come before it."""
    within_class = np.zeros(len(labels), np.int64)
    for label in (0, 1):
        positions = np.flatnonzero(labels == label)
        within_class[positions] = np.arange(len(positions))
    return within_class


@dataclass(frozen=True)
class SyntheticSet:
    """One synthetic set, named by the four values that fix every case of it: ``n`` cases, ``n_malignant`` of them
    malignant, the generator's ``seed``, and ``null`` (same labels and counts, no class signal: every lesion drawn
    from one class-independent law, see ``_draw_signs``). Case ids are ``case_0000``..., patient ids
    ``P0000``..., one case per patient."""

    n: int = 500
    n_malignant: int = 165
    seed: int = 0
    null: bool = False

    def memory_bytes(self) -> int:
        """Bytes the drawn set takes at its peak: every case's image and mask (``CASE_BYTES``) twice - the list of
        cases and the stacked arrays of its cache file (or of joblib's threads) - checked against the memory budget
        (``femur_app.memory``) before a case is drawn."""
        return 2 * self.n * CASE_BYTES

    def labels(self) -> np.ndarray:
        """Which of the n positions are malignant: a seeded permutation with exactly ``n_malignant`` ones."""
        if not 0 <= self.n_malignant <= self.n:
            raise ValueError(f"synthetic set: n_malignant must lie in [0, n={self.n}], got {self.n_malignant}")
        labels = np.zeros(self.n, np.int64)
        order = np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(2,))).permutation(self.n)
        labels[order[:self.n_malignant]] = MALIGNANT
        return labels

    def cases(self, n_jobs: int = 1) -> list[Case]:
        """Every case of the set, drawn; ``n_jobs`` > 1 (or -1) draws in that many threads (same result: every
        case has its own generator)."""
        labels = self.labels()
        within_class = _index_within_class(labels)
        jobs = [delayed(_make_case)(self.seed, int(labels[i]), int(within_class[i]), i, self.null)
                for i in range(self.n)]
        return list(Parallel(n_jobs=n_jobs, prefer="threads")(jobs))

    def case(self, index: int, **changes) -> Case:
        """Case ``index`` of the set drawn again with the ``LesionSigns`` fields named in ``changes`` replaced,
        e.g. ``breach=False, periosteal="none"``, ``rim=0.7`` or ``oedema=0.0``: a counterfactual of one sign.
        The anatomy, the acquisition and its noise stay identical; only the lesion and its surroundings change
        (switching ``breach`` also moves the lesion, which must cross the cortex or fit inside it). Without
        ``changes`` it is the case exactly as ``cases`` drew it."""
        if not 0 <= index < self.n:
            raise ValueError(f"synthetic set: a case index must lie in [0, n={self.n}), got {index}")
        labels = self.labels()
        return _make_case(self.seed, int(labels[index]), int(_index_within_class(labels)[index]), index, self.null,
                          **changes)

    def signs(self) -> list[LesionSigns]:
        """The ``LesionSigns`` every case was drawn with, in case order, without rendering any image (the signs
        are drawn before the image)."""
        labels = self.labels()
        return [_draw_signs(self.seed, int(label), int(k), self.null)[0]
                for label, k in zip(labels, _index_within_class(labels))]

    def cached_cases(self, cache_dir=None, n_jobs: int = 1) -> list[Case]:
        """``cases()``, stored in ``cache_dir`` (default ``default_cache_dir()``) and read back on later calls.

        The file (an uncompressed ``.npz``, about 0.7 MB per case; masks bit-packed) is named after the four values
        (``_null`` for a null set) and ``GENERATOR_VERSION``, and read with ``allow_pickle=False``.
        """
        name = (f"synthetic_v{GENERATOR_VERSION}_n{self.n}_m{self.n_malignant}_s{self.seed}"
                f"{'_null' if self.null else ''}.npz")
        path = Path(cache_dir or default_cache_dir()) / name
        if path.exists():
            with np.load(path, allow_pickle=False) as f:
                masks = np.unpackbits(f["masks"], axis=-1, count=IMAGE_SHAPE[1]).astype(bool)
                return [Case(case_id=str(cid), patient_id=str(pid), label=int(label), image=image,
                             box=tuple(int(v) for v in box), mask=mask, source="synthetic", spacing_mm=float(spacing))
                        for cid, pid, label, image, box, mask, spacing in zip(
                            f["case_ids"], f["patient_ids"], f["labels"], f["images"], f["boxes"], masks,
                            f["spacing"])]
        cases = self.cases(n_jobs)
        with write_atomic(path) as f:
            np.savez(f, images=np.stack([c.image for c in cases]),
                     masks=np.packbits(np.stack([c.mask for c in cases]), axis=-1),
                     labels=np.array([c.label for c in cases]), boxes=np.array([c.box for c in cases]),
                     spacing=np.array([c.spacing_mm for c in cases]), case_ids=np.array([c.case_id for c in cases]),
                     patient_ids=np.array([c.patient_id for c in cases]))
        return cases


# --- what only the generator knows: the hidden variables, the best possible AUC, the signs per class --------
def hidden_log_likelihood_ratio(signs: LesionSigns, null: bool = False) -> float:
    """log p(a, D | malignant) - log p(a, D | benign) under the generator's own laws: the Bayes-optimal score.

    The label acts on a case only through the hidden aggressiveness a and the diameter D (every other sign is
    a noisy reading of a, everything else is drawn regardless of the class), so no reader of the image can rank
    the cases better than this ratio does. With Beta(alpha_l, beta_l) for a and the exponential tail
    D = 39 mm - E, E ~ Exponential(s_l) truncated at E <= 32 mm:

        log p(a | l) = (alpha_l - 1) log a + (beta_l - 1) log(1 - a) - log B(alpha_l, beta_l)
        log p(D | l) = -(39 - D) / s_l - log s_l - log(1 - exp(-32 / s_l))

    In a null set both labels share one law, so the ratio is 1 (log 0) for every case.
    """
    if null:
        return 0.0
    a, lower, upper = signs.aggressiveness, DIAMETER_MM[0], DIAMETER_MM[1]

    def log_density(label: int) -> float:
        alpha, beta = AGGRESSIVENESS_BETA[label]
        scale = DIAMETER_TAIL_MM[label]
        log_a = (alpha - 1) * np.log(a) + (beta - 1) * np.log1p(-a) - special.betaln(alpha, beta)
        log_d = -(upper - signs.diameter_mm) / scale - np.log(scale) - np.log1p(-np.exp(-(upper - lower) / scale))
        return float(log_a + log_d)

    return log_density(MALIGNANT) - log_density(0)


def ceiling_auc(labels, signs, null: bool = False) -> float:
    """The best AUC achievable on a synthetic set with these ``labels`` and drawn ``signs`` (``SyntheticSet.signs``):
    the AUC of the generator's hidden-variable likelihood ratio (``hidden_log_likelihood_ratio``) on its cases. A
    classifier well above it has seen something it should not (leakage); a null set's ceiling is exactly 0.5."""
    return float(roc_auc_score(labels, [hidden_log_likelihood_ratio(s, null) for s in signs]))


SIGN_RATES = {  # name: what is measured per case (a share when boolean, else a mean)
    "cortical breach": lambda s: s.breach,
    "periosteal reaction, lamellated": lambda s: s.periosteal == "lamellated",
    "periosteal reaction, sunburst": lambda s: s.periosteal == "sunburst",
    "sclerotic rim": lambda s: s.rim > 0,
    "marrow oedema": lambda s: s.oedema > 0,
    "wide zone of transition (> 2 mm)": lambda s: s.transition_mm > 2,
    "heterogeneous (texture > 0.10)": lambda s: s.heterogeneity > 0.10,
    "irregular outline (harmonics > 0.10)": lambda s: s.irregularity > 0.10,
    "diameter > 30 mm": lambda s: s.diameter_mm > 30,
    "mean diameter (mm)": lambda s: s.diameter_mm,
    "mean hidden aggressiveness": lambda s: s.aggressiveness,
}


def sign_rates(labels, signs) -> dict:
    """Class-conditional sign rates of a synthetic set, measured from the ``signs`` the generator drew for its cases
    (``SyntheticSet.signs``) and their ``labels``: {name: (benign value, malignant value)}, a share for a yes/no
    sign and a mean otherwise (names and definitions in ``SIGN_RATES``)."""
    labels = np.asarray(labels)
    values = {name: np.array([float(read(s)) for s in signs]) for name, read in SIGN_RATES.items()}
    return {name: (float(v[labels == 0].mean()), float(v[labels == 1].mean())) for name, v in values.items()}
