"""Bad input to the commands, as a user gives it (issue 14): exactly one line on stderr naming the culprit, no
traceback, and exit status 2 - or 1 from predict and explain when some of several images failed and the others
were still done. A prediction is always valid JSON with a probability in [0, 1]."""
import json
import struct
import tracemalloc
import zlib

import imageio.v3 as iio
import numpy as np
import pytest

from femur_app import compare, explain, predict, preview, synth, train
from femur_app.data.normalise import Normalisation
from femur_app.models import build_model, checkpoint
from minicnn import serialize

SIZE = 48
GOOD_NORM = {"mean": [0.2], "std": [0.3]}


def save(path, model=None, normalisation=GOOD_NORM, **metadata):
    model = model or build_model("alexnet_bn", rng=np.random.default_rng(0), width=0.05, input_size=SIZE)
    return checkpoint.save_model(path, model, architecture="alexnet_bn", model_kwargs={"width": 0.05},
                                 input_size=SIZE, normalisation=Normalisation.from_dict(normalisation),
                                 threshold=0.4, extra=metadata)


def image(path, seed=0, constant=False):
    """A 120 x 90 slice: noise with a bright disk whose radius follows ``seed`` (or every pixel 7)."""
    rng = np.random.default_rng(seed)
    pixels = (rng.uniform(0.2, 0.4, (90, 120)) * 60000).astype(np.uint16)
    yy, xx = np.mgrid[:90, :120]
    pixels[(yy - 45) ** 2 + (xx - 60) ** 2 < (10 + 5 * seed) ** 2] = 60000
    if constant:
        pixels[:] = 7
    path.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(path, pixels)
    return path


def one_line(capsys, status, expected_status=2) -> str:
    out, err = capsys.readouterr()
    assert status == expected_status, err
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err, err
    return err.rstrip("\n")


@pytest.fixture
def model_path(tmp_path):
    return save(tmp_path / "model.npz")


# --- predict: the checkpoint ------------------------------------------------------------------------------------
def test_nan_weights_are_refused_naming_the_checkpoint(tmp_path, capsys):
    model = build_model("alexnet_bn", rng=np.random.default_rng(0), width=0.05, input_size=SIZE)
    model.state_dict()["conv3.weight"][0, 0, 0, 0] = np.nan
    path = save(tmp_path / "nan.npz", model)
    line = one_line(capsys, predict.main(["--model", str(path), str(image(tmp_path / "a.png"))]))
    assert line.startswith(f"error: {path}: non-finite values (NaN or inf) in conv3.weight (expected the finite")


def test_a_normalisation_std_of_zero_is_refused(tmp_path, capsys):
    path = save(tmp_path / "std0.npz", normalisation={"mean": [0.2], "std": [0.0]})
    line = one_line(capsys, predict.main(["--model", str(path), str(image(tmp_path / "a.png"))]))
    assert line == (f"error: {path}: metadata normalisation is {{'mean': [0.20000000298023224], 'std': [0.0]}} "
                    "(expected finite mean and std > 0 for 1 to 4 channels)")


def test_a_model_that_overflows_is_refused_and_stdout_stays_valid_json(tmp_path, capsys):
    """Finite weights that overflow float32 on the way: P(malignant) would be NaN, reported as 'benign' before."""
    model = build_model("alexnet_bn", rng=np.random.default_rng(0), width=0.05, input_size=SIZE)
    for name, value in model.state_dict().items():
        if name.endswith("weight") and value.ndim > 1:
            value *= 1e8
    path = save(tmp_path / "overflow.npz", model)
    first, second = image(tmp_path / "a.png", 0), image(tmp_path / "b.png", 1)
    with np.errstate(all="ignore"):
        status = predict.main(["--model", str(path), str(first), str(second)])
    out, err = capsys.readouterr()
    assert status == 2 and out == "" and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"error: {path}: computes P(malignant) = nan for {first} (expected a finite probability")


@pytest.mark.parametrize("key, value, expected", [
    ("input_size", 20000, "an integer from 1 to 1024 pixels"),
    ("input_size", "224", "an integer from 1 to 1024 pixels"),
    ("model_kwargs", {"width": 0.05, "depth": 3}, "only the keys ['width', 'dropout', 'l2', 'l2_layers']"),
    ("model_kwargs", {"width": 1000.0}, "model.width: got 1000.0 (expected a channel multiplier > 0 and at most 4.0)"),
    ("model_kwargs", {"width": "wide"}, "must be real number"),
    ("threshold", "high", "a number strictly between 0 and 1"),
    ("threshold", float("nan"), "a number strictly between 0 and 1"),
    ("class_names", ["a"], "['benign', 'malignant']"),
])
def test_checkpoint_metadata_out_of_bounds_is_one_line_before_any_network_is_built(tmp_path, capsys, key, value,
                                                                                    expected):
    path = save(tmp_path / "bad.npz")
    state, metadata = serialize.load(path)
    serialize.save(path, state, {**metadata, key: value})
    tracemalloc.start()
    status = predict.main(["--model", str(path), "x.png"])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    line = one_line(capsys, status)
    assert line.startswith(f"error: {path}: metadata {key} is ") and expected in line, line
    assert peak < 64 * 2**20  # an input_size of 20000 would need 47 GiB; nothing of that is allocated


def test_metadata_that_is_a_json_list_is_one_line(tmp_path, capsys):
    path = tmp_path / "list.npz"
    np.savez(path, w=np.zeros(3), __metadata__=np.array(json.dumps(["format", "femur_app.model/1"])))
    line = one_line(capsys, predict.main(["--model", str(path), "x.png"]))
    assert line.startswith(f"error: {path}: unreadable model checkpoint (") and "expected a JSON object" in line


# --- predict: the images ----------------------------------------------------------------------------------------
def png_declaring(width, height) -> bytes:
    """A PNG whose header declares width x height pixels and whose data are a few bytes (a decompression bomb's
    header, without the bomb)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def test_a_huge_declared_image_is_refused_before_decoding(model_path, tmp_path, capsys):
    huge = tmp_path / "huge.png"
    huge.write_bytes(png_declaring(20480, 20480))
    good = image(tmp_path / "good.png")
    tracemalloc.start()
    status = predict.main(["--model", str(model_path), str(huge), str(good)])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    out, err = capsys.readouterr()
    assert status == 1 and [json.loads(line)["path"] for line in out.splitlines()] == [str(good)]
    assert err.count("\n") == 1 and err.startswith(f"error: {huge}: ") and "max_pixels = 26,214,400" in err
    assert peak < 256 * 2**20  # decoding would need 400 MiB
    status = predict.main(["--model", str(model_path), "--max-pixels", "10000", str(good)])  # the cap is a flag
    assert "max_pixels = 10,000" in one_line(capsys, status, 2)  # no image read: nothing was predicted


def test_a_constant_image_is_refused_by_predict(model_path, tmp_path, capsys):
    flat = image(tmp_path / "flat.png", constant=True)
    line = one_line(capsys, predict.main(["--model", str(model_path), str(flat)]), 2)
    assert line.startswith(f"error: {flat}: every pixel of the 120x90 image is 7: it carries no signal")


def test_explain_with_no_readable_image_exits_2_like_predict(model_path, tmp_path, capsys):
    missing = tmp_path / "missing.png"
    line = one_line(capsys, explain.main(["--model", str(model_path), "--out", str(tmp_path / "maps"), str(missing)]), 2)
    assert line == f"error: {missing}: file not found"


def test_every_prediction_is_valid_json_in_the_unit_interval(model_path, tmp_path, capsys):
    paths = [str(image(tmp_path / f"{seed}.png", seed)) for seed in range(3)]
    assert predict.main(["--model", str(model_path), *paths]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["path"] for r in records] == paths and all(0 <= r["prob_malignant"] <= 1 for r in records)


# --- explain ----------------------------------------------------------------------------------------------------
def test_explain_names_outputs_by_their_path_so_none_overwrites_another(model_path, tmp_path, capsys):
    first, second = image(tmp_path / "in" / "a" / "x.png", 0), image(tmp_path / "in" / "b" / "x.png", 1)
    out = tmp_path / "maps"
    assert explain.main(["--model", str(model_path), "--out", str(out), str(first), str(second)]) == 0
    written = capsys.readouterr().out.split()
    assert written == [str(out / "a" / "x.png.gradcam.png"), str(out / "b" / "x.png.gradcam.png")]
    assert (out / "a" / "x.png.gradcam.png").read_bytes() != (out / "b" / "x.png.gradcam.png").read_bytes()


# --- --data and --out in every command that takes them ------------------------------------------------------------
@pytest.fixture
def places(tmp_path):
    (tmp_path / "a_file").write_text("not a folder")
    (tmp_path / "empty").mkdir()
    return tmp_path


SMOKE = ["--quick", "--config", "femur_app/configs/smoke.toml"]


@pytest.mark.parametrize("data, message", [
    ("a_file", "{p}: is a file; expected a data folder"),
    ("missing", "{p}: not found; expected a data folder"),
    ("empty", "{p}: expected labels.csv, or subfolders benign/ and malignant/"),
])
@pytest.mark.parametrize("command", ["train", "compare", "preview"])
def test_a_data_folder_that_is_a_file_missing_or_empty(places, capsys, command, data, message):
    path, out = places / data, str(places / "out")
    argv = {"train": [*SMOKE, "--data", str(path), "--out", out],
            "compare": ["--quick", "--models", "alexnet_bn,radiomics", "--data", str(path), "--out", out],
            "preview": ["--data", str(path), "--out", out]}[command]
    module = {"train": train, "compare": compare, "preview": preview}[command]
    assert one_line(capsys, module.main(argv)) == "error: " + message.format(p=path)


@pytest.mark.parametrize("command", ["train", "compare", "synth", "explain", "preview"])
def test_an_out_that_is_a_file(places, model_path, capsys, command):
    out = places / "a_file"
    argv = {"train": [*SMOKE, "--out", str(out)],
            "compare": ["--quick", "--models", "alexnet_bn,radiomics", "--out", str(out)],
            "synth": ["--out", str(out), "--n", "4"],
            "explain": ["--model", str(model_path), "--out", str(out), "x.png"],
            "preview": ["--out", str(out), "--n", "4"]}[command]
    module = {"train": train, "compare": compare, "synth": synth, "explain": explain, "preview": preview}[command]
    line = one_line(capsys, module.main(argv))
    assert line.startswith(f"error: ") and str(out) in line and "is a file" in line, line


@pytest.mark.parametrize("argv, expected", [
    (["--n", "0"], "--n 0 --n-malignant 0: not a data set with both classes"),
    (["--n", "10", "--n-malignant", "10"], "--n 10 --n-malignant 10: not a data set with both classes"),
])
def test_synth_refuses_a_set_without_both_classes(tmp_path, capsys, argv, expected):
    line = one_line(capsys, synth.main(["--out", str(tmp_path / "s"), *argv]))
    assert line.startswith(f"error: {expected}") and not (tmp_path / "s").exists()
