"""Any value of the right type for any configuration key either gives a valid configuration, which writes out and
reads back equal, or one ConfigError line that names the key - never another exception, never a hang, never an
allocation of the size asked for (femur_app/config.py; hypothesis draws the values, the schema is paper.toml)."""
import time
import tomllib

from hypothesis import HealthCheck, given, settings, strategies as st

from femur_app import config as configuration
from femur_app.errors import ConfigError

SCHEMA = configuration.read_toml(configuration.PAPER)
KEYS = sorted([(key,) for key, value in SCHEMA.items() if not isinstance(value, dict)]
              + [(section, key) for section, table in SCHEMA.items() if isinstance(table, dict) for key in table])
FUZZ = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
TEXT = st.text(max_size=30)


def value_like(default):
    """A strategy of values of ``default``'s type, edges included: any int, any float (inf, nan, -0.0), any text."""
    if isinstance(default, bool):
        return st.booleans()
    if isinstance(default, int):
        return st.one_of(st.integers(), st.integers(-3, 3000), st.sampled_from([2**32 - 1, 2**32, 2**63, -2**63]))
    if isinstance(default, float):
        return st.one_of(st.floats(), st.floats(-2, 5), st.integers(-10**400, 10**400))  # an int where a float goes
    if isinstance(default, str):
        return st.one_of(TEXT, st.sampled_from(["", "synthetic", "synthetic:1", "synthetic:99999999999999999999",
                                                "cuda", "alexnet", "googlenet", "box", "cosine", "tcp://h:1"]))
    if isinstance(default, list):
        return st.lists(value_like(default[0]) if default else TEXT, max_size=4)
    raise AssertionError(f"no strategy for {default!r}")


def nested(key: tuple, value) -> dict:
    return {key[0]: value} if len(key) == 1 else {key[0]: {key[1]: value}}


CHANGE = st.sampled_from(KEYS).flatmap(
    lambda key: st.tuples(st.just(key), value_like(SCHEMA[key[0]] if len(key) == 1 else SCHEMA[key[0]][key[1]])))


def merged(changes) -> dict:
    overrides = {}
    for key, value in changes:
        if len(key) == 1:
            overrides[key[0]] = value
        else:
            overrides.setdefault(key[0], {})[key[1]] = value
    return overrides


@FUZZ
@given(changes=st.lists(CHANGE, min_size=1, max_size=3, unique_by=lambda change: change[0]))
def test_any_value_of_the_right_type_validates_or_is_one_line_naming_the_key(changes):
    started = time.perf_counter()
    try:
        config = configuration.resolve((), [("fuzz", merged(changes))])
    except ConfigError as error:
        message = str(error)
        assert "\n" not in message
        named = [".".join(key) for key, _ in changes]
        assert any(name in message or (name.startswith("augment.") and name.split(".")[1] in message)
                   for name in named), (message, named)
    else:
        text = configuration.to_toml(config)
        reread = configuration.resolve((), [("reread", tomllib.loads(text))])
        assert configuration.to_toml(reread) == text
    assert time.perf_counter() - started < 2.0  # checked from the values, nothing of their size allocated


def test_the_fuzz_covers_every_key_of_the_schema():
    assert len(KEYS) == 1 + sum(len(table) for table in SCHEMA.values() if isinstance(table, dict))
    assert ("seed",) in KEYS and ("model", "width") in KEYS and ("run", "scheduler") in KEYS


def test_an_int_too_large_for_a_float_is_one_line():
    try:
        configuration.resolve((), [("fuzz", {"train": {"lr": 10**400}})])
    except ConfigError as error:
        assert str(error) == "fuzz: 'train.lr' must be a float, got an int of 1329 bits (beyond the float range)"
    else:
        raise AssertionError("10**400 as a learning rate was accepted")
