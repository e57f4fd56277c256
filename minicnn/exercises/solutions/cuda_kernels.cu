// Exercise cuda_kernels, worked: minicnn's own kernels (minicnn/kernels/activations.py and batchnorm.py) are
// written the same way.
//
// Every thread computes its flat index, returns at once when it is past the end (the last block has threads
// left over), and writes only its own element: no two threads touch the same output, so no atomics are needed
// and the order in which the threads run cannot change the result.

// relu_bwd: one thread per element.   dy, y (any shape, flat)  ->  dx = dy where y > 0, else 0
extern "C" __global__ void relu_bwd(const real_t* __restrict__ dy, const real_t* __restrict__ y,
                                    real_t* __restrict__ dx, int total)
{
    const int index = blockIdx.x * blockDim.x + threadIdx.x;
    if (index >= total) return;
    dx[index] = y[index] > 0 ? dy[index] : (real_t)0;
}

// bn_fwd: one thread per element of x.   x (N, C, S), mean, inv_std, gamma, beta (C,)  ->  x_hat, y (N, C, S)
extern "C" __global__ void bn_fwd(const real_t* __restrict__ x, const real_t* __restrict__ mean,
                                  const real_t* __restrict__ inv_std, const real_t* __restrict__ gamma,
                                  const real_t* __restrict__ beta,
                                  real_t* __restrict__ x_hat, real_t* __restrict__ y,
                                  int total, int C, int S)
{
    const int index = blockIdx.x * blockDim.x + threadIdx.x;
    if (index >= total) return;
    const int c = (index / S) % C;               // index = (n*C + c)*S + s
    const real_t xh = (x[index] - mean[c]) * inv_std[c];
    x_hat[index] = xh;
    y[index] = xh * gamma[c] + beta[c];
}
