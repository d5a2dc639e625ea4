"""The rate-coded (ANN) node types of the IR, by family, and the groupings the passes and
simulators use. Each family is a small module: ``linear`` (Input, Dense, Conv2D,
DepthwiseConv2D), ``pooling``, ``shapes`` (data movement and merges), ``elementwise`` (affine
maps with constants and activations).

Layout is NHWC; shapes exclude the batch axis.
"""

from __future__ import annotations

from npukit.ir.elementwise import BatchNorm, HardSigmoid, HardSwish, LeakyReLU, Offset, ReLU, Scale, Sigmoid, Softmax
from npukit.ir.linear import PADDINGS, Conv2D, Dense, DepthwiseConv2D, Input
from npukit.ir.pooling import AveragePool2D, GlobalAveragePool, MaxPool2D, SumPool2D
from npukit.ir.shapes import Add, Concatenate, Flatten, Identity, Pad2D, Reshape, Transpose

#: nodes whose output is a weighted sum of their input (they have synapses)
WEIGHTED = (Dense, Conv2D, DepthwiseConv2D)
#: nodes that are affine maps of their input(s): they commute with averaging over time
AFFINE = WEIGHTED + (
    AveragePool2D, SumPool2D, GlobalAveragePool, Pad2D, Flatten, Reshape, Identity, Add, Concatenate, BatchNorm, Scale,
    Offset, Transpose,
)
#: activations with no spiking equivalent (they stay analog: only after the last weighted layer)
ANALOG_ONLY = (LeakyReLU, Sigmoid, HardSigmoid, HardSwish, Softmax)

__all__ = [
    "PADDINGS", "Input", "Dense", "Conv2D", "DepthwiseConv2D", "AveragePool2D", "SumPool2D", "MaxPool2D",
    "GlobalAveragePool", "Pad2D", "Flatten", "Reshape", "Identity", "Transpose", "Add", "Concatenate", "BatchNorm",
    "Scale", "Offset", "LeakyReLU", "Sigmoid", "HardSigmoid", "HardSwish", "ReLU", "Softmax",
    "WEIGHTED", "AFFINE", "ANALOG_ONLY",
]
