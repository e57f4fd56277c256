"""A data folder's memory is estimated from its images' headers and refused above the budget before any image is
decoded (femur_app/data/folder_memory.py); the bytes per pixel it assumes are measured here against what reading
and preprocessing really allocate."""
import os
import shutil
import threading
import time
import tracemalloc
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from femur_app import memory, preview
from femur_app.data import folder_memory
from femur_app.data.dataset import Case, prepare_arrays
from femur_app.data.loaders import read_image
from femur_app.data.preprocess import preprocess
from femur_app.train import main


def image(height, width, dtype) -> np.ndarray:
    """A lesion-like bright disc on a ramp: not constant, so every loader takes it."""
    yy, xx = np.mgrid[:height, :width]
    disc = (yy - height / 2) ** 2 + (xx - width / 3) ** 2 < (min(height, width) / 4) ** 2
    values = 20 + 100 * disc + (yy + xx) % 50
    return values.astype(dtype)


@pytest.mark.parametrize("shape", [(1200, 1200), (600, 2400), (2400, 600)])  # 1:1 and both 4:1 limits
@pytest.mark.parametrize("suffix, dtype", [(".png", np.uint8), (".png", np.uint16), (".jpg", np.uint8),
                                           (".tif", np.uint16), (".tif", np.float32), (".tif", np.float64)])
def test_the_bytes_per_pixel_bound_what_reading_and_preprocessing_allocate(tmp_path, shape, suffix, dtype):
    path = tmp_path / f"x{suffix}"
    iio.imwrite(path, image(*shape, dtype))
    declared = folder_memory.declared(path)
    pixels = shape[0] * shape[1]
    assert declared.pixels == pixels and declared.samples == 1
    tracemalloc.start()
    pixels_read, _ = read_image(path)
    _, reading = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    tracemalloc.start()
    preprocess(pixels_read, None, size=224)
    _, preprocessing = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert pixels_read.nbytes <= declared.held_per_pixel * pixels
    assert reading <= (pixels * (declared.held_per_pixel + folder_memory.DECODE_BYTES_PER_SAMPLE)
                       + folder_memory.OVERHEAD_BYTES)
    assert pixels_read.nbytes + preprocessing <= declared.working_bytes()


@pytest.mark.skipif(not Path("/dev/shm").is_dir(), reason="joblib memory-maps its workers' arguments in /dev/shm")
def test_preprocessing_workers_get_a_second_copy_of_the_images_in_shared_memory():
    """Why ``need`` counts the held images twice: joblib hands each worker its image as a memory-mapped file."""
    cases = [Case(case_id=f"c{i}", patient_id=f"p{i}", label=i % 2, image=image(1000, 1000, np.uint16), box=None,
                  mask=None, source="x", spacing_mm=None) for i in range(12)]
    held = sum(case.image.nbytes for case in cases)
    peak, done = [0], threading.Event()
    start = shutil.disk_usage("/dev/shm").used

    def watch():
        while not done.is_set():
            peak[0] = max(peak[0], shutil.disk_usage("/dev/shm").used - start)
            time.sleep(0.005)

    watcher = threading.Thread(target=watch)
    watcher.start()
    prepare_arrays(cases, size=64, cache=False, n_jobs=2)
    done.set()
    watcher.join()
    assert 0.9 * held <= peak[0] <= 1.2 * held


def write_folder(folder: Path, n: int, shape=(1000, 1000)) -> None:
    for label in ("benign", "malignant"):
        (folder / label).mkdir(parents=True)
        for k in range(n):
            iio.imwrite(folder / label / f"c{k}.png", image(*shape, np.uint8))


def test_the_estimate_adds_held_working_and_prepared_bytes(tmp_path, monkeypatch):
    folder = tmp_path / "data"
    write_folder(folder, 3, (1000, 800))
    (folder / "benign" / "notes.txt").write_text("not an image: the loader refuses it, the estimate leaves it out")
    images = [folder_memory.declared(path) for path in folder_memory.listed_files(folder)]
    assert images.count(None) == 1
    images = [i for i in images if i]
    assert len(images) == 6 and images[0] == folder_memory.Declared(800_000, 1, 2)
    held, working, prepared = 2 * 6 * 800_000 * 2, 2 * (800_000 * (2 + 48) + 2**20), 2 * 6 * 96 * 96 * 4
    assert folder_memory.need(images, 96, workers=2) == held + working + prepared == 101_739_520


def test_a_pipe_among_the_images_is_left_to_the_loader_unopened(tmp_path):
    """Opening a FIFO for its header would wait for a writer forever; the loader refuses it without opening it."""
    folder = tmp_path / "data"
    write_folder(folder, 1, (40, 40))
    os.mkfifo(folder / "malignant" / "pipe.png")
    assert [folder_memory.declared(path) for path in folder_memory.listed_files(folder)] == [
        folder_memory.Declared(1600, 1, 2), folder_memory.Declared(1600, 1, 2), None]


def test_labels_csv_lists_its_paths_and_masks_inside_the_folder_only(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    outside = tmp_path / "outside.png"
    iio.imwrite(outside, image(10, 10, np.uint8))
    (folder / "labels.csv").write_text("path,label,patient_id,mask_path\na.png,benign,p1,a_mask.png\n"
                                       f"{outside},malignant,p2,\n../outside.png,benign,p3,\n")
    assert folder_memory.listed_files(folder) == [folder / "a.png", folder / "a_mask.png"]
    assert folder_memory.listed_files(folder, allow_outside=True) == [
        folder / "a.png", folder / "a_mask.png", outside, folder / "../outside.png"]


def test_a_folder_too_large_for_the_budget_is_refused_before_any_image_is_decoded(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "data"
    write_folder(folder, 10, (2000, 2000))  # 20 images of 4,000,000 pixels: 320 MB held, 402 MB working
    monkeypatch.setenv(memory.ENV, "0.5")  # 537 MB: the network (0.2 GiB) and one image at the cap fit
    monkeypatch.setattr(folder_memory.joblib, "cpu_count", lambda: 2)  # two preprocessing workers, on any machine
    decoded = []
    monkeypatch.setattr("femur_app.data.loaders.iio.imread", lambda *a, **k: decoded.append(a) or 1 / 0)
    out = tmp_path / "run"
    assert main(["--quick", "--data", str(folder), "--max-pixels", "4000000", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == (f"error: --data {folder}: 20 images of 80,000,000 pixels in all (the largest 4,000,000), "
                   "prepared at data.input_size 96: needs about 0.7 GiB of memory, more than the budget of 0.5 GiB "
                   f"({memory.ENV}=0.5) (expected smaller values; {memory.ENV}=N raises the budget to N GiB)\n")
    assert decoded == [] and not out.exists()
    monkeypatch.setenv(memory.ENV, "0.7")  # 752 MB: the estimate, 723 MB, fits
    assert folder_memory.check(folder, 96, 4_000_000) is None


def test_a_pixel_cap_whose_one_image_exceeds_the_budget_is_refused_from_the_configuration(tmp_path, monkeypatch,
                                                                                          capsys):
    folder = tmp_path / "data"
    write_folder(folder, 2, (50, 50))
    monkeypatch.setenv(memory.ENV, "8")
    out = tmp_path / "run"
    assert main(["--quick", "--data", str(folder), "--max-pixels", str(2**31), "--out", str(out)]) == 2
    assert capsys.readouterr().err == (
        "error: data.max_pixels 2,147,483,648 (one image of that many pixels, read and preprocessed): needs about "
        f"104.0 GiB of memory, more than the budget of 8.0 GiB ({memory.ENV}=8) (expected smaller values; "
        f"{memory.ENV}=N raises the budget to N GiB)\n")
    assert not out.exists()


def test_preview_estimates_the_folder_it_draws_from(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "data"
    write_folder(folder, 10, (2000, 2000))
    monkeypatch.setenv(memory.ENV, "0.5")
    monkeypatch.setattr(folder_memory.joblib, "cpu_count", lambda: 2)
    assert preview.main(["--data", str(folder), "--max-pixels", "4000000", "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err == (
        f"error: --data {folder}: 20 images of 80,000,000 pixels in all (the largest 4,000,000): needs about 0.7 GiB "
        f"of memory, more than the budget of 0.5 GiB ({memory.ENV}=0.5) (expected smaller values; {memory.ENV}=N "
        "raises the budget to N GiB)\n")
