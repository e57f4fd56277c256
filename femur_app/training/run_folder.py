"""The run folder: where each file of a run lives, its log, and what keeps it to one run.

    run_folder.json                the mark: this folder is a run folder of femur_app, of which kind, and the
                                   random key of its fold results' HMAC (written once, when the folder is made)
    config.toml                    the resolved configuration (a valid --config)
    fingerprint.json               the run's fingerprint (configuration, data, folds) and run id
    run.lock                       the pid of the run that holds the folder (empty when none does)
    train.log                      one line per epoch of every fold, and the run's events
    checkpoints/fold_NN.npz        the trained model of fold NN (femur_app.models.checkpoint)
    checkpoints/fold_NN.state.npz  fold NN's training state while it trains: at most every run.checkpoint_minutes
                                   and after its last epoch; deleted once the fold's model and result are written
    checkpoints/null.npz           the network trained on shuffled labels, Grad-CAM's null baseline
                                   (femur_app.training.null_model)
    folds/fold_NN.json             a finished fold: its predictions and learning curves, the run id, the model's
                                   SHA-256 and its own checksum (written last, atomically)
    outputs.json                   the names of the outputs below, as last moved in together
    predictions.csv  metrics.json  folds.csv  roc.png  confusion_matrix.png  learning_curves.png
    reliability.png  gallery.png  report.md        the outputs, rebuilt at the end of every session
    partial/                       the report of the folds finished so far, written by python -m femur_app.report
                                   (femur_app.training.progress) while the run goes on; the run never reads it

What makes a folder belong to one run (every refusal is a ``UserError``: one line, exit status 2):

* **A mark.** ``claim`` makes a new or empty folder a run folder of one kind (``KINDS``: a run, a repeated run's
  top folder, a radiomics baseline, a comparison) by writing ``run_folder.json``, and refuses any other folder:
  one that holds files without the mark (``--out .`` in a project: nothing of it is written over or deleted),
  one of another kind (``--repeats`` into a single run's folder, or the reverse), a mark that is not ours, and a
  folder whose own entries (``checkpoints``, ``run.lock``, ``train.log`` ...) are symbolic links. Every file of
  the run is opened without following a link (``O_NOFOLLOW``), and every name read from a file in the folder
  (``outputs.json``, the staging folder's list) must be a plain output name inside it.
* **A lock.** ``lock`` holds an exclusive ``flock`` on ``run.lock`` for the whole session and writes its pid
  there; a second run into the folder is refused at once, naming that pid. The kernel drops the lock when its
  holder dies, so a lock left by a killed run is taken over (and ``train.log`` says so).
* **A fingerprint** (``femur_app.training.fingerprint``): the configuration, every case's id, patient, label and
  prepared image, and the fold assignment. A folder is resumed only with the same fingerprint; otherwise the
  message names what changed, and ``--restart`` starts over.
* **Files that know their run.** Training states and models carry the run id and their fold
  (``femur_app.models.checkpoint``), a finished fold's result carries them too, plus its model's SHA-256 and an
  HMAC of itself keyed by the mark's random key (so whoever edits a result cannot recompute it without that
  key), and its content is checked after the HMAC (held-out cases, probabilities finite in [0, 1], counts,
  learning curve). A state or result of another fold or run, or an edited or impossible result, is refused; a
  finished fold whose model is missing or damaged is trained again (training is deterministic, so it comes back
  equal).
* **Outputs moved in together.** ``staged_outputs`` has them written into ``.staging/`` and moves them in only
  when all are written: a failed session leaves the previous set as it was. Partial ``.tmp`` files of an
  interrupted atomic write and an unfinished staging folder are removed at the start of a session.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import hmac
import json
import math
import os
import secrets
import shutil
import time
from datetime import datetime
from pathlib import Path

import numpy as np

from femur_app.config import Config, flat_diff, read_toml, to_toml
from femur_app.errors import UserError
from femur_app.evaluation.metrics import to_json_safe
from femur_app.models import checkpoint
from femur_app.models.fold_model import FoldModel
from femur_app.training import fingerprint as fingerprints
from minicnn.serialize import write_text_atomic

MARK = "run_folder.json"
LOCK = "run.lock"
LOG = "train.log"
FINGERPRINT = "fingerprint.json"
STAGING = ".staging"
PARTIAL = "partial"  # the report so far (femur_app.training.progress)
OUTPUTS = "outputs.json"
COMPLETE = ".complete"  # written into the staging folder once every output is there
OWN = (MARK, LOCK, LOG, "config.toml", FINGERPRINT, OUTPUTS, STAGING, PARTIAL, "checkpoints", "folds")  # no output
KINDS = {"run": "a cross-validation run (python -m femur_app.train)",
         "repeats": "a repeated cross-validation (--repeats K)",
         "radiomics": "the radiomics baseline of a comparison",
         "comparison": "a comparison of models (python -m femur_app.compare)"}
MADE_BY = "femur_app run folder"
RESUME = "(expected the same configuration and data to resume; --restart starts over, or use another --out)"
AFTER_INTERRUPT = ("run the same command again to resume: finished folds are kept, a fold in training goes on from "
                   "its last saved state")  # the line of an interrupted train or compare (femur_app.cli)


def fold_paths(run_dir, fold: int) -> dict[str, Path]:
    run_dir = Path(run_dir)
    return {"model": run_dir / "checkpoints" / f"fold_{fold:02d}.npz",
            "state": run_dir / "checkpoints" / f"fold_{fold:02d}.state.npz",
            "result": run_dir / "folds" / f"fold_{fold:02d}.json"}


def fold_models(run_dir, folds) -> dict[int, FoldModel]:
    """The trained model of each fold in ``folds``, each checkpoint read once: what the test set, the gallery and
    the counterfactuals of a run all predict with."""
    return {int(fold): checkpoint.load(own_file(fold_paths(run_dir, fold)["model"]), follow_symlinks=False)
            for fold in folds}


def log(run_dir, message: str) -> None:
    """Append one time-stamped line to ``train.log`` (appends of one short line do not interleave); a link in its
    place is refused, never followed."""
    path = Path(run_dir) / LOG
    try:
        with open(open_own(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT), "a") as f:
            f.write(f"{datetime.now().isoformat(timespec='seconds')} {message}\n")
    except OSError as error:
        if error.filename is not None:
            raise
        raise type(error)(error.errno, error.strerror, str(path)) from error  # a full disk names no file


def open_own(path: Path, flags: int = os.O_RDONLY) -> int:
    """``os.open`` a file of the run folder without following a symbolic link: a link in its place (which could
    point anywhere, e.g. at a file of the user's to be truncated) is a UserError."""
    try:
        return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as error:
        if error.errno != errno.ELOOP:
            raise
        raise UserError(f"{path}: is a symbolic link (expected the run folder's own file: a run never follows a "
                        "link out of its folder)") from None


def read_own(path: Path) -> str:
    """The text of a file of the run folder, read without following a link (``open_own``)."""
    with open(open_own(path), encoding="utf-8") as f:
        return f.read()


def own_file(path: Path) -> Path:
    """``path``, after checking that it is not a symbolic link: the message for a link found before a file is
    opened (the .npz states and models are then opened with ``follow_symlinks=False``, which refuses a link
    swapped in meanwhile)."""
    if path.is_symlink():
        raise UserError(f"{path}: is a symbolic link (expected the run folder's own file: a run never follows a "
                        "link out of its folder)")
    return path


# --- the mark: which folders are run folders ----------------------------------------------------------------
def claim(run_dir, kind: str) -> None:
    """Make ``run_dir`` a run folder of ``kind`` (one of ``KINDS``), or check that it is one.

    A missing or empty folder gets the mark (``run_folder.json``, with a fresh random key for the fold results'
    HMAC). A folder with our mark of the same kind is taken as it is, once its own entries are checked not to be
    links. Anything else is a UserError that names what was found, before anything is written into the folder:
    files without the mark (a user's folder, or a run folder of a version before the mark), a mark of another
    kind, a mark that is not ours.
    """
    run_dir = Path(run_dir)
    make_folder(run_dir)
    mark = read_mark(run_dir)
    if mark is None:
        entries = sorted(os.listdir(run_dir))
        if entries:
            raise UserError(f"{run_dir}: {unmarked(run_dir, entries)}")
        try:
            fd = os.open(run_dir / MARK, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except FileExistsError:  # another process claimed the empty folder a moment ago
            return claim(run_dir, kind)
        try:
            with open(fd, "w") as f:
                json.dump({"made_by": MADE_BY, "kind": kind, "key": secrets.token_hex(32)}, f)
        except OSError as error:
            os.unlink(run_dir / MARK)  # half a mark would make the folder nobody's
            raise OSError(error.errno, error.strerror, str(run_dir / MARK)) from error
        return
    if mark["kind"] != kind:
        raise UserError(f"{run_dir}: is the folder of {KINDS[mark['kind']]}, not of {KINDS[kind]} (expected a new "
                        f"folder for this one: use another --out)")
    links = [name for name in OWN if (run_dir / name).is_symlink()]
    if links:
        verb = "is a symbolic link" if len(links) == 1 else "are symbolic links"
        raise UserError(f"{run_dir}: its {', '.join(links)} {verb} (expected the run folder's own files and folders: a run never follows a link out of its "
                        "folder)")


def unmarked(run_dir: Path, entries: list[str]) -> str:
    """Why a folder holding ``entries`` and no mark is refused, with what to do."""
    shown = [name + ("/" if (run_dir / name).is_dir() else "") for name in entries[:6]]
    listed = ", ".join(shown) + (f" and {len(entries) - 6} more" if len(entries) > 6 else "")
    if {FINGERPRINT, LOCK, "config.toml"} & set(entries):
        return (f"holds a run folder without the mark {MARK} ({listed}): made by a version of femur_app before "
                "run folders were marked, or not by femur_app (expected a run folder this version made: start the "
                "run again with another --out; nothing of this folder is changed)")
    return (f"holds files that are not a run folder ({listed}) (expected a new or empty folder for --out, or a run "
            "folder of femur_app to resume; nothing of this folder is changed)")


def read_mark(run_dir: Path) -> dict | None:
    """The folder's mark, checked; None where there is none. A file in its place that is not our mark (not JSON,
    another maker, an unknown kind, no key) is a UserError: the folder is not taken for a run folder."""
    path = run_dir / MARK
    try:
        text = read_own(path)
    except FileNotFoundError:
        return None
    try:
        mark = json.loads(text)
        valid = (mark.get("made_by") == MADE_BY and mark.get("kind") in KINDS
                 and len(bytes.fromhex(mark.get("key"))) == 32)
    except (ValueError, AttributeError, TypeError):
        valid = False
    if not valid:
        raise UserError(f"{path}: is not the mark of a femur_app run folder (expected the JSON object femur_app "
                        "writes when it makes a run folder; use another --out)")
    return mark


def run_key(run_dir) -> bytes:
    """The random key of the run folder's HMAC (from its mark)."""
    mark = read_mark(Path(run_dir))
    if mark is None:
        raise UserError(f"{Path(run_dir) / MARK}: missing (expected the mark femur_app wrote when it made the "
                        "run folder)")
    return bytes.fromhex(mark["key"])


# --- one run per folder -----------------------------------------------------------------------------------------
def make_folder(run_dir: Path) -> None:
    """Create the run folder; a file in its place (or in place of a folder above it) is a UserError, a folder that
    cannot be made (read-only, full, no permission) an OSError naming it: a fault of the machine (exit status 1)."""
    for path in (run_dir, *run_dir.parents):
        if path.exists() and not path.is_dir():
            expected = ("a run folder: a new one, or that of the run to resume" if path == run_dir
                        else f"a folder, to hold the run folder {run_dir}")
            raise UserError(f"{path}: is a file (expected {expected})")
    run_dir.mkdir(parents=True, exist_ok=True)


@contextlib.contextmanager
def lock(run_dir, kind: str = "run"):
    """Hold ``run_dir``, a run folder of ``kind`` (``claim``: made one, or checked to be one), for this process:
    an exclusive, non-blocking ``flock`` on ``run.lock``, with our pid in it.

    Another holder -> UserError naming its pid. The lock file is never deleted (deleting it would let two runs
    lock two different files of the same name); on release it is emptied, so a pid found in an unlocked file
    is that of a run that was killed, and its lock is taken over with a line in ``train.log``.
    """
    run_dir = Path(run_dir)
    claim(run_dir, kind)
    fd = open_own(run_dir / LOCK, os.O_RDWR | os.O_CREAT)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise UserError(f"{run_dir}: in use by another run (pid {holder}, which holds {run_dir / LOCK}) "
                            "(expected one run per folder: wait for it to end, or use another --out)") from None
        stale = os.pread(fd, 32, 0).decode(errors="replace").strip()
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        if stale:
            log(run_dir, f"took over {LOCK} from pid {stale}, which no longer holds it (a run that was killed)")
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # closing drops the flock


def prepare(run_dir: Path, config: Config, restart: bool = False) -> None:
    """Make the folder ready for this session (the caller holds its ``lock``): check that an existing folder was
    started with the same configuration (``restart``: start it over instead), remove partial files, and write
    ``config.toml``."""
    saved = run_dir / "config.toml"
    if restart:
        start_over(run_dir)
    elif (run_dir / FINGERPRINT).exists():  # without a fingerprint no data were ever loaded
        check_same_config(run_dir, config)
    remove_partial_files(run_dir)
    (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    (run_dir / "folds").mkdir(exist_ok=True)
    write_text_atomic(saved, to_toml(config))


def check_same_config(run_dir: Path, config: Config) -> None:
    """The folder's ``config.toml``, if any, holds ``config`` but for its [run] section; otherwise a UserError
    listing what changed, before anything of the folder is changed."""
    saved = run_dir / "config.toml"
    if not own_file(saved).exists():
        return
    before = {key: value for key, value in read_toml(saved).items() if key != "run"}
    now = config.results_part()
    if before != now:
        changes = [f"{k}: {a!r} -> {b!r}" for k, (a, b) in sorted(flat_diff(before, now).items())]
        raise UserError(f"{run_dir}: holds a run with a different configuration ({'; '.join(changes)}) {RESUME}")


def start_over(run_dir: Path) -> None:
    """``--restart``: delete the run's states, models, results, fingerprint, outputs and report so far (train.log
    stays)."""
    for folder in ("checkpoints", "folds", STAGING, PARTIAL):
        shutil.rmtree(run_dir / folder, ignore_errors=True)
    for name in output_names(run_dir) + [FINGERPRINT, OUTPUTS]:
        _remove(run_dir / name)
    log(run_dir, "restart: the previous run's checkpoints, fold results and outputs were deleted")


def remove_partial_files(run_dir: Path) -> None:
    """Delete the ``.NAME.*.tmp`` files of atomic writes that a kill interrupted, and an unfinished staging folder
    (a finished one - all outputs written - is moved in instead)."""
    partial = [p for folder in (run_dir, run_dir / "checkpoints", run_dir / "folds") if folder.is_dir()
               for p in folder.glob(".*.tmp")]
    for path in partial:
        path.unlink(missing_ok=True)
    if partial:
        log(run_dir, f"removed {len(partial)} partial file(s) of an interrupted write: "
                     f"{', '.join(p.name for p in partial)}")
    staging = run_dir / STAGING
    if (staging / COMPLETE).exists():
        _move_in(run_dir)
        log(run_dir, "moved in the outputs that an interrupted session had finished writing")
    elif staging.exists():
        shutil.rmtree(staging)
        log(run_dir, "removed the unfinished outputs of an interrupted session")


# --- the fingerprint --------------------------------------------------------------------------------------------
def check_fingerprint(run_dir: Path, now: dict) -> str:
    """Record the run's fingerprint ``now`` (``fingerprint.of_run``) in a new folder, or check it against the one
    recorded (``recorded_run``) -> the run id."""
    if (run_dir / FINGERPRINT).exists():
        return recorded_run(run_dir, now)
    run = fingerprints.run_id(now)
    write_text_atomic(run_dir / FINGERPRINT, json.dumps({"run": run, "fingerprint": now}))
    return run


def recorded_run(run_dir: Path, now: dict) -> str:
    """The run id of the fingerprint recorded in ``run_dir``, once it is checked to equal ``now``; reads only.

    A different fingerprint is a UserError naming what changed (configuration keys, cases added or removed,
    labels, patient ids or images changed, the fold assignment)."""
    path = run_dir / FINGERPRINT
    try:
        stored = json.loads(read_own(path))
        before, recorded_id = stored["fingerprint"], stored["run"]
    except FileNotFoundError:
        raise UserError(f"{path}: missing, so no data of this run were ever loaded (expected a run folder that "
                        "python -m femur_app.train has started)") from None
    except (ValueError, KeyError, TypeError):
        raise UserError(f"{path}: damaged (not the JSON this run wrote) {RESUME}") from None
    changed = fingerprints.changes(before, now)
    if changed or recorded_id != fingerprints.run_id(before):
        what = "; ".join(changed) or "the file was edited"
        raise UserError(f"{run_dir}: the run's data changed since it started ({what}) {RESUME}")
    return recorded_id


def run_id(run_dir) -> str:
    """The run id recorded in ``fingerprint.json`` (by ``check_fingerprint``, earlier in the session)."""
    return json.loads(read_own(Path(run_dir) / FINGERPRINT))["run"]


def identity(run_dir, fold: int) -> dict:
    """What every state, model and result of fold ``fold`` records and is checked against: its run and fold."""
    return {"run": run_id(run_dir), "fold": int(fold)}


def checkpoint_due(last_saved: float, minutes: float) -> bool:
    """Is a training state due, ``last_saved`` being the ``time.monotonic()`` of the last one (0: every epoch)?"""
    return time.monotonic() - last_saved >= 60 * minutes


# --- finished folds ---------------------------------------------------------------------------------------------
def sha256(path) -> str:
    digest = hashlib.sha256()
    with open(open_own(Path(path)), "rb") as f:
        for block in iter(lambda: f.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


def _checksum(result: dict, key: bytes) -> str:
    """The HMAC-SHA-256 of a fold result (all but its ``checksum``), keyed by the run folder's random key."""
    body = {name: value for name, value in result.items() if name != "checksum"}
    return hmac.new(key, json.dumps(body, sort_keys=True).encode(), hashlib.sha256).hexdigest()


def write_finished(run_dir, fold: int, result: dict) -> dict:
    """Write fold ``fold``'s result (after its model) with its identity, its model's SHA-256 and its own checksum,
    then delete the fold's training state, which is no longer needed. Returns the result as written."""
    paths = fold_paths(run_dir, fold)
    result = to_json_safe({**result, **identity(run_dir, fold), "model_sha256": sha256(paths["model"])})
    result["checksum"] = _checksum(result, run_key(run_dir))
    write_text_atomic(paths["result"], json.dumps(result))
    paths["state"].unlink(missing_ok=True)
    return result


def load_finished(run_dir: Path, fold: int, case_ids: np.ndarray, folds: np.ndarray) -> dict | None:
    """A finished fold's result, checked (``read_finished``); None if the fold is to be trained: not finished, or
    its model is missing or damaged - the result and the model are then deleted. The caller holds the ``lock``."""
    result, problem = read_finished(run_dir, fold, case_ids, folds)
    paths = fold_paths(run_dir, fold)
    if problem:
        log(run_dir, f"fold {fold}: its model {paths['model'].name} {problem}; training fold {fold} again")
        paths["result"].unlink()
        _remove(paths["model"])
        return None
    if result is not None:
        _remove(paths["state"])  # left by a session killed between writing the result and deleting the state
    return result


def read_finished(run_dir: Path, fold: int, case_ids: np.ndarray, folds: np.ndarray) -> tuple[dict | None, str]:
    """(fold ``fold``'s result, checked, or None when it has none; what is wrong with its model, or ""), reading
    only: a report of a run in progress calls it without the lock. An edited result, or one of another fold or
    run, is a UserError."""
    path = fold_paths(run_dir, fold)["result"]
    redo = f"(expected the file as this run wrote it; delete it to train fold {fold} again)"
    try:
        result = json.loads(read_own(path))
        checksum = result.get("checksum")
    except FileNotFoundError:
        return None, ""
    except (ValueError, AttributeError):
        raise UserError(f"{path}: damaged, not the JSON a finished fold writes {redo}") from None
    if not isinstance(checksum, str) or not hmac.compare_digest(checksum, _checksum(result, run_key(run_dir))):
        raise UserError(f"{path}: its content does not match its checksum, so it was edited or damaged {redo}")
    expected = identity(run_dir, fold)
    if (result.get("run"), result.get("fold")) != (expected["run"], fold):
        raise UserError(f"{path}: is the result of fold {result.get('fold')} of run {result.get('run')}, not of fold "
                        f"{fold} of this run ({expected['run']}) {redo}")
    if result.get("case_ids") != case_ids[folds == fold].tolist():
        raise UserError(f"{path}: its held-out cases differ from fold {fold} of the current data, so the data "
                        f"changed since the run started {RESUME}")
    problem = impossible(result)
    if problem:
        raise UserError(f"{path}: {problem}, which no finished fold writes {redo}")
    model = fold_paths(run_dir, fold)["model"]
    problem = ("is missing" if not own_file(model).exists() else
               "does not match the SHA-256 its fold recorded (damaged or replaced)"
               if sha256(model) != result.get("model_sha256") else "")
    return result, problem


def impossible(result: dict) -> str:
    """What a fold result (its checksum and held-out cases already checked) holds that no fold writes, or "": a
    probability that is not a finite number in [0, 1], counts that do not add up, a learning curve that is not
    one, a field of the wrong type."""
    def number(value, low=-math.inf, high=math.inf):
        return (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
                and low <= value <= high)

    n_test, probs, history = result.get("n_test"), result.get("prob_malignant"), result.get("history")
    if not isinstance(probs, list) or len(probs) != len(result["case_ids"]):
        return f"prob_malignant is not a list of {len(result['case_ids'])} probabilities, one per held-out case"
    bad = next((p for p in probs if not number(p, 0.0, 1.0)), "ok")
    if bad != "ok":
        return f"prob_malignant holds {bad!r}, not a probability in [0, 1]"
    if n_test != len(probs) or not isinstance(result.get("n_train"), int) or result["n_train"] < 1:
        return f"n_test {n_test!r} and n_train {result.get('n_train')!r} are not the fold's case counts"
    if result.get("status") not in ("finished", "diverged") or not isinstance(result.get("message"), str):
        return f"status {result.get('status')!r} is not finished or diverged with a message"
    if not number(result.get("seconds"), 0.0) or not (result.get("peak_rss_mib") is None
                                                       or number(result["peak_rss_mib"], 0.0)):
        return "seconds or peak_rss_mib is not a non-negative number"
    epochs = result.get("epochs_run")
    if not isinstance(epochs, int) or isinstance(epochs, bool) or not isinstance(history, list) \
            or len(history) != epochs:
        return f"epochs_run {epochs!r} does not count the epochs of its learning curve"
    for entry in history:
        if not isinstance(entry, dict) or not all(number(entry.get(name)) for name in (
                "epoch", "lr", "train_loss", "train_acc", "heldout_loss", "heldout_acc", "l2_penalty", "seconds")) \
                or not (entry.get("heldout_auc") is None or number(entry["heldout_auc"], 0.0, 1.0)):
            return f"its learning curve holds {entry!r}, not an epoch's finite numbers"
    return ""


# --- outputs, moved in together ---------------------------------------------------------------------------------
@contextlib.contextmanager
def staged_outputs(run_dir):
    """A folder to write the run's outputs into (``run_dir/.staging``, where ``checkpoints`` links to the run's
    own); when the block ends without an error they are moved into ``run_dir`` together, replacing the previous
    set. On an error the staging folder is deleted and the previous outputs stay as they were."""
    run_dir = Path(run_dir)
    staging = run_dir / STAGING
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    (staging / "checkpoints").symlink_to(Path("..") / "checkpoints")
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    names = sorted(p.name for p in staging.iterdir() if p.name != "checkpoints")
    write_text_atomic(staging / COMPLETE, json.dumps(names))
    _move_in(run_dir)


def _move_in(run_dir: Path) -> None:
    """Move a complete staging folder's outputs into ``run_dir`` (again, after a kill: moves are idempotent)."""
    staging = run_dir / STAGING
    names = checked_names(staging / COMPLETE, read_own(staging / COMPLETE))
    for name in set(output_names(run_dir)) - set(names):
        _remove(run_dir / name)  # an output of the previous set that this one does not have
    for name in names:
        if (staging / name).exists():
            if (run_dir / name).is_dir():
                _remove(run_dir / name)  # os.replace renames a folder only onto an empty one; a file it replaces
            os.replace(staging / name, run_dir / name)
    write_text_atomic(run_dir / OUTPUTS, json.dumps(names))
    shutil.rmtree(staging)


def output_names(run_dir: Path) -> list[str]:
    """The outputs of the set last moved in (``outputs.json``; none before the first)."""
    try:
        text = read_own(run_dir / OUTPUTS)
    except FileNotFoundError:
        return []
    return checked_names(run_dir / OUTPUTS, text)


def checked_names(path: Path, text: str) -> list[str]:
    """The output names listed in ``path`` (``text``, a JSON list), each checked to be a plain name of an output
    inside the run folder: one with a ``/`` or ``..`` (which would move or delete something outside it) or one of
    the run's own files is a UserError, and nothing is moved or deleted."""
    try:
        names = json.loads(text)
    except ValueError:
        names = None
    if not isinstance(names, list):
        raise UserError(f"{path}: damaged, not the JSON list of output names a run writes (expected the file as "
                        "the run wrote it: delete it, the run writes its outputs again)")
    for name in names:
        if not isinstance(name, str) or name in ("", ".", "..") or "/" in name or "\\" in name or "\0" in name \
                or name in OWN:
            raise UserError(f"{path}: names {name!r}, which is not an output inside the run folder (expected "
                            "plain output names such as report.md; delete the file, the run writes its outputs "
                            "again)")
    return names


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
