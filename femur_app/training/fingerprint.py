"""What a run is: the fingerprint of its configuration, its data and its fold assignment, and the run id from it.

A run folder may only be resumed by the run that started it. The fingerprint holds

* ``config``: the resolved configuration's results part (all but ``[run]``: device, jobs, checkpoint interval
  may change between sessions);
* ``cases``: per case, in the data's order, ``[case_id, patient_id, label, digest of its prepared image]`` - the
  case id is the file's path below the data folder, and the prepared image (the float32 ROI the network sees)
  changes with the pixels, the box, the mask and the preprocessing;
* ``folds``: every case's fold number.

The **run id** is a short hash of all three. It is written into ``fingerprint.json`` at the first session, and
into every training state, model checkpoint and finished-fold result, so a file from another run or another fold
is recognised and refused (``femur_app.training.run_folder``). ``changes(before, now)`` says in words what
differs, naming the cases.
"""
from __future__ import annotations

import hashlib
import json

import numpy as np

from femur_app.config import Config, flat_diff

VERSION = 1
SHOWN = 5  # case ids named in a message, per kind of change


def digest(data: bytes, size: int = 8) -> str:
    return hashlib.blake2b(data, digest_size=size).hexdigest()


def of_run(config: Config, case_ids, patient_ids, labels, X, folds) -> dict:
    """The fingerprint of a run (a JSON-ready dict) from its configuration, prepared data and fold numbers."""
    X = np.ascontiguousarray(X)
    cases = [[str(c), str(p), int(y), digest(x.tobytes())] for c, p, y, x in zip(case_ids, patient_ids, labels, X)]
    return {"version": VERSION, "config": config.results_part(), "cases": cases,
            "folds": [int(f) for f in np.asarray(folds).ravel()]}


def run_id(fingerprint: dict) -> str:
    """16 hex digits naming the run: a hash of the whole fingerprint."""
    return digest(json.dumps(fingerprint, sort_keys=True).encode(), 8)


def _named(ids: list[str]) -> str:
    return ", ".join(ids[:SHOWN]) + (f" and {len(ids) - SHOWN} more" if len(ids) > SHOWN else "")


def changes(before: dict, now: dict) -> list[str]:
    """What differs between two fingerprints, in words (empty when they are equal)."""
    found = [f"configuration {key}: {a!r} -> {b!r}"
             for key, (a, b) in sorted(flat_diff(before.get("config", {}), now["config"]).items())]
    old = {c[0]: c for c in before.get("cases", [])}
    new = {c[0]: c for c in now["cases"]}
    for what, ids in (("removed", [c for c in old if c not in new]), ("added", [c for c in new if c not in old])):
        if ids:
            found.append(f"{len(ids)} case(s) {what} ({_named(ids)})")
    common = [c for c in new if c in old]
    for index, what in ((2, "label(s)"), (1, "patient id(s)"), (3, "image(s)")):
        ids = [c for c in common if old[c][index] != new[c][index]]
        if ids:
            found.append(f"{len(ids)} {what} changed ({_named(ids)})")
    if not found and [c[0] for c in before.get("cases", [])] != [c[0] for c in now["cases"]]:
        found.append("the cases are listed in another order")
    if not found and before.get("folds") != now["folds"]:
        moved = [c[0] for c, a, b in zip(now["cases"], before.get("folds", []), now["folds"]) if a != b]
        found.append(f"the fold assignment changed ({len(moved)} case(s) in another fold: {_named(moved)}; "
                     "another scikit-learn version?)")
    if not found and before.get("version") != now["version"]:
        found.append(f"fingerprint version {before.get('version')} -> {now['version']}")
    return found
