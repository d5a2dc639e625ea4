"""npukit's intermediate representation: a typed graph of NHWC layers and spiking neurons."""

from npukit.ir.base import NODE_TYPES, Node
from npukit.ir.graph import Graph, total_macs
from npukit.ir.layers import (
    AFFINE,
    WEIGHTED,
    Add,
    AveragePool2D,
    BatchNorm,
    Concatenate,
    Conv2D,
    Dense,
    DepthwiseConv2D,
    Flatten,
    GlobalAveragePool,
    Identity,
    Input,
    MaxPool2D,
    Pad2D,
    ReLU,
    Reshape,
    Scale,
    Softmax,
    SumPool2D,
)
from npukit.ir.neurons import IF, LI, LIF, NEURONS, SPIKING, STATEFUL, CubaLI, CubaLIF, Integrator, Threshold

__all__ = [
    "AFFINE", "WEIGHTED", "SPIKING", "NODE_TYPES", "Node", "Graph", "total_macs",
    "Add", "AveragePool2D", "BatchNorm", "Concatenate", "Conv2D", "Dense", "DepthwiseConv2D",
    "Flatten", "GlobalAveragePool", "Identity", "IF", "Input", "MaxPool2D", "Pad2D", "ReLU",
    "Reshape", "Scale", "Softmax", "SumPool2D", "LIF", "LI", "CubaLIF", "CubaLI", "Integrator", "Threshold", "NEURONS", "STATEFUL",
]
