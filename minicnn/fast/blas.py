"""Which BLAS runs the fast tier's GEMMs, and whether the environment holds it back.

Most of a CPU training step is BLAS SGEMM (the convolutions' and the linear layers' products), so how fast a run
is depends on which library NumPy loaded, which of its kernels it picked for this processor and how many threads
it may use. ``describe()`` says it in one line (threadpoolctl's view: library, version, kernel architecture,
threads); benchmarks and training logs print it, so that no timing comes without the kernels that made it.

OpenBLAS picks its kernels from the processor at load time unless ``OPENBLAS_CORETYPE`` names a core type.
Some machines set it for every process (``OPENBLAS_CORETYPE=Haswell`` on AMD Zen 5, where older OpenBLAS builds
misbehaved): NumPy then runs AVX2 kernels on a processor with AVX-512. ``forced_lower_isa(environ, flags)``
finds such a setting - a core type whose widest vector instructions are narrower than the processor's (its
/proc/cpuinfo flags) - and returns a one-line warning naming the variable and the cost measured on such a
machine; the fix is to unset it, where the OpenBLAS in use runs correctly without it.
"""
from __future__ import annotations

from pathlib import Path

from threadpoolctl import threadpool_info

ISA_ORDER = ("avx512f", "avx2", "avx")  # the /proc/cpuinfo flags of the vector widths that matter, widest first
CORETYPE_ISA = {  # OpenBLAS core types (x86-64) -> the widest of those instructions their kernels use
    "SAPPHIRERAPIDS": "avx512f", "COOPERLAKE": "avx512f", "SKYLAKEX": "avx512f",
    "ZEN": "avx2", "HASWELL": "avx2", "SANDYBRIDGE": "avx", "BULLDOZER": "avx", "PILEDRIVER": "avx",
    "STEAMROLLER": "avx", "EXCAVATOR": "avx", "NEHALEM": "", "BARCELONA": "", "CORE2": "", "PENRYN": "",
    "DUNNINGTON": "", "ATOM": "", "NANO": "", "OPTERON": "", "PRESCOTT": "", "KATMAI": "", "NORTHWOOD": ""}
COST = ("the conv GEMMs ran 2.5-3x slower with OPENBLAS_CORETYPE=Haswell than with OpenBLAS's own AVX-512 "
        "kernels on an AMD Zen 5 (issue 27)")


def describe() -> str:
    """The BLAS libraries loaded, in one line, e.g. "openblas 0.3.31 (SkylakeX kernels, 2 threads, pthreads)"."""
    libraries = [lib for lib in threadpool_info() if lib.get("user_api") == "blas"]
    if not libraries:
        return "no BLAS library found by threadpoolctl"
    return "; ".join(f"{lib['internal_api']} {lib.get('version') or '(version unknown)'} "
                     f"({lib.get('architecture') or 'kernels unknown'} kernels, {lib['num_threads']} "
                     f"thread{'s' if lib['num_threads'] != 1 else ''}, {lib.get('threading_layer', '?')}) "
                     f"from {Path(lib['filepath']).name}" for lib in libraries)


def cpu_flags(path="/proc/cpuinfo") -> set[str]:
    """The processor's feature flags (Linux's /proc/cpuinfo; empty where there is none)."""
    try:
        text = Path(path).read_text()
    except OSError:
        return set()
    return {flag for line in text.splitlines() if line.startswith("flags") for flag in line.split(":", 1)[1].split()}


def forced_lower_isa(environ, flags) -> str | None:
    """A one-line warning when ``environ`` forces OpenBLAS onto kernels narrower than ``flags`` allow, else None.
    An unknown core type is not judged."""
    coretype = environ.get("OPENBLAS_CORETYPE", "").strip()
    forced = CORETYPE_ISA.get(coretype.upper())
    available = next((isa for isa in ISA_ORDER if isa in flags), "")
    if forced is None or not available:
        return None
    rank = {isa: i for i, isa in enumerate((*ISA_ORDER, ""))}
    if rank[forced] <= rank[available]:
        return None
    cost = COST if (forced, available) == ("avx2", "avx512f") else "narrower vectors: slower GEMMs, not measured here"
    return (f"warning: OPENBLAS_CORETYPE={coretype} makes OpenBLAS run {coretype}'s {forced or 'pre-AVX'} kernels on "
            f"a processor with {available} ({cost}); unset OPENBLAS_CORETYPE unless this OpenBLAS misbehaves "
            "without it")


__all__ = ["cpu_flags", "describe", "forced_lower_isa"]
