"""Recurrence in the IR: the ``Delay`` node, the only node whose input may come later in the graph.

A ``Delay`` outputs what its input produced ``steps`` timesteps earlier (zero before that). An
edge into a Delay is therefore not an ordering constraint: the graph stays acyclic once those
edges are set aside, and a cycle through a Delay is a recurrent connection, executed as
snnTorch and Norse execute the graphs they export: a recurrent edge carries its source's output
of the previous step, zero at t = 0. A cycle without a Delay (an algebraic loop) is refused by
``npukit.ir.graph.Graph``.

Because its input is computed after it, a Delay declares its per-sample ``shape``; the graph
checks it against the input's. ``init`` is its output before ``steps`` steps have passed: 0, or
what its input's layers compute from all-zero spikes (a recurrent Affine's bias, as snnTorch's
recurrent layers start), ``npukit.passes.recurrence``.

A rate-coded recurrent graph (an LSTM or GRU network) computes one step of its source model:
its input is the frame of one step, its states (h, c) are Delays of the nodes computing them.
``graph.meta["readout"]`` says what the source model returns from the per-step outputs
(``readout``): the last step's, or every step's.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from npukit.errors import BadInputError
from npukit.ir.base import Node, Shape, as_array, check_broadcasts, register

#: the longest delay, in steps: the longest run (npukit.validation.MAX_TIMESTEPS)
MAX_DELAY_STEPS = 100_000


@register
@dataclasses.dataclass(eq=False)
class Delay(Node):
    """y(t) = x(t - steps), and ``init`` for t < steps (per sample, per element)."""

    shape: tuple[int, ...] = ()
    steps: int = 1
    init: np.ndarray = None

    def validate(self) -> None:
        shape = tuple(self.shape)
        if not shape or not all(isinstance(d, (int, np.integer)) and d > 0 for d in shape):
            raise BadInputError(f"{self.name}: a delay needs the static shape of its input. Received: {self.shape!r}")
        self.shape = tuple(int(d) for d in shape)
        if not isinstance(self.steps, (int, np.integer)) or isinstance(self.steps, bool) or not 1 <= self.steps <= MAX_DELAY_STEPS:
            raise BadInputError(f"{self.name}: a delay is a whole number of steps in 1..{MAX_DELAY_STEPS:,}. Received: {self.steps!r}")
        self.steps = int(self.steps)
        if self.init is None:
            self.init = np.zeros((), np.float32)
        as_array(self, "init")
        check_broadcasts(self, "init", self.shape, "the delay's shape")

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        return self.shape


#: what a model returns from its per-step outputs: their mean over T (a spiking network), the
#: last step's (an RNN without return_sequences, ONNX Y_h), every step's (return_sequences)
READOUTS = ("mean", "last", "sequence")


def readout(graph) -> str:
    """How ``graph``'s per-step outputs make its result (``READOUTS``): "mean" for a spiking
    graph, ``graph.meta["readout"]`` for a rate-coded recurrent one (default "sequence")."""
    if graph.is_spiking:
        return "mean"
    value = graph.meta.get("readout", "sequence")
    if value not in READOUTS[1:]:
        raise BadInputError(f"the graph's readout must be one of {', '.join(READOUTS[1:])}. Received: {value!r}")
    return value


def check_token_ids(x, vocabulary: int) -> None:
    """Refuse token ids (a model with an Embedding reads them) that are not whole numbers in
    0..vocabulary-1: GATHER would read outside its table."""
    x = np.asarray(x)
    bad = ~np.isfinite(x) | (x != np.round(x)) | (x < 0) | (x >= vocabulary)
    if np.any(bad):
        raise BadInputError(f"token id {x[bad].reshape(-1)[0]:g} is not a whole number in 0..{vocabulary - 1} (the model's vocabulary)")
