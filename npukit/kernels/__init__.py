"""numpy kernels for the IR's layers (NHWC), shared by the float evaluator and the spiking runtime.

Every kernel takes an optional ``block``: the number of samples handed to one GEMM call. BLAS
results depend on the row count of a call, so the spiking runtime passes the batch size of one
time step; then a whole time-folded layer computes bit-for-bit what a step-by-step loop computes.
"""
