"""minicnn: a small, readable, autodiff-free CNN engine on NumPy (CPU) and CuPy (GPU)."""
