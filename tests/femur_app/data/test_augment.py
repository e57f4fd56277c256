"""Augmentation: exact geometry of each transform, determinism from the passed Generator, config checks."""
from dataclasses import replace

import numpy as np
import pytest
from scipy import ndimage

from femur_app.data.augment import AugmentConfig, Transform, apply_transform, augment, draw_transform

ONLY_ROTATION = AugmentConfig(max_translate=0.0, scale=(1.0, 1.0), max_rotate_deg=40.0, hflip=0.0, vflip=0.0)


def _image(shape=(33, 40), seed=0):
    return np.random.default_rng(seed).random(shape).astype(np.float32)


def test_zero_ranges_give_the_input_back_exactly_and_still_draw_six_numbers_per_image():
    batch = np.stack([_image(seed=s) for s in range(3)])
    rng = np.random.default_rng(1)
    out = augment(batch, rng, AugmentConfig.none())
    assert out.dtype == np.float32 and np.array_equal(out, batch)
    reference = np.random.default_rng(1)
    reference.random(18)  # 3 images x 6 uniforms
    assert rng.random() == reference.random()


@pytest.mark.parametrize("flip, reverse", [("hflip", np.fliplr), ("vflip", np.flipud)])
def test_flip_is_an_exact_mirror_and_twice_is_identity(flip, reverse):
    cfg = replace(AugmentConfig.none(), **{flip: 1.0})
    x = _image()
    once = augment(x, np.random.default_rng(0), cfg)
    assert np.array_equal(once, reverse(x))
    assert np.array_equal(augment(once, np.random.default_rng(5), cfg), x)


def test_rotation_by_the_generator_chosen_angle_matches_scipy_rotate():
    x = _image()
    out = augment(x, np.random.default_rng(7), ONLY_ROTATION)
    u = np.random.default_rng(7).random(6)
    angle = (2 * u[2] - 1) * 40.0
    assert angle != 0
    expected = ndimage.rotate(x, angle, reshape=False, order=1, mode="constant", cval=0.0)
    np.testing.assert_allclose(out, expected, atol=1e-6)


def test_shift_moves_the_image_by_that_many_pixels_filling_zeros():
    x = _image()
    out = apply_transform(x, Transform(False, False, 0.0, 1.0, shift=(3.0, -2.0)))  # 3 right, 2 up
    np.testing.assert_allclose(out[:-2, 3:], x[2:, :-3], atol=1e-6)
    assert np.all(out[:, :3] == 0) and np.all(out[-2:, :] == 0)


def test_scale_enlarges_a_centred_disc_by_the_drawn_factor():
    yy, xx = np.mgrid[:101, :101]
    disc = ((yy - 50) ** 2 + (xx - 50) ** 2 <= 15**2).astype(np.float32)
    out = apply_transform(disc, Transform(False, False, 0.0, 1.5, (0.0, 0.0)))
    assert out.sum() == pytest.approx(disc.sum() * 1.5**2, rel=0.02)
    assert out[50, 50] == 1.0 and out[50, 50 + 21] == 1.0 and out[50, 50 + 24] == 0.0


def test_draws_stay_within_the_configured_ranges():
    cfg = AugmentConfig(max_translate=0.1, scale=(0.8, 1.2), max_rotate_deg=10.0, hflip=0.5, vflip=0.5)
    rng = np.random.default_rng(3)
    ts = [draw_transform(rng, cfg, (50, 100)) for _ in range(400)]
    assert max(abs(t.angle_deg) for t in ts) <= 10 and min(t.scale for t in ts) >= 0.8
    assert max(t.scale for t in ts) <= 1.2
    assert max(abs(t.shift[0]) for t in ts) <= 10 and max(abs(t.shift[1]) for t in ts) <= 5
    assert 0.4 < np.mean([t.hflip for t in ts]) < 0.6 and 0.4 < np.mean([t.vflip for t in ts]) < 0.6


def test_same_seed_same_batch_and_each_image_its_own_transform_shared_by_its_channels():
    x = np.repeat(_image()[None, None], 4, axis=0)
    x = np.concatenate([x, x], axis=1)  # (4, 2, H, W), both channels equal
    cfg = AugmentConfig()
    a = augment(x, np.random.default_rng(11), cfg)
    b = augment(x, np.random.default_rng(11), cfg)
    assert a.shape == x.shape and a.dtype == np.float32
    assert np.array_equal(a, b)
    assert np.array_equal(a[:, 0], a[:, 1])
    assert not np.array_equal(a[0], a[1])
    assert not np.array_equal(a, augment(x, np.random.default_rng(12), cfg))


def test_config_from_dict_and_clear_errors():
    cfg = AugmentConfig.from_dict({"max_rotate_deg": 20, "scale": [0.8, 1.25], "hflip": 0.0})
    assert cfg == AugmentConfig(max_translate=0.1, scale=(0.8, 1.25), max_rotate_deg=20, hflip=0.0, vflip=0.5)
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['rotate'\]"):
        AugmentConfig.from_dict({"rotate": 10})
    with pytest.raises(ValueError, match=r"scale = \(1.2, 0.8\).*hflip = 1.5"):
        AugmentConfig(scale=(1.2, 0.8), hflip=1.5)
    with pytest.raises(ValueError, match=r"expected \(H, W\), \(N, H, W\) or \(N, C, H, W\)"):
        augment(np.zeros(5), np.random.default_rng(0), cfg)
