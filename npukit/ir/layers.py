"""The rate-coded (ANN) node types of the IR, by family, and the groupings the passes and
simulators use. Each family is a small module: ``linear`` (Input, Dense, Embedding, Conv2D,
DepthwiseConv2D), ``pooling`` (and Reduce), ``shapes`` (data movement and merges), ``resize``,
``elementwise`` (affine maps with constants, activations, two-tensor products, LayerNorm).

Layout is NHWC; shapes exclude the batch axis.
"""

from __future__ import annotations

from npukit.ir.elementwise import (
    BatchNorm, Divide, Erf, Gelu, HardSigmoid, HardSwish, LayerNorm, LeakyReLU, Multiply, Offset, ReLU, Scale, Sigmoid,
    Softmax, Swish, Tanh,
)
from npukit.ir.linear import PADDINGS, Conv2D, Dense, DepthwiseConv2D, Embedding, Input
from npukit.ir.pooling import AveragePool2D, GlobalAveragePool, MaxPool2D, Reduce, SumPool2D
from npukit.ir.resize import Resize
from npukit.ir.shapes import Add, Concatenate, Flatten, Identity, Pad, Pad2D, PermuteChannels, Reshape, Slice, Transpose

#: nodes whose output is a weighted sum of their input (they have synapses)
WEIGHTED = (Dense, Conv2D, DepthwiseConv2D)
#: nodes that are affine maps of their input(s): they commute with averaging over time
AFFINE = WEIGHTED + (
    AveragePool2D, SumPool2D, GlobalAveragePool, Pad2D, Flatten, Reshape, Identity, Add, Concatenate, BatchNorm, Scale,
    Offset, Transpose, Slice, PermuteChannels,
)
#: nodes with no spiking equivalent (they stay analog: only after the last weighted layer). The
#: spiking runtime takes the AFFINE nodes, ReLU (as IF neurons) and MaxPool2D; everything else is
#: listed here.
ANALOG_ONLY = (
    LeakyReLU, Sigmoid, Tanh, HardSigmoid, HardSwish, Softmax, Swish, Gelu, Erf, Multiply, Divide, LayerNorm, Reduce, Pad,
    Resize, Embedding,
)

__all__ = [
    "PADDINGS", "Input", "Dense", "Embedding", "Conv2D", "DepthwiseConv2D", "AveragePool2D", "SumPool2D", "MaxPool2D",
    "GlobalAveragePool", "Reduce", "Pad2D", "Pad", "Flatten", "Reshape", "Identity", "Transpose", "Slice",
    "PermuteChannels", "Resize", "Add", "Concatenate", "BatchNorm", "Scale", "Offset", "LeakyReLU", "Sigmoid", "Tanh",
    "HardSigmoid", "HardSwish", "Swish", "Gelu", "Erf", "Multiply", "Divide", "LayerNorm", "ReLU", "Softmax",
    "WEIGHTED", "AFFINE", "ANALOG_ONLY",
]
