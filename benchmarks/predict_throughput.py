"""Throughput of ``python -m femur_app.predict`` beside PyTorch's, on the same images and the same weights.

    python benchmarks/predict_throughput.py                    # the paper's AlexNet-BN at 224 px, 64 images
    python benchmarks/predict_throughput.py --n 16 --set data.input_size=96 --set model.width=0.25
    python benchmarks/predict_throughput.py --reuse-freed-memory   # glibc keeps freed blocks (both frameworks)

Set-up, in a temporary folder:

1. The configured network (``femur_app/configs/paper.toml``, changed by ``--set SECTION.KEY=VALUE`` as in
   ``femur_app.train``) is built as training builds it (``femur_app.training.fold.make_model``, seed 0) and
   written as a model checkpoint (``femur_app.models.checkpoint.save_model``) with the normalisation statistics
   a training fold would have (those of the preprocessed lesion ROIs of the images below). The weights are
   random, never trained: the time of a forward pass does not depend on their values, so throughput needs no
   training - the probabilities themselves mean nothing.
2. ``--n`` synthetic MRI slices (``femur_app.data.synthetic.SyntheticSet``: 460 x 700, uint16) are written as
   16-bit PNG files, read by femur_app's loaders as they read a user's files.
3. The ROI: ``predict`` takes one ``--roi`` box for all its images, and the synthetic lesions lie at different
   places in either femur, so the default ROI is the smallest box holding every image's lesion box
   (``--roi union``); ``--roi none`` predicts on the whole slices, ``--roi x0,y0,x1,y1`` on a given box.

``--reuse-freed-memory`` makes the process keep freed memory for reuse from the start
(``minicnn.fast.reuse_freed_memory``, process-wide, so for both frameworks). The timings below repeat the command
in one warm process; a user's command runs once in a fresh process, which ``benchmarks/allocator_ab.py --job
predict`` times, with and without that setting.

What is timed (best of ``--repeat``; all timings take turns inside each repeat, as ``benchmarks/compare.py``'s
``interleaved``, so machine noise hits them alike):

a. the whole command, in process: ``femur_app.predict.main(["--model", CHECKPOINT, "--roi", ROI, *PNGS])`` -
   loading the checkpoint, then per image reading, preprocessing, standardising, classifying and printing a
   JSON line (stdout captured and checked: one line per image). Python's start-up and imports are not counted.
   Its parts are timed apart too: ``checkpoint.load``, ``prepare_image`` of every file, and (b) at batch 1.
b. inference only, minicnn: ``model.forward(x, train=False)`` of the checkpoint's model on the inputs that
   ``femur_app.evaluation.inference.prepare_image`` makes of the files (as predict does), one image at a time
   (batch 1, as predict runs) and as one batch of n.
c. inference only, PyTorch, the same two ways: the twin of ``benchmarks/alexnet.build_torch`` (same weights;
   the batch-norm parameters and running statistics copied too, and a padded max pool padded with -inf as in
   minicnn) in ``net.eval()`` under ``torch.no_grad()``, on ``torch.set_num_threads(2)``. PyTorch is optional:
   without it its rows are skipped with a note.

Checks, printed: predict's probabilities equal minicnn's batch-1 forward on the prepared inputs (to predict's six
digits), and minicnn and PyTorch agree: max |P(malignant) difference| < 1e-4, and the logits differ by at most
1e-3 of their largest magnitude (untrained logits can be so small that every probability is close to 0.5, which
the first bound alone would not tell apart from a wrong twin). A failed check makes the exit status 1.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import resource
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import imageio.v3 as iio
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))  # appended, so a PYTHONPATH pointing at another checkout still wins

from benchmarks import alexnet  # noqa: E402
from benchmarks.compare import interleaved, try_import_torch  # noqa: E402
from femur_app import config as configuration  # noqa: E402
from femur_app import predict  # noqa: E402
from femur_app.data.dataset import prepare_arrays  # noqa: E402
from femur_app.data.normalise import Normalisation  # noqa: E402
from femur_app.data.synthetic import SyntheticSet  # noqa: E402
from femur_app.evaluation.inference import prepare_image  # noqa: E402
from femur_app.models import checkpoint  # noqa: E402
from femur_app.training.fold import make_model  # noqa: E402
from minicnn.fast import reuse_freed_memory  # noqa: E402
from minicnn.losses import softmax  # noqa: E402

SEED = 0
PROB_BOUND = 1e-4  # max |P(malignant) minicnn - torch|
LOGIT_BOUND = 1e-3  # max |logit difference| / max |logit|
PREDICT_DIGITS_BOUND = 1e-6  # predict rounds its probabilities to 6 digits


# --- set-up --------------------------------------------------------------------------------------------------------
def resolve_config(assignments):
    """paper.toml changed by each ``--set`` text, as ``femur_app.train`` resolves them."""
    overrides = [(f"--set {text}", configuration.parse_assignment(text)) for text in assignments]
    return configuration.resolve(overrides=overrides)


def synthetic_cases(config, n: int, n_jobs: int = -1):
    """``n`` synthetic cases of the configured generator seed, malignant in the paper's proportion (165 of 500)."""
    return SyntheticSet(n, round(n * 165 / 500), config.data.synthetic_seed).cases(n_jobs)


def write_images(cases, folder: Path) -> list[Path]:
    """Each case's uint16 slice as a 16-bit PNG in ``folder``."""
    paths = []
    for case in cases:
        path = folder / f"{case.case_id}.png"
        iio.imwrite(path, case.image)
        paths.append(path)
    return paths


def write_checkpoint(config, cases, path: Path) -> Path:
    """The configured network with random weights (seed ``SEED``), saved as femur_app's training saves a fold."""
    model = make_model(config.model, config.train, config.data.input_size, np.random.default_rng(SEED))
    X, *_ = prepare_arrays(cases, size=config.data.input_size, cache=False, n_jobs=1, roi=config.data.roi)
    checkpoint.save_model(path, model, architecture=config.model.name, model_kwargs=config.model.builder_kwargs(),
                          input_size=config.data.input_size, normalisation=Normalisation.of(X),
                          threshold=config.cv.threshold, extra={"preprocess": {"roi": config.data.roi}})
    return path


def choose_roi(text: str, cases) -> str | None:
    """predict's ``--roi`` text: the union of the cases' lesion boxes, None (whole slices) or the given box."""
    if text == "none":
        return None
    if text == "union":
        boxes = np.array([case.box for case in cases])
        text = ",".join(str(v) for v in (*boxes[:, :2].min(axis=0), *boxes[:, 2:].max(axis=0)))
    predict.parse_roi(text)  # the same check predict makes
    return text


@dataclass
class Setup:
    """The files of one benchmark: the checkpoint, the images, and predict's ``--roi`` text (None: no ROI)."""

    model_path: Path
    paths: list[Path]
    roi: str | None

    def predict_argv(self) -> list[str]:
        return ["--model", str(self.model_path), *(["--roi", self.roi] if self.roi else []), *map(str, self.paths)]

    def roi_box(self):
        return predict.parse_roi(self.roi) if self.roi else None


def set_up(config, cases, roi_option: str, folder: Path) -> Setup:
    """Write the checkpoint and the images into ``folder``."""
    return Setup(write_checkpoint(config, cases, folder / "model.npz"), write_images(cases, folder),
                 choose_roi(roi_option, cases))


# --- what is timed -------------------------------------------------------------------------------------------------
def run_predict(argv: list[str]) -> tuple[int, str, str]:
    """``femur_app.predict.main(argv)`` in this process -> (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = predict.main(argv)
    return status, out.getvalue(), err.getvalue()


def minicnn_logits(model, batches) -> np.ndarray:
    return np.concatenate([np.array(model.forward(x, train=False)) for x in batches])


def torch_logits(torch, net, batches) -> np.ndarray:
    with torch.no_grad():
        return np.concatenate([net(x).numpy() for x in batches])


def torch_twin(torch, model):
    """The PyTorch twin of the checkpoint's model in eval mode, or None (with a note) if there is none.

    ``build_torch`` leaves batch norm at its initial state and drops a max pool's padding (none at 224 px, but
    some at other sizes): both are completed here."""
    try:
        net, _ = alexnet.build_torch(model)
    except (TypeError, AttributeError) as error:
        print(f"torch: no PyTorch twin for this model ({error}) - skipped")
        return None
    for i, layer in enumerate(model.layers):
        kind = type(layer).__name__
        if kind == "BatchNorm2d":
            copy_batch_norm(torch, layer, net[i])
        elif kind == "MaxPool2d" and any(any(pair) for pair in layer.padding):
            (top, bottom), (left, right) = layer.padding
            net[i] = torch.nn.Sequential(torch.nn.ConstantPad2d((left, right, top, bottom), -np.inf), net[i])
    return net.eval()


def copy_batch_norm(torch, layer, twin) -> None:
    """minicnn BatchNorm2d's gamma, beta and running statistics into its torch twin."""
    with torch.no_grad():
        for name, value in (("weight", layer.params["gamma"]), ("bias", layer.params["beta"]),
                            ("running_mean", layer.buffers["running_mean"]),
                            ("running_var", layer.buffers["running_var"])):
            getattr(twin, name).copy_(torch.from_numpy(np.asarray(value)))


def timed_calls(setup: Setup, model, inputs, torch, net) -> dict:
    """{row: callable} for every timing: predict's whole command and its parts (returning predict's output, a
    model, inputs) and the forward passes (returning logits), minicnn and torch alternating."""
    calls = {"command": lambda: run_predict(setup.predict_argv()),
             "load": lambda: checkpoint.load(setup.model_path),
             "prepare": lambda: [prepare_image(p, model, setup.roi_box()) for p in setup.paths]}
    for size, xs in {"1": list(inputs), "n": [np.concatenate(inputs)]}.items():
        calls[f"minicnn {size}"] = lambda xs=xs: minicnn_logits(model.model, xs)
        if net is not None:
            txs = [torch.from_numpy(x) for x in xs]
            calls[f"torch {size}"] = lambda txs=txs: torch_logits(torch, net, txs)
    return calls


# --- checks --------------------------------------------------------------------------------------------------------
def probabilities(logits: np.ndarray) -> np.ndarray:
    return softmax(logits.astype(np.float64))[:, 1]


def check_command(result, n: int, minicnn_probs: np.ndarray) -> str:
    """predict's run must succeed with one JSON line per image, matching minicnn's batch-1 probabilities."""
    status, out, err = result
    lines = out.splitlines()
    if status != 0 or len(lines) != n:
        raise SystemExit(f"femur_app.predict failed (exit status {status}, {len(lines)} of {n} lines): {err.strip()}")
    diff = float(np.abs(np.array([json.loads(line)["prob_malignant"] for line in lines]) - minicnn_probs).max())
    if diff > PREDICT_DIGITS_BOUND:
        raise SystemExit(f"femur_app.predict's probabilities differ from minicnn's forward on the prepared inputs "
                         f"by {diff:.1e} (expected at most {PREDICT_DIGITS_BOUND:g}: the same inputs and model)")
    return (f"check: femur_app.predict's {n} probabilities = minicnn's batch-1 forward on the prepared inputs "
            f"(max difference {diff:.1e}; predict rounds to 6 digits)")


def agreement(outputs: dict) -> tuple[bool, str]:
    """minicnn against torch, batch 1 with batch 1 and batch n with batch n: (agree?, the line to print)."""
    pairs = [(outputs[f"minicnn {b}"], outputs[f"torch {b}"]) for b in ("1", "n")]
    prob_diff = max(float(np.abs(probabilities(m) - probabilities(t)).max()) for m, t in pairs)
    logit_diff = max(float(np.abs(m.astype(np.float64) - t).max()) for m, t in pairs)
    scale = max(float(np.abs(m).max()) for m, _ in pairs)
    ok = prob_diff < PROB_BOUND and logit_diff <= LOGIT_BOUND * max(scale, 1e-30)
    return ok, (f"agreement, minicnn vs torch (batch 1 and batch n): max |P(malignant) difference| {prob_diff:.1e} "
                f"(bound {PROB_BOUND:g}), max |logit difference| {logit_diff:.1e} of logits up to {scale:.1e} "
                f"(bound {LOGIT_BOUND:g} of that): {'ok' if ok else 'DISAGREE'}")


# --- report --------------------------------------------------------------------------------------------------------
def environment(torch, reuse_freed: bool) -> list[str]:
    from threadpoolctl import threadpool_info

    from minicnn import fast

    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    cpu = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")), platform.processor())
    blas = next((f"{i.get('internal_api')} {i.get('version')}, {i.get('num_threads')} threads"
                 for i in threadpool_info() if "numpy" in i["filepath"]), "unknown")
    return [f"machine: {cpu}, {os.cpu_count()} cores",
            f"python {platform.python_version()}, numpy {np.__version__} (BLAS {blas}; minicnn fast tier "
            f"{fast.get_threads()} threads), " + (f"torch {torch.__version__} ({torch.get_num_threads()} threads)"
                                                  if torch else "torch: not installed - its rows are skipped"),
            "malloc: freed blocks kept for reuse (minicnn.fast.reuse_freed_memory), both frameworks" if reuse_freed
            else "malloc: the C library's defaults (--reuse-freed-memory: keep freed blocks)"]


def describe(config, cases, setup: Setup, args) -> str:
    height, width = cases[0].image.shape
    roi = f"--roi {setup.roi}" if setup.roi else "no --roi (whole slices)"
    return (f"network: {config.model.name}, width {config.model.width}, {config.data.input_size} px, random weights "
            f"(seed {SEED}); {args.n} synthetic {width}x{height} (WxH) 16-bit PNGs; predict {roi}"
            f"{' (the union of the lesion boxes)' if args.roi == 'union' else ''}; best of {args.repeat}")


def parts_line(best: dict, n: int) -> str:
    parts = best["load"] + best["prepare"] + best["minicnn 1"]
    return (f"  its parts, timed apart: loading the checkpoint {best['load']:.3f} s, reading and preparing the images "
            f"{best['prepare']:.3f} s ({n / best['prepare']:.1f} images/s), minicnn forward at batch 1 "
            f"{best['minicnn 1']:.3f} s; sum {parts:.3f} s, the command {best['command']:.3f} s")


def inference_line(best: dict, batch: str, n: int) -> str:
    size = "1" if batch == "1" else str(n)
    line = f"inference only, batch {size}: minicnn {n / best[f'minicnn {batch}']:.1f} images/s"
    if f"torch {batch}" not in best:
        return line + " (torch skipped)"
    t_mc, t_torch = best[f"minicnn {batch}"], best[f"torch {batch}"]
    return line + f", torch {n / t_torch:.1f} images/s, minicnn/torch time ratio {t_mc / t_torch:.2f}"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=64, help="synthetic images to predict (default 64)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="change the configuration (default: femur_app/configs/paper.toml), e.g. "
                        "--set data.input_size=96 (repeatable)")
    p.add_argument("--repeat", type=int, default=3, help="timings per row; the best is reported (default 3)")
    p.add_argument("--reuse-freed-memory", action="store_true",
                   help="call minicnn.fast.reuse_freed_memory() first: glibc keeps freed blocks for reuse instead of "
                        "returning them to the kernel, for both frameworks (process-wide)")
    p.add_argument("--roi", default="union", help="predict's --roi: 'union' of the images' lesion boxes "
                                                  "(default), 'none' (whole slices) or x0,y0,x1,y1")
    return p


def main(argv=None) -> int:
    p = parser()
    args = p.parse_args(argv)
    if args.n < 1 or args.repeat < 1:
        p.error("--n and --repeat must be at least 1")
    config = resolve_config(args.set)
    reuse_freed = args.reuse_freed_memory and reuse_freed_memory()  # False where glibc's mallopt is not there
    torch = try_import_torch()
    print("\n".join(environment(torch, reuse_freed)))
    cases = synthetic_cases(config, args.n)
    with tempfile.TemporaryDirectory(prefix="predict_throughput_") as folder:
        setup = set_up(config, cases, args.roi, Path(folder))
        print(describe(config, cases, setup, args))
        model = checkpoint.load(setup.model_path)
        inputs = [prepare_image(p, model, setup.roi_box()) for p in setup.paths]
        net = torch_twin(torch, model.model) if torch is not None else None
        calls = timed_calls(setup, model, inputs, torch, net)
        outputs = {key: fn() for key, fn in calls.items()}  # a warm-up round, whose outputs are checked
        print(check_command(outputs["command"], args.n, probabilities(outputs["minicnn 1"])))
        best = interleaved(calls, args.repeat)
    print(f"femur_app.predict (whole command, {args.n} images): {args.n / best['command']:.1f} images/s")
    print(parts_line(best, args.n))
    print(inference_line(best, "1", args.n))
    print(inference_line(best, "n", args.n))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(f"this process: {usage.ru_utime:.1f} s user and {usage.ru_stime:.1f} s kernel (system) CPU time, "
          f"{usage.ru_minflt} page faults (a fresh page costs a fault and its zeroing)")
    if "torch 1" not in outputs:
        return 0
    ok, line = agreement(outputs)
    print(line)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
