"""npukit's intermediate representation: a typed graph of NHWC layers and spiking neurons."""

from npukit.ir.base import NODE_TYPES, Node
from npukit.ir.graph import Graph, total_macs
from npukit.ir.layers import (
    AFFINE,
    ANALOG_ONLY,
    WEIGHTED,
    Add,
    AveragePool2D,
    BatchNorm,
    Concatenate,
    Conv2D,
    Dense,
    DepthwiseConv2D,
    Embedding,
    Divide,
    Erf,
    Flatten,
    Gelu,
    GlobalAveragePool,
    HardSigmoid,
    HardSwish,
    Identity,
    Input,
    LayerNorm,
    LeakyReLU,
    MaxPool2D,
    Multiply,
    Offset,
    Pad,
    Pad2D,
    PermuteChannels,
    Reduce,
    ReLU,
    Reshape,
    Resize,
    Scale,
    Sigmoid,
    Slice,
    Softmax,
    SumPool2D,
    Swish,
    Tanh,
    Transpose,
)
from npukit.ir.neurons import IF, LI, LIF, NEURONS, SPIKING, STATEFUL, CubaLI, CubaLIF, Integrator, Threshold
from npukit.ir.recurrence import Delay

__all__ = [
    "AFFINE", "ANALOG_ONLY", "WEIGHTED", "SPIKING", "NODE_TYPES", "Node", "Graph", "total_macs",
    "Add", "AveragePool2D", "BatchNorm", "Concatenate", "Conv2D", "Dense", "DepthwiseConv2D", "Embedding",
    "Flatten", "GlobalAveragePool", "Identity", "IF", "Input", "MaxPool2D", "Pad2D", "ReLU",
    "Reshape", "Scale", "Softmax", "SumPool2D", "Offset", "Transpose", "LeakyReLU", "Sigmoid", "Tanh", "HardSigmoid",
    "HardSwish", "Swish", "Gelu", "Erf", "Multiply", "Divide", "LayerNorm", "Reduce", "Pad", "Slice",
    "PermuteChannels", "Resize", "LIF", "LI", "CubaLIF", "CubaLI", "Integrator", "Threshold", "NEURONS", "STATEFUL", "Delay",
]
