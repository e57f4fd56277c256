// Exercise cuda_kernels: two CUDA kernels, one thread per element (docs/gpu.md; docs/step_through.md follows
// one thread of minicnn's own bn_fwd).
//
// The checker compiles this file with NVRTC, for real_t = float and for real_t = double (a `typedef` put in
// front of it), and runs it on the CPU under minicnn's emulation of the thread grid: blocks of 256 threads,
// as many blocks as it takes to give every element a thread - so the last block usually has threads left over.
// It compares every element with minicnn's fast tier and names the first wrong one and its thread.
//
// The rules of minicnn's kernels hold here too: the flat index of a thread is
// blockIdx.x * blockDim.x + threadIdx.x; a thread whose index is past the end does nothing; each thread writes
// only its own element(s). Keep the names and parameters; no #include is needed.
// Check with:  python -m minicnn.exercises check cuda_kernels --file THIS_FILE

// relu_bwd: one thread per element.   dy, y (any shape, flat), total = their size
//   ->  dx = dy where y > 0, else 0          (ReLU's derivative at 0 is 0; y is ReLU's output)
extern "C" __global__ void relu_bwd(const real_t* __restrict__ dy, const real_t* __restrict__ y,
                                    real_t* __restrict__ dx, int total)
{
    // your code
}

// bn_fwd: batch normalisation's forward pass given the per-channel statistics, one thread per element of x.
//   x (N, C, S) flat, S = H*W (x is NCHW, so element (n, c, s) is at index (n*C + c)*S + s);
//   mean, inv_std, gamma, beta (C,)  ->  x_hat, y (N, C, S)
//   x_hat = (x - mean[c]) * inv_std[c]          (5)
//   y     = x_hat * gamma[c] + beta[c]          (6)
extern "C" __global__ void bn_fwd(const real_t* __restrict__ x, const real_t* __restrict__ mean,
                                  const real_t* __restrict__ inv_std, const real_t* __restrict__ gamma,
                                  const real_t* __restrict__ beta,
                                  real_t* __restrict__ x_hat, real_t* __restrict__ y,
                                  int total, int C, int S)
{
    // your code: which element is this thread's, and which channel c does it belong to?
}
