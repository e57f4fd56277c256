"""A run's configuration: TOML files as data, resolved in layers, every value overridable from the command line.

Resolution, each layer overriding the one before::

    configs/paper.toml           the paper's protocol - the complete schema: every key, its type, its default
    --quick -> configs/quick.toml, and/or --config FILE    partial files naming only what they change
    command-line options         --epochs, --folds, --seed, ... and --set SECTION.KEY=VALUE for any other key

A key that ``paper.toml`` does not have, or a value of the wrong type, is an error naming the file (or the
option) and the key. The resolved configuration is written into the run folder as ``config.toml``; that file
is itself a valid ``--config``.
"""
from __future__ import annotations

import json
import math
import tomllib
from pathlib import Path

from femur_app.data.augment import AugmentConfig

CONFIG_DIR = Path(__file__).parent / "configs"
PAPER = CONFIG_DIR / "paper.toml"
QUICK = CONFIG_DIR / "quick.toml"


class ConfigError(ValueError):
    """A configuration file or override names an unknown key or gives a value of the wrong type."""


def read_toml(path) -> dict:
    path = Path(path)
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: configuration file not found") from None
    except tomllib.TOMLDecodeError as error:
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
        raise ConfigError(f"--set {text!r}: expected SECTION.KEY=VALUE, e.g. --set train.lr=0.05")
    key, raw = (part.strip() for part in text.split("=", 1))
    try:
        value = tomllib.loads(f"value = {raw}")["value"]
    except tomllib.TOMLDecodeError:
        value = raw
    nested = value
    for part in reversed(key.split(".")):
        nested = {part: nested}
    return nested


def resolve(files=(), overrides=()) -> dict:
    """``paper.toml`` updated by each file in ``files``, then by each (origin, dict) pair in ``overrides``."""
    config = read_toml(PAPER)
    for path in files:
        config = merge(config, read_toml(path), str(path))
    for origin, update in overrides:
        config = merge(config, update, origin)
    validate(config)
    return config


def validate(config: dict) -> None:
    """Checks that go beyond types: ranges and choices."""
    train, cv = config["train"], config["cv"]
    problems = []
    minimums = {"train.epochs": (train["epochs"], 1), "cv.folds": (cv["folds"], 2),
                "run.jobs": (config["run"]["jobs"], 1),
                "train.batch_size": (train["batch_size"], 2)}  # batch norm needs two samples per batch
    for name, (value, least) in minimums.items():
        if value < least:
            problems.append(f"{name} must be at least {least}, got {value}")
    if not 0.0 < cv["threshold"] < 1.0:
        problems.append(f"cv.threshold must lie in (0, 1), got {cv['threshold']}")
    if not train["lr"] > 0:
        problems.append(f"train.lr must be positive, got {train['lr']}")
    choices = {"train.schedule": (train["schedule"], ("constant", "step", "cosine")),
               "train.init": (train["init"], ("normal", "he")),
               "run.device": (config["run"]["device"], ("cpu", "cuda"))}
    for name, (value, allowed) in choices.items():
        if value not in allowed:
            problems.append(f"{name} must be one of {allowed}, got {value!r}")
    try:
        AugmentConfig.from_dict(config["augment"])
    except ValueError as error:
        problems.append(f"[augment]: {error}")
    if problems:
        raise ConfigError("invalid configuration: " + "; ".join(problems))


def to_toml(config: dict) -> str:
    """TOML text of a config (top-level values, then one table per section) that ``tomllib`` reads back equal."""
    top = [f"{key} = {toml_value(value)}" for key, value in config.items() if not isinstance(value, dict)]
    lines = top + [""] if top else []
    for section, table in config.items():
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
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise ConfigError(f"cannot write {value!r} ({type(value).__name__}) as TOML")


def results_part(config: dict) -> dict:
    """The part of a config that decides a run's numbers: all but the [run] section (device, jobs, cluster).

    Resuming a run folder requires this part to be unchanged; the [run] section may differ between sessions.
    """
    return {key: value for key, value in config.items() if key != "run"}
