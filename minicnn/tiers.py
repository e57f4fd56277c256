"""Which tier the layers call: ``"plain"`` (``minicnn.plain``, the algorithms as written), ``"fast"``
(``minicnn.fast``, the same functions made fast; the default) - or your own.

    minicnn.set_tier("plain")          # from now on, every layer's forward and backward run the plain functions
    with minicnn.tier("plain"):        # only inside the block (the previous tier comes back afterwards)
        step = train_step(model, optimizer, x, labels)
    with minicnn.tier(my_module):      # a module of your own that has every function of the plain tier
        ...
    with minicnn.tier("mywork/"):      # or a folder (or one .py file) of your own Python files that define them
        ...

A tier is anything that provides every function named in ``minicnn.plain.OPS`` with the same parameters as
``minicnn.plain``'s (names, kinds and defaults; read from ``minicnn.plain`` when the tier is selected, so the
check follows the plain tier when it changes). Anything else is refused, before a layer runs, with one line that
names the missing or mis-signed function. The layers read a few fields of the caches they are given back
(``x_hat`` of batch norm's, ``x_pad_shape`` of a convolution's, ``x`` of a linear layer's, ``mask`` of
dropout's), so a tier's caches carry those as ``minicnn.plain``'s do.

A layer remembers the tier of its forward pass and runs the backward in the same one. The choice is global to
the process; ``get_tier()`` gives its name (``"plain"``, ``"fast"``, a module's ``__name__`` or the path).
"""
from __future__ import annotations

import importlib.util
import inspect
import types
from contextlib import contextmanager
from pathlib import Path

from minicnn import fast, plain

TIERS = {"plain": plain, "fast": fast}
_selected = ("fast", fast)  # (name, module)


def _parameters(function) -> list[tuple]:
    """What must agree between two tiers' functions: each parameter's name, kind and default."""
    return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]


def _describe(function) -> str:
    """``(dy, cache, *, need_dx=True, dw_out=None)``: the parameters, without annotations."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return "(?)"
    bare = [p.replace(annotation=inspect.Parameter.empty) for p in signature.parameters.values()]
    return str(signature.replace(parameters=bare, return_annotation=inspect.Signature.empty))


def validate(module, name: str) -> None:
    """Raise ValueError (one line, naming the function) unless ``module`` has every plain function, same
    parameters."""
    for op in plain.OPS:
        function = getattr(module, op, None)
        if function is None:
            raise ValueError(f"minicnn.set_tier: {name} has no function {op}; a tier needs every function of "
                             f"minicnn.plain.OPS")
        if not callable(function):
            raise ValueError(f"minicnn.set_tier: {name}.{op} is a {type(function).__name__}, not a function")
        try:
            same = _parameters(function) == _parameters(getattr(plain, op))
        except (TypeError, ValueError):  # a builtin without a signature
            same = False
        if not same:
            raise ValueError(f"minicnn.set_tier: {name}.{op}{_describe(function)} does not match "
                             f"minicnn.plain.{op}{_describe(getattr(plain, op))}")


def load_path(path) -> types.ModuleType:
    """The plain tier's functions from a folder of Python files (or one file), as one module named after it.

    Every ``*.py`` file of the folder (not its subfolders) is imported; a function of ``minicnn.plain.OPS`` may be
    defined in any of them, but in only one."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.py"))
    elif path.is_file() and path.suffix == ".py":
        files = [path]
    else:
        raise ValueError(f"minicnn.set_tier: {path}: no such folder or .py file (expected \"plain\", \"fast\", "
                         f"a module, or a folder or file of Python files)")
    tier = types.ModuleType(str(path), f"a tier made of the Python files in {path}")
    found = {}
    for file in files:
        spec = importlib.util.spec_from_file_location(f"minicnn_tier_{abs(hash(str(file.resolve())))}_{file.stem}",
                                                      file)
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as error:
            raise ValueError(f"minicnn.set_tier: {file} could not be imported ({type(error).__name__}: {error})") \
                from None
        for op in plain.OPS:
            function = getattr(module, op, None)
            if function is None or getattr(function, "__module__", None) != module.__name__:
                continue  # not defined here (absent, or imported from elsewhere)
            if op in found:
                raise ValueError(f"minicnn.set_tier: {op} is defined in both {found[op]} and {file}; keep one")
            found[op] = file
            setattr(tier, op, function)
    return tier


def resolve(t) -> tuple[str, object]:
    """``(name, module)`` for ``"plain"``, ``"fast"``, a module or a path; a ValueError (one line) otherwise."""
    if isinstance(t, str) and t in TIERS:
        return t, TIERS[t]
    if isinstance(t, (str, Path)):
        if isinstance(t, str) and not ("/" in t or "\\" in t or t.endswith(".py") or Path(t).exists()):
            raise ValueError(f"minicnn.set_tier: expected one of {sorted(TIERS)}, got {t!r} (or a module, or a "
                             f"folder or .py file that defines the plain tier's functions)")
        module, name = load_path(t), str(t)
    else:
        module, name = t, getattr(t, "__name__", repr(t))
    validate(module, name)
    return name, module


def set_tier(t) -> None:
    """Select the tier every layer calls from now on: ``"plain"``, ``"fast"``, a module, or a path."""
    global _selected
    _selected = resolve(t)


def get_tier() -> str:
    """The name of the selected tier: ``"plain"``, ``"fast"``, a module's ``__name__`` or the path it came from."""
    return _selected[0]


def ops():
    """The selected tier's module, whose functions the layers call."""
    return _selected[1]


@contextmanager
def tier(t):
    """``with tier("plain"): ...`` runs the block on that tier and restores the previous one afterwards; yields the
    tier's module."""
    global _selected
    previous = _selected
    set_tier(t)
    try:
        yield _selected[1]
    finally:
        _selected = previous
