"""femur_app.predict: the same preprocessing and normalisation as training, JSON lines, clean errors."""
import json

import imageio.v3 as iio
import numpy as np
import pytest

from femur_app import predict
from femur_app.data.normalise import Normalisation
from femur_app.data.preprocess import preprocess
from femur_app.models import build_model, checkpoint
from minicnn.losses import softmax

SIZE = 48


@pytest.fixture
def tiny_checkpoint(tmp_path):
    model = build_model("alexnet_bn", rng=np.random.default_rng(0), width=0.05, input_size=SIZE)
    model.forward(np.random.default_rng(1).standard_normal((4, 1, SIZE, SIZE)).astype(np.float32))  # move BN stats
    path = checkpoint.save_model(tmp_path / "fold_00.npz", model, architecture="alexnet_bn",
                                 model_kwargs={"width": 0.05}, input_size=SIZE, normalisation=Normalisation.from_dict({"mean": [0.2], "std": [0.3]}), threshold=0.4)
    return path, model


def lesion_image(seed):
    rng = np.random.default_rng(seed)
    image = (rng.uniform(0.2, 0.4, (90, 120)) * 60000).astype(np.uint16)
    yy, xx = np.mgrid[:90, :120]
    image[(yy - 45) ** 2 + (xx - 60) ** 2 < 15 ** 2] = 60000
    return image


def test_predicts_like_the_model_and_reports_bad_files(tiny_checkpoint, tmp_path, capsys):
    path, model = tiny_checkpoint
    images = []
    for seed in range(2):
        images.append(tmp_path / f"case{seed}.png")
        iio.imwrite(images[-1], lesion_image(seed))
    broken = tmp_path / "broken.png"
    broken.write_bytes(iio.imread(images[0]).tobytes()[:100])  # not a PNG at all
    status = predict.main(["--model", str(path), "--roi", "40,25,80,65", str(images[0]), str(broken), str(images[1])])
    out, err = capsys.readouterr()
    assert status == 1
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["path"] for r in records] == [str(images[0]), str(images[1])]  # the valid ones, after the bad one
    for record, seed in zip(records, range(2)):
        roi = preprocess(lesion_image(seed), box=(40, 25, 80, 65), size=SIZE).image
        x = ((roi - 0.2) / 0.3)[None, None].astype(np.float32)
        expected = float(softmax(model.forward(x, train=False))[0, 1])
        assert record["prob_malignant"] == pytest.approx(expected, abs=1e-6)
        assert record["label"] == ("malignant" if expected >= 0.4 else "benign") and record["threshold"] == 0.4
    assert err.count("\n") == 1 and err.startswith(f"error: {broken}:") and "Traceback" not in err


def test_bad_checkpoint_and_roi(tmp_path, capsys):
    fake = tmp_path / "fake.npz"
    np.savez(fake, w=np.zeros(3))
    assert predict.main(["--model", str(fake), "x.png"]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {fake}: not a femur_app model checkpoint (metadata format None, expected 'femur_app.model/1')\n"
    with pytest.raises(SystemExit):
        predict.main(["--model", str(fake), "--roi", "1,2,3", "x.png"])
    assert "--roi must be four integers x0,y0,x1,y1, got '1,2,3'" in capsys.readouterr().err


def test_missing_file_is_one_line(tiny_checkpoint, tmp_path, capsys):
    path, _ = tiny_checkpoint
    assert predict.main(["--model", str(path), str(tmp_path / "nope.dcm")]) == 2  # nothing predicted: a user error
    out, err = capsys.readouterr()
    assert out == "" and err.strip() == f"error: {tmp_path / 'nope.dcm'}: file not found"


def test_explain_writes_a_heat_map(tiny_checkpoint, tmp_path, capsys):
    from femur_app import explain

    path, _ = tiny_checkpoint
    image = tmp_path / "case.png"
    iio.imwrite(image, lesion_image(3))
    assert explain.main(["--model", str(path), "--roi", "40,25,80,65", "--out", str(tmp_path / "x"), str(image)]) == 0
    written = tmp_path / "x" / "case.png.gradcam.png"
    assert capsys.readouterr().out.strip() == str(written) and written.stat().st_size > 5000
    assert explain.main(["--model", str(path), "--layer", "conv9", str(image)]) == 2
    assert capsys.readouterr().err.startswith("error: --layer conv9: no such top-level layer in alexnet_bn (expected one")


def test_explain_uses_the_layer_the_model_names(tmp_path, capsys):
    """A GoogLeNet checkpoint has no conv5: explain takes inception5b from the model (it used to fail)."""
    from femur_app import explain

    model = build_model("googlenet", rng=np.random.default_rng(0), width=0.0625, input_size=SIZE + 16)
    path = checkpoint.save_model(tmp_path / "g.npz", model, architecture="googlenet", model_kwargs={"width": 0.0625},
                                 input_size=SIZE + 16, normalisation=Normalisation.from_dict({"mean": [0.2], "std": [0.3]}),
                                 threshold=0.5)
    image = tmp_path / "case.png"
    iio.imwrite(image, lesion_image(4))
    assert explain.main(["--model", str(path), "--out", str(tmp_path / "g"), str(image)]) == 0
    written = tmp_path / "g" / "case.png.gradcam.png"
    assert capsys.readouterr().out.strip() == str(written) and written.stat().st_size > 5000
