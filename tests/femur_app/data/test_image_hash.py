"""The whole-image average hash (femur_app.data.image_hash) against a loop over its definition, and what it must
and must not match."""
import numpy as np
from skimage.transform import rescale

from femur_app.data.image_hash import MAX_DISTANCE, average_hash, hamming


def by_definition(image, size=16):
    """Cell (r, c) spans rows floor(r H / size) .. floor((r + 1) H / size) - 1, and likewise columns."""
    height, width = image.shape
    means = np.array([[image[r * height // size:(r + 1) * height // size,
                             c * width // size:(c + 1) * width // size].mean() for c in range(size)]
                      for r in range(size)])
    return (means > means.mean()).ravel()


def test_against_its_definition():
    rng = np.random.default_rng(1)
    for shape in ((37, 53), (16, 16), (200, 131)):
        image = rng.random(shape)
        np.testing.assert_array_equal(average_hash(image), by_definition(image))
    tiny = rng.random((3, 5))  # smaller than the grid: each pixel repeated until every cell holds one
    np.testing.assert_array_equal(average_hash(tiny), by_definition(np.repeat(np.repeat(tiny, 6, 0), 4, 1)))


def test_matches_a_rescaled_brightened_copy_and_not_a_flipped_or_other_image():
    rng = np.random.default_rng(2)
    image = np.cumsum(np.cumsum(rng.standard_normal((240, 180)), 0), 1)  # smooth structure, like anatomy
    copy = rescale(image, 0.7, anti_aliasing=True) * 1.3 + 5 + rng.normal(0, 0.5, (168, 126))
    other = np.cumsum(np.cumsum(rng.standard_normal((240, 180)), 0), 1)
    hashes = np.array([average_hash(x) for x in (image, copy, image[::-1], other)])
    distance = hamming(hashes[:1], hashes)[0]
    assert distance[0] == 0 and distance[1] <= MAX_DISTANCE < min(distance[2], distance[3])
    assert distance[2] == int((hashes[0] != hashes[2]).sum())  # hamming() counts differing bits
