"""minicnn.fast.blas: the line that names the BLAS, and the warning about an environment that forces OpenBLAS
onto narrower kernels than the processor has (issue 27, item 4)."""
from threadpoolctl import threadpool_info, threadpool_limits

from minicnn.fast import blas

ZEN5 = {"fpu", "sse2", "avx", "avx2", "fma", "avx512f", "avx512bw"}
ZEN3 = {"fpu", "sse2", "avx", "avx2", "fma"}


def test_openblas_coretype_below_the_processor_is_named_with_its_cost():
    warning = blas.forced_lower_isa({"OPENBLAS_CORETYPE": "Haswell"}, ZEN5)
    assert warning == ("warning: OPENBLAS_CORETYPE=Haswell makes OpenBLAS run Haswell's avx2 kernels on a processor "
                       "with avx512f (the conv GEMMs ran 2.5-3x slower with OPENBLAS_CORETYPE=Haswell than with "
                       "OpenBLAS's own AVX-512 kernels on an AMD Zen 5 (issue 27)); unset OPENBLAS_CORETYPE unless "
                       "this OpenBLAS misbehaves without it")
    assert "\n" not in warning
    assert "run Sandybridge's avx kernels on a processor with avx2 (narrower" in blas.forced_lower_isa(
        {"OPENBLAS_CORETYPE": "Sandybridge"}, ZEN3)
    assert ("run nehalem's pre-AVX kernels on a processor with avx2 (narrower vectors: slower GEMMs, not measured "
            "here)") in blas.forced_lower_isa({"OPENBLAS_CORETYPE": "nehalem"}, ZEN3)


def test_no_warning_where_nothing_is_held_back():
    assert blas.forced_lower_isa({}, ZEN5) is None  # OpenBLAS picks for itself
    assert blas.forced_lower_isa({"OPENBLAS_CORETYPE": "Haswell"}, ZEN3) is None  # AVX2 is all a Zen 3 has
    assert blas.forced_lower_isa({"OPENBLAS_CORETYPE": "SkylakeX"}, ZEN5) is None
    assert blas.forced_lower_isa({"OPENBLAS_CORETYPE": "NEOVERSEN1"}, ZEN5) is None  # not judged: unknown here
    assert blas.forced_lower_isa({"OPENBLAS_CORETYPE": "Haswell"}, set()) is None  # flags unknown (not Linux)


def test_cpu_flags_read_the_flags_line(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu avx2 avx512f\n\nprocessor\t: 1\n"
                    "flags\t\t: fpu avx2 avx512f\n")
    assert blas.cpu_flags(info) == {"fpu", "avx2", "avx512f"}
    assert blas.cpu_flags(tmp_path / "missing") == set()


def test_describe_names_library_version_kernels_and_threads():
    numpy_blas = next(lib for lib in threadpool_info() if lib["user_api"] == "blas")
    with threadpool_limits(limits=1, user_api="blas"):
        line = blas.describe()
    assert line.startswith(f"{numpy_blas['internal_api']} {numpy_blas['version']} "
                           f"({numpy_blas['architecture']} kernels, 1 thread, ")
