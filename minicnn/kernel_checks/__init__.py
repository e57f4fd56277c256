"""What checks the CUDA kernels of ``minicnn.kernels``: test support, not engine.

    registry.py   ``REGISTRY``: every kernel with its launcher, its NumPy reference (the fast tier's CPU leaf of the
                  same name), a maker of valid inputs and the sizes it has in AlexNet-BN
    cases.py      the input makers, one per launcher: ties, NaN, exact zeros, sizes that leave rows over
    check.py      run a launcher (under the CPU emulation or on the GPU) and its reference, and compare them

Used by the tests (``tests/minicnn/test_kernels_*.py``, ``test_gpu.py``), ``python -m minicnn.selfcheck`` and
``benchmarks/bench_kernels.py``. It imports the fast tier (its references) and the kernels; nothing in the
engine imports it, so the imports run one way - ``kernel_checks -> fast -> kernels`` - and loading a layer or a
launcher never loads this package (``tests/minicnn/test_imports.py``).
"""
