"""The checker judges only what your file computes: it refuses a file that gets its answers elsewhere.

An exercise file may use NumPy and a little of Python's standard library, nothing else - in particular not
minicnn's own implementations (``minicnn.plain``, ``minicnn.fast``, ``minicnn.layers``, the worked solutions,
the kernels, ...) and not another framework (PyTorch, JAX, ...). Three layers of defence, because a determined
student has many ways to reach a module:

1. **Before running anything** the file's syntax tree is read (``static_check``): only the imports in
   ``ALLOWED_IMPORTS``; none of the names that reach modules or code by a string (``__import__``, ``importlib``,
   ``eval``, ``exec``, ``getattr``, ``globals``, ...); no attribute that starts with ``_`` (``__class__``,
   ``__globals__``, ``np._core``, ...) and none of the attribute names by which NumPy's own modules lead to
   ``sys``, ``os``, ``builtins``, ``inspect`` and the like (``FORBIDDEN_ATTRIBUTES``); no assignment to another
   object's attribute (``np.allclose = ...``).
2. **While your code runs** - at import and in every call the checker makes - a profile hook (``sys.setprofile``)
   sees every function that is entered. Python code may run only from your file, from NumPy and from the
   standard library; a C function of minicnn or of a framework (``FORBIDDEN_ROOTS``) may not run at all.
   However a function was reached, calling it is seen and the file is refused.
3. **After it ran**, NumPy, ``math`` and the builtins must be as they were (``Snapshot``): a file that replaced
   ``np.allclose`` to fool the comparison is refused.

Every refusal is one line that says what was found and where (``Refused``). The arrays your functions are given
are copies, so changing them in place cannot change what the checker compares with.
"""
from __future__ import annotations

import ast
import builtins
import gc
import math
import os
import sys
import sysconfig
import types
from pathlib import Path

import numpy as np

ALLOWED_IMPORTS = ("numpy", "math", "functools", "itertools", "collections", "dataclasses", "typing", "__future__")
FORBIDDEN_NAMES = frozenset({
    "__import__", "importlib", "eval", "exec", "compile", "open", "globals", "locals", "vars", "getattr", "setattr",
    "delattr", "breakpoint", "input", "help", "__builtins__", "__loader__", "__spec__", "memoryview"})
# Attribute names by which NumPy's public modules (and the allowed ones) lead out of NumPy to modules that reach
# code, files or other modules (the test suite walks every public attribute to keep this list complete), and the
# attributes of frames, generators and tracebacks that lead to the checker's own variables.
FORBIDDEN_ATTRIBUTES = frozenset({
    "sys", "os", "subprocess", "builtins", "inspect", "ctypes", "operator", "types", "pathlib", "platform",
    "sysconfig", "tempfile", "fileinput", "argparse", "codecs", "importlib", "import_module", "modules", "gc",
    "threading", "multiprocessing", "pickle", "marshal", "runpy", "pkgutil", "io", "shutil", "weakref", "copyreg",
    "traceback", "linecache", "tokenize", "site", "code", "codeop", "pdb", "bdb", "abc", "enum", "contextlib",
    "f_back", "f_locals", "f_globals", "f_builtins", "f_code", "gi_frame", "cr_frame", "ag_frame", "tb_frame",
    "tb_next", "attrgetter", "methodcaller", "exec_module", "load_module", "loader"})
# Packages whose code a file must never run: minicnn itself and the frameworks that compute layers.
FORBIDDEN_ROOTS = frozenset({
    "minicnn", "femur_app", "torch", "torchvision", "tensorflow", "keras", "jax", "jaxlib", "flax", "cupy", "cupyx",
    "chainer", "mxnet", "paddle", "tinygrad", "micrograd", "scipy", "sklearn", "skimage", "numba", "theano"})


class Refused(Exception):
    """The file gets (or tries to get) its answers from somewhere else; the message says what and where."""


# --- 1. the syntax tree -----------------------------------------------------------------------------------------
def _where(path, node) -> str:
    return f"{path}:{getattr(node, 'lineno', '?')}"


def static_check(source: str, path) -> None:
    """Raise Refused at the first import, name or attribute that could reach code outside the file."""
    try:
        tree = ast.parse(source, str(path))
    except SyntaxError as error:
        raise Refused(f"{path}:{error.lineno}: syntax error: {error.msg}") from None
    allowed = ", ".join(ALLOWED_IMPORTS[:-1])
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] not in ALLOWED_IMPORTS:
                    raise Refused(f"{_where(path, node)}: imports {alias.name}; an exercise file may import only "
                                  f"{allowed} - the checker judges what your file computes, not what "
                                  f"{alias.name.split('.')[0]} computes")
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level or module.split(".")[0] not in ALLOWED_IMPORTS:
                shown = "." * node.level + module
                raise Refused(f"{_where(path, node)}: imports from {shown}; an exercise file may import only "
                              f"{allowed} - the checker judges what your file computes, not what "
                              f"{shown.split('.')[0] or 'another file'} computes")
        elif isinstance(node, ast.Name) and node.id in FORBIDDEN_NAMES:
            raise Refused(f"{_where(path, node)}: uses {node.id}, which can reach code outside your file; an exercise "
                          f"needs only NumPy")
        elif isinstance(node, ast.Attribute):
            if node.attr.startswith("_"):
                raise Refused(f"{_where(path, node)}: reads the attribute {node.attr}; attributes that start with _ "
                              f"are off limits in an exercise file")
            if node.attr in FORBIDDEN_ATTRIBUTES:
                raise Refused(f"{_where(path, node)}: reads the attribute {node.attr}, which leads out of NumPy to "
                              f"other modules; an exercise needs only NumPy")
            if isinstance(node.ctx, (ast.Store, ast.Del)) and not (isinstance(node.value, ast.Name)
                                                                   and node.value.id == "self"):
                raise Refused(f"{_where(path, node)}: assigns to the attribute {node.attr} of another object; an "
                              f"exercise file may change only its own objects (self.{node.attr} = ...)")


# --- 2. what runs -----------------------------------------------------------------------------------------------
def _folder(module) -> str:
    return os.path.realpath(os.path.dirname(module.__file__)) + os.sep


NUMPY_DIR = _folder(np)
STDLIB_DIRS = tuple({os.path.realpath(sysconfig.get_paths()[key]) + os.sep for key in ("stdlib", "platstdlib")})


def _is_stdlib(filename: str) -> bool:
    return (filename.startswith(STDLIB_DIRS) and "site-packages" not in filename
            and "dist-packages" not in filename)


def _owner(function) -> str:
    """The module a C function belongs to ('' when unknown)."""
    name = getattr(function, "__module__", None)
    if not name:
        owner = getattr(function, "__self__", None)
        if isinstance(owner, types.ModuleType):
            name = owner.__name__
        elif owner is not None:
            name = type(owner).__module__
        else:
            name = getattr(getattr(function, "__objclass__", None), "__module__", "")
    return name or ""


class Watch:
    """Sees every function entered while a learner's code runs; ``violations`` lists what was not allowed."""

    def __init__(self, learner_file):
        # the learner's file, and this one (whose helpers run the learner's function and convert its results)
        self.learner_files = {os.path.realpath(str(learner_file)), os.path.realpath(__file__)}
        self.violations: list[str] = []
        self._known: dict[str, bool] = {}

    def _allowed_file(self, filename: str) -> bool:
        allowed = self._known.get(filename)
        if allowed is None:
            real = os.path.realpath(filename)
            allowed = (real in self.learner_files or real.startswith(NUMPY_DIR) or _is_stdlib(real)
                       or filename.startswith("<"))  # <frozen importlib...>, <string> of dataclasses' __init__
            self._known[filename] = allowed
        return allowed

    def hook(self, frame, event, arg):
        if event == "call":
            code = frame.f_code
            if not self._allowed_file(code.co_filename):
                self._record(f"runs {code.co_name} in {_short(code.co_filename)}")
        elif event == "c_call":
            root = _owner(arg).split(".")[0]
            if root in FORBIDDEN_ROOTS:
                self._record(f"calls {_owner(arg)}.{getattr(arg, '__name__', '?')}")

    def _record(self, what: str) -> None:
        if len(self.violations) < 5:
            self.violations.append(what)

    def run(self, function, *args, **kwargs):
        """``function(*args, **kwargs)`` with the hook on; the hook is off again afterwards, whatever happens.

        The garbage collector is paused meanwhile: a collection would run other libraries' gc callbacks and
        finalizers (hypothesis and dask register some) inside the learner's call, where the hook would take them
        for the learner's doing. Reference counting still frees the learner's arrays as usual."""
        previous, collecting = sys.getprofile(), gc.isenabled()
        gc.disable()
        sys.setprofile(self.hook)
        try:
            return function(*args, **kwargs)
        finally:
            sys.setprofile(previous)
            if collecting:
                gc.enable()

    def refusal(self, what: str) -> Refused | None:
        if not self.violations:
            return None
        return Refused(f"{what} {self.violations[0]}: the checker judges only what your file computes, with NumPy - "
                       f"not minicnn's own implementations or another framework")


def _short(filename: str) -> str:
    real = os.path.realpath(filename)
    for marker in ("/site-packages/", "/dist-packages/"):
        if marker in real:
            return real.split(marker, 1)[1]
    package_root = os.path.dirname(_folder(sys.modules["minicnn"]).rstrip(os.sep)) + os.sep
    return real[len(package_root):] if real.startswith(package_root) else real


# --- 3. nothing of NumPy's changed ------------------------------------------------------------------------------
class Snapshot:
    """Every attribute of NumPy's modules, ``math`` and ``builtins``; ``changed()`` names one that is no longer the
    same object, ``restore()`` puts the originals back (so that a refused file leaves the process as it was)."""

    def __init__(self):
        self.before = self._take()

    @staticmethod
    def _modules():
        return [m for name, m in list(sys.modules.items()) if isinstance(m, types.ModuleType)
                and (name == "numpy" or name.startswith("numpy.") or m is math or m is builtins)]

    def _take(self) -> dict:
        return {(m.__name__, key): (m, value) for m in self._modules() for key, value in list(vars(m).items())
                if not key.startswith("__")}  # not __warningregistry__ and the like, which Python itself keeps

    def changed(self) -> str | None:
        after = self._take()
        for key, (module, value) in self.before.items():
            if key in after and after[key][1] is not value:
                return f"{key[0]}.{key[1]}"
        return None

    def restore(self) -> None:
        after = self._take()
        for key, (module, value) in self.before.items():
            if key not in after or after[key][1] is not value:
                setattr(module, key[1], value)


# --- a learner's file, loaded and watched -----------------------------------------------------------------------
def _copy_arrays(value):
    """An argument as the learner's function gets it: an array is copied (a cache, the learner's own, is not)."""
    return value.copy() if isinstance(value, np.ndarray) else value


def _materialise(value):
    """Results as plain arrays: anything array-like that is not an ndarray is converted while still watched."""
    if type(value) is tuple:
        return tuple(_materialise(v) for v in value)
    if type(value) is list:
        return [_materialise(v) for v in value]
    if type(value) is dict:
        return {k: _materialise(v) for k, v in value.items()}
    if isinstance(value, np.ndarray) and type(value) is not np.ndarray:
        return np.array(value)
    if not isinstance(value, (np.ndarray, np.generic)) and hasattr(type(value), "__array__"):
        return np.asarray(value)  # an object of the learner's that turns into an array: turn it now, watched
    return value


class Watched:
    """One of the learner's functions: called on copies of its arrays, with the hook on; a result that came from
    forbidden code raises Refused. ``in_place(...)`` calls it on the very arrays given (for the checks that make
    sure a function leaves its inputs alone)."""

    def __init__(self, name, function, watch: Watch):
        self.__name__, self._function, self._watch = name, function, watch

    def __call__(self, *args, **kwargs):
        return self.in_place(*[_copy_arrays(a) for a in args], **{k: _copy_arrays(v) for k, v in kwargs.items()})

    def in_place(self, *args, **kwargs):
        def run():
            return _materialise(self._function(*args, **kwargs))

        result = self._watch.run(run)
        refusal = self._watch.refusal(f"{self.__name__}")
        if refusal:
            raise refusal
        return result


class LearnerModule:
    """A learner's file, imported under the watch; its functions are available as ``Watched`` attributes."""

    def __init__(self, path, module_name: str):
        self.path = Path(path)
        source = self.path.read_text(encoding="utf-8")
        static_check(source, self.path)
        self.watch = Watch(self.path)
        self.snapshot = Snapshot()
        import importlib.util

        spec = importlib.util.spec_from_file_location(module_name, self.path)
        module = importlib.util.module_from_spec(spec)
        error = None
        try:
            self.watch.run(spec.loader.exec_module, module)
        except Exception as exc:  # the learner's import failed: report it after checking for a refusal
            error = exc
        refusal = self.watch.refusal(f"{self.path} (at import)")
        if refusal:
            raise refusal
        if error is not None:
            raise ImportError(f"{self.path} could not be imported: {type(error).__name__}: {error}")
        self.module = module

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        value = getattr(self.module, name)
        return Watched(name, value, self.watch) if callable(value) else value

    def tampered(self) -> Refused | None:
        """A Refused when the file changed NumPy, math or the builtins."""
        changed = self.snapshot.changed()
        if changed:
            self.snapshot.restore()
            return Refused(f"{self.path} changed {changed}: an exercise file may not change NumPy or Python itself")
        return None
