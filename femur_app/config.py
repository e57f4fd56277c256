"""A run's configuration: TOML files as data, resolved in layers, then one typed, validated ``Config``.

Resolution, each layer overriding the one before::

    configs/paper.toml           the paper's protocol - the complete schema: every key, its type, its default
    --quick -> configs/quick.toml, and/or --config FILE    partial files naming only what they change
    command-line options         --epochs, --folds, --seed, ... and --set SECTION.KEY=VALUE for any other key

A key that ``paper.toml`` does not have, or a value of the wrong type, is a ``ConfigError`` naming the file (or
the option) and the key. The merged values then become a ``Config`` - one frozen dataclass per section - whose
ranges and choices are checked once, when it is made (finite positive learning rate, batch size, probabilities in
[0, 1], known model and layer names); the rest of the code trusts it. Each section checks its own values
(``problems``); [data], [augment] and [model] are defined beside the stage that reads them
(``femur_app.data.source.DataConfig``, ``femur_app.data.augment.AugmentConfig``,
``femur_app.models.registry.ModelConfig``), so that those stages need nothing from here. A function that reads one
section takes that section, not the whole ``Config``. The resolved configuration is written into the run folder as
``config.toml``; that file is itself a valid ``--config``.
"""
from __future__ import annotations

import math
import os
import re
import stat
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path

from femur_app import memory
from femur_app.data import folder_memory
from femur_app.data.augment import AugmentConfig
from femur_app.data.source import MAX_SEED, SYNTHETIC, DataConfig, synthetic_seed_of
from femur_app.errors import ConfigError, problem
from femur_app.models.footprint import FLOAT_BYTES, footprint
from femur_app.models.registry import ModelConfig, input_size_problem

CONFIG_DIR = Path(__file__).parent / "configs"
PAPER = CONFIG_DIR / "paper.toml"
QUICK = CONFIG_DIR / "quick.toml"
SCHEDULES = ("constant", "step", "cosine")
INITS = ("normal", "he")
DEVICES = ("cpu", "cuda")
# Caps that keep a typo from running for days (the memory a run needs is checked against femur_app.memory too)
MAX_EPOCHS = 100_000
MAX_BATCH = 4096
MAX_FOLDS = 100
MAX_REPEATS = 100
MAX_BOOTSTRAP = 20_000
MAX_JOBS = 256
SCHEDULER_ADDRESS = re.compile(r"(?:(?:tcp|tls|ucx)://)?(\[[^\]]+\]|[^\s:/\[\]]+):([0-9]{1,5})")  # host, port
MAX_FLOAT_INT = int(1.7976931348623157e308)  # the largest float; an int beyond it cannot become one
MAX_CONFIG_BYTES = 2**20  # a configuration file is a few kilobytes of TOML


# --- the sections: [data], [augment] and [model] live with the stage that reads them (femur_app.data.source,
# femur_app.data.augment, femur_app.models.registry); [train], [cv] and [run] are the training's -----------------
@dataclass(frozen=True)
class TrainConfig:
    epochs: int
    batch_size: int
    lr: float
    momentum: float
    nesterov: bool
    schedule: str  # "constant", "step" or "cosine"
    step_size: int
    gamma: float
    init: str  # "normal" (the paper's conv weights) or "he"
    init_std: float

    def problems(self) -> list[str]:
        found = []
        if not 1 <= self.epochs <= MAX_EPOCHS:
            found.append(problem("train.epochs", self.epochs, f"expected 1 to {MAX_EPOCHS:,}"))
        if not 2 <= self.batch_size <= MAX_BATCH:
            found.append(problem("train.batch_size", self.batch_size, f"expected 2 to {MAX_BATCH}: batch norm needs "
                                                                       "two cases"))
        if not (math.isfinite(self.lr) and self.lr > 0):
            found.append(problem("train.lr", self.lr, "expected a finite learning rate > 0, e.g. 0.01"))
        if not 0 <= self.momentum < 1:
            found.append(problem("train.momentum", self.momentum, "expected 0 <= momentum < 1"))
        if self.schedule not in SCHEDULES:
            found.append(problem("train.schedule", self.schedule, f"expected one of {SCHEDULES}"))
        if not 1 <= self.step_size <= MAX_EPOCHS:
            found.append(problem("train.step_size", self.step_size, f"expected 1 to {MAX_EPOCHS:,} epochs"))
        if not (math.isfinite(self.gamma) and self.gamma > 0):
            found.append(problem("train.gamma", self.gamma, "expected a finite factor > 0"))
        if self.init not in INITS:
            found.append(problem("train.init", self.init, f"expected one of {INITS}"))
        if not (math.isfinite(self.init_std) and self.init_std > 0):
            found.append(problem("train.init_std", self.init_std, "expected a finite standard deviation > 0"))
        return found


@dataclass(frozen=True)
class CVConfig:
    folds: int
    threshold: float  # P(malignant) at or above which a case is called malignant
    bootstrap: int  # patient-level bootstrap replicates
    repeats: int  # repetitions of the whole cross-validation, each with new split and initialisation seeds

    def problems(self) -> list[str]:
        found = []
        if not 1 <= self.repeats <= MAX_REPEATS:
            found.append(problem("cv.repeats", self.repeats, f"expected 1 to {MAX_REPEATS}"))
        if not 2 <= self.folds <= MAX_FOLDS:
            found.append(problem("cv.folds", self.folds, f"expected 2 to {MAX_FOLDS}, and at most the patients of "
                                                         "either class"))
        if not 0 < self.threshold < 1:
            found.append(problem("cv.threshold", self.threshold, "expected a probability strictly between 0 and 1"))
        if not 1 <= self.bootstrap <= MAX_BOOTSTRAP:
            found.append(problem("cv.bootstrap", self.bootstrap, f"expected 1 to {MAX_BOOTSTRAP:,} replicates"))
        return found


@dataclass(frozen=True)
class RunConfig:
    """How, not what: may change when a run is resumed."""

    device: str  # "cpu" or "cuda"
    jobs: int
    scheduler: str  # a Dask scheduler address, or "" for local
    blas_threads: int  # 0 = the BLAS library's default
    checkpoint_minutes: float  # a fold's training state is written at most this often (0: after every epoch)

    def problems(self) -> list[str]:
        found = []
        if self.device not in DEVICES:
            found.append(problem("run.device", self.device, f"expected one of {DEVICES}"))
        if not 1 <= self.jobs <= MAX_JOBS:
            found.append(problem("run.jobs", self.jobs, f"expected 1 to {MAX_JOBS} worker processes"))
        if not 0 <= self.blas_threads <= MAX_JOBS:
            found.append(problem("run.blas_threads", self.blas_threads, f"expected 0 (the default) to {MAX_JOBS}"))
        if self.scheduler and not SCHEDULER_ADDRESS.fullmatch(self.scheduler):
            found.append(problem("run.scheduler", self.scheduler, "expected a Dask scheduler address "
                                                                  "tcp://HOST:PORT, or \"\" to run here"))
        if not (math.isfinite(self.checkpoint_minutes) and self.checkpoint_minutes >= 0):
            found.append(problem("run.checkpoint_minutes", self.checkpoint_minutes,
                                  "expected finite minutes >= 0; 0 writes the training state after every epoch"))
        return found


@dataclass(frozen=True)
class Config:
    seed: int
    data: DataConfig
    model: ModelConfig
    train: TrainConfig
    augment: AugmentConfig
    cv: CVConfig
    run: RunConfig

    @classmethod
    def from_dict(cls, values: dict) -> Config:
        """A validated Config from a merged dict (keys and types already checked by ``merge``)."""
        problems = []
        try:
            augment = AugmentConfig.from_dict(values["augment"])
        except ValueError as error:  # AugmentConfig checks its own ranges
            problems.append(f"augment: {str(error).removeprefix('AugmentConfig: ')}")
            augment = None
        config = cls(seed=values["seed"], data=DataConfig(**values["data"]), model=ModelConfig(**values["model"]),
                     train=TrainConfig(**values["train"]), augment=augment, cv=CVConfig(**values["cv"]),
                     run=RunConfig(**values["run"]))
        if type(config.seed) is not int or not 0 <= config.seed <= MAX_SEED:
            problems.append(problem("seed", config.seed, f"expected 0 to {MAX_SEED} (NumPy's seed range)"))
        for section in (config.data, config.model, config.train, config.cv, config.run):
            problems += section.problems()
        if not problems and (wrong := input_size_problem(config.model.name, config.data.input_size)):
            problems.append(problem("data.input_size", config.data.input_size, f"expected a size the model takes: "
                                                                                f"{wrong}"))
        if problems:
            raise ConfigError("; ".join(problems))
        config.check_memory()
        return config

    def check_memory(self) -> None:
        """ConfigError naming the values at fault when the run's estimated memory is above the budget
        (``femur_app.memory``): ``run.jobs`` folds training at once, each its network's training step
        (``femur_app.models.footprint``), and the synthetic set and test set drawn and prepared. Checked when the
        configuration is made, before anything of that size is allocated."""
        data, model = self.data, self.model
        network = footprint(model.name, width=model.width, input_size=data.input_size)
        at_once = 1 if self.run.scheduler else self.run.jobs
        need = at_once * network.training_bytes(self.train.batch_size)
        culprit = (f"model {model.name} at model.width {model.width:g}, data.input_size {data.input_size}, "
                   f"train.batch_size {self.train.batch_size}" + (f", run.jobs {at_once}" if at_once > 1 else ""))
        if data.source == SYNTHETIC:
            sets = 2 if synthetic_seed_of(data.test_source) is not None else 1
            need += sets * (data.synthetic_set().memory_bytes() + data.n * data.input_size**2 * FLOAT_BYTES)
            culprit += f", data.n {data.n}" + (" (and the synthetic test set)" if sets > 1 else "")
        memory.check(need, culprit)
        folders = [s for s in (data.source, data.test_source) if s and s != SYNTHETIC and synthetic_seed_of(s) is None]
        if folders:  # a data folder's own images are estimated when it is read (femur_app.data.folder_memory)
            folder_memory.check_cap(data.max_pixels or None, "data.max_pixels")

    def to_dict(self) -> dict:
        """Plain values in paper.toml's layout (``augment.scale`` as a list, as TOML reads it back)."""
        values = asdict(self)
        values["augment"]["scale"] = list(self.augment.scale)
        return values

    def results_part(self) -> dict:
        """What decides a run's numbers: all but the [run] section (device, jobs, cluster).

        Resuming a run folder requires this part to be unchanged; the [run] section may differ between sessions.
        """
        return {key: value for key, value in self.to_dict().items() if key != "run"}


# --- resolution ------------------------------------------------------------------------------------------------
def read_toml(path) -> dict:
    """A configuration file's TOML; ConfigError naming it when it is missing, not a regular file (a folder, a
    device such as /dev/zero, a pipe), larger than MAX_CONFIG_BYTES, not UTF-8 or not valid TOML. Type and size are
    checked before a byte is read."""
    path = Path(path)
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file (a device, pipe or socket)"
            raise ConfigError(f"{path}: is {kind} (expected a TOML configuration file)")
        if info.st_size > MAX_CONFIG_BYTES:
            raise ConfigError(f"{path}: is {info.st_size:,} bytes (expected a TOML configuration file of at most "
                              f"{MAX_CONFIG_BYTES:,})")
        with open(path, "rb") as f:
            data = f.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"{path}: configuration file not found (expected a TOML file)") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot be read ({error.strerror or error}) (expected a readable TOML "
                          "file)") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: grew past {MAX_CONFIG_BYTES:,} bytes while read (expected a TOML configuration "
                          "file)")
    try:
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not UTF-8 text (byte {error.start}) (expected a TOML file)") from None
    except ValueError as error:  # TOMLDecodeError, or an int of more digits than Python converts
        raise ConfigError(f"{path}: not valid TOML ({error})") from None


def merge(base: dict, update: dict, origin: str, prefix: str = "") -> dict:
    """``base`` with ``update``'s values; keys and types are checked against ``base``. Returns a new dict."""
    merged = dict(base)
    for key, value in update.items():
        name = f"{prefix}{key}"
        if key not in base:
            known = ", ".join(f"{prefix}{k}" for k in base)
            raise ConfigError(f"{origin}: unknown key {name!r} (known here: {known})")
        if isinstance(base[key], dict):
            if not isinstance(value, dict):
                raise ConfigError(f"{origin}: {name!r} is a section ([{name}]), got the value {value!r}")
            merged[key] = merge(base[key], value, origin, f"{name}.")
        else:
            merged[key] = checked(value, base[key], origin, name)
    return merged


def checked(value, default, origin: str, name: str):
    """``value`` if it has ``default``'s type (an int where a float is expected becomes a float)."""
    expected = type(default)
    if expected is float and type(value) is int:
        if abs(value) > MAX_FLOAT_INT:
            raise ConfigError(f"{origin}: {name!r} must be a float, got an int of {value.bit_length()} bits (beyond "
                              "the float range)")
        return float(value)
    if type(value) is not expected:
        raise ConfigError(f"{origin}: {name!r} must be of type {expected.__name__} (like the default "
                          f"{default!r}), got {value!r}")
    if isinstance(value, list) and default and any(type(v) is not type(default[0]) for v in value):
        raise ConfigError(f"{origin}: {name!r} must be a list of {type(default[0]).__name__}, got {value!r}")
    return value


def parse_assignment(text: str) -> dict:
    """``"train.lr=0.05"`` -> ``{"train": {"lr": 0.05}}``; the value is read as TOML, else taken as a string."""
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: no '=' (expected SECTION.KEY=VALUE, e.g. --set train.lr=0.05)")
    key, raw = (part.strip() for part in text.split("=", 1))
    try:
        value = tomllib.loads(f"value = {raw}")["value"]
    except ValueError:  # not TOML (TOMLDecodeError), or an int of more digits than Python converts
        value = raw
    nested = value
    for part in reversed(key.split(".")):
        nested = {part: nested}
    return nested


def resolve(files=(), overrides=()) -> Config:
    """``paper.toml`` updated by each file in ``files``, then by each (origin, dict) pair in ``overrides``."""
    values = read_toml(PAPER)
    for path in files:
        values = merge(values, read_toml(path), str(path))
    for origin, update in overrides:
        values = merge(values, update, origin)
    return Config.from_dict(values)


def resolve_options(*, quick: bool = False, config_file=None, options: dict | None = None,
                    assignments=()) -> Config:
    """The configuration a command's options select: paper.toml, then quick.toml (``quick``), ``config_file``,
    the ``options`` given (a nested dict; None values mean "not given") and each ``--set`` text in order."""
    files = ([QUICK] if quick else []) + ([config_file] if config_file else [])
    given = {key: ({k: v for k, v in value.items() if v is not None} if isinstance(value, dict) else value)
             for key, value in (options or {}).items()}
    given = {key: value for key, value in given.items() if value not in (None, {})}
    overrides = [("command line", given)] + [(f"--set {text}", parse_assignment(text)) for text in assignments]
    return resolve(files, overrides)


# --- writing ---------------------------------------------------------------------------------------------------
def to_toml(config: Config) -> str:
    """TOML text of a config (top-level values, then one table per section) that ``resolve`` reads back equal."""
    values = config.to_dict()
    top = [f"{key} = {toml_value(value)}" for key, value in values.items() if not isinstance(value, dict)]
    lines = top + [""] if top else []
    for section, table in values.items():
        if isinstance(table, dict):
            lines.append(f"[{section}]")
            lines += [f"{key} = {toml_value(value)}" for key, value in table.items()]
            lines.append("")
    return "\n".join(lines)


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isinf(value) or math.isnan(value):
            return {math.inf: "inf", -math.inf: "-inf"}.get(value, "nan")
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise ConfigError(f"cannot write {value!r} ({type(value).__name__}) as TOML")


def toml_string(text: str) -> str:
    """``text`` as a TOML basic string: quote, backslash and the control characters escaped, everything else as
    it is (JSON's escapes would write a character beyond U+FFFF as a surrogate pair, which TOML refuses)."""
    escaped = []
    for char in text:
        code = ord(char)
        if 0xD800 <= code <= 0xDFFF:
            raise ConfigError(f"{text!r}: holds {char!r}, which is not a Unicode character (an undecodable byte of a "
                              "file name?); expected UTF-8 text")
        if char in '"\\':
            escaped.append("\\" + char)
        elif code < 0x20 or code == 0x7F:
            escaped.append(f"\\u{code:04x}")
        else:
            escaped.append(char)
    return '"' + "".join(escaped) + '"'


def flat_diff(a: dict, b: dict, prefix: str = "") -> dict:
    """``{"section.key": (a's value, b's value)}`` for every key whose values differ, nested sections flattened."""
    diff = {}
    for key in sorted(set(a) | set(b)):
        x, y = a.get(key), b.get(key)
        if isinstance(x, dict) and isinstance(y, dict):
            diff.update(flat_diff(x, y, f"{prefix}{key}."))
        elif x != y:
            diff[f"{prefix}{key}"] = (x, y)
    return diff
