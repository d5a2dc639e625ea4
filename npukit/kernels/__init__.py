"""numpy kernels for the IR's layers (NHWC), shared by the float evaluator and the spiking runtime.

The float kernels (conv, gemm, pool) take an optional ``block``: the number of samples handed to
one GEMM call. BLAS results depend on the row count of a call, so the spiking runtime passes the
batch size of one time step for layers reading analog signals; then a whole time-folded layer
computes bit-for-bit what a step-by-step loop computes. Layers reading spikes use ``exact`` and
``events`` instead: sums that are exact, so no blocking is needed.
"""
