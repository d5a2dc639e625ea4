"""Train the shipped recurrent example: a recurrent LIF SNN reading the digits one row per step
(writes digits_rsnn.nir).

Run from anywhere:  python models/train_digits_rsnn.py [--out models/digits_rsnn.nir]

Data: ``digits-rows`` (npukit.data.digits_rows): each 8x8 digit as a sequence of its rows, one
row (8 pixels / 16, a current) per step, each row held for 2 steps: T = 16. The class cannot be
read from any one step: the network has to remember what it saw.

Network (NIR, the way snnTorch writes an RLeaky layer): Affine 8->96, a recurrent LIF layer
(``rlif.lif``, with the recurrent Affine ``rlif.w_rec`` 96->96 closing a cycle onto it: the
spikes of the previous step, the recurrent bias at t = 0), Affine 96->10, LI readout (the class
is the output whose mean membrane over the T steps is largest). LIF: beta 0.9, threshold 1, reset
to 0; LI: beta 0.8; parameters in snnTorch's convention (dt = 1e-4, tau = dt/(1-beta), r =
tau/dt), read with NIR's equations (``--framework nir``).

Training: backpropagation through time in TensorFlow with a fast-sigmoid surrogate gradient
(1 / (1 + 10 |v - 1|)^2), the reset treated as constant in the backward pass; cross-entropy on
the mean readout membrane; Adam (learning rate 2e-3, halved every 40 epochs), batch 64, 120
epochs, on the 1437-sample train split. Seeds fixed (keras.utils.set_random_seed(0), op
determinism). The forward pass is the NIR graph's dynamics, so npukit's simulation of the
written file reproduces the trained network; the script prints both accuracies on the test split.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from npukit.models.snn_training import SEED, fit, lif, run  # noqa: E402

BETA, BETA_OUT = 0.9, 0.8
EPOCHS = 120
FEATURES, HIDDEN, CLASSES = 8, 96, 10


def build(tf):
    init = tf.keras.initializers.GlorotUniform(seed=SEED)
    return {
        "in_w": tf.Variable(init((FEATURES, HIDDEN)) * 2.0, name="in_w"),
        "in_b": tf.Variable(tf.zeros(HIDDEN), name="in_b"),
        "rec_w": tf.Variable(init((HIDDEN, HIDDEN)) * 0.5, name="rec_w"),
        "rec_b": tf.Variable(tf.zeros(HIDDEN), name="rec_b"),
        "out_w": tf.Variable(init((HIDDEN, CLASSES)), name="out_w"),
        "out_b": tf.Variable(tf.zeros(CLASSES), name="out_b"),
    }


def forward(tf, params, x, spike):
    """Mean readout membrane (batch, 10) over the T steps of x (batch, T, 8)."""
    beta, beta_out = tf.constant(BETA, tf.float32), tf.constant(BETA_OUT, tf.float32)
    batch = tf.shape(x)[0]
    v = tf.zeros((batch, HIDDEN))
    s = tf.zeros((batch, HIDDEN))
    u = tf.zeros((batch, CLASSES))
    total = tf.zeros((batch, CLASSES))
    for t in range(x.shape[1]):
        current = x[:, t] @ params["in_w"] + params["in_b"] + (s @ params["rec_w"] + params["rec_b"])
        v = beta * v + current
        s = spike(v - 1.0)
        v = v * (1.0 - tf.stop_gradient(s))
        u = beta_out * u + (s @ params["out_w"] + params["out_b"])
        total = total + u
    return total / x.shape[1]


def train():
    from npukit.data import digits_rows

    return fit(build, forward, digits_rows("train"), digits_rows("test"), epochs=EPOCHS, halve_every=40)


def to_nir(params):
    """The trained network as a NIR graph in snnTorch's form of a recurrent layer."""
    import nir
    import numpy as np

    nodes = {
        "input": nir.Input(input_type={"input": np.array([FEATURES])}),
        "fc_in": nir.Affine(weight=params["in_w"].T.copy(), bias=params["in_b"]),
        "rlif.lif": lif(HIDDEN, BETA),
        "rlif.w_rec": nir.Affine(weight=params["rec_w"].T.copy(), bias=params["rec_b"]),
        "fc_out": nir.Affine(weight=params["out_w"].T.copy(), bias=params["out_b"]),
        "readout": lif(CLASSES, BETA_OUT, spiking=False),
        "output": nir.Output(output_type={"output": np.array([CLASSES])}),
    }
    edges = [("input", "fc_in"), ("fc_in", "rlif.lif"), ("rlif.lif", "rlif.w_rec"), ("rlif.w_rec", "rlif.lif"),
             ("rlif.lif", "fc_out"), ("fc_out", "readout"), ("readout", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges)


def main() -> None:
    run(__doc__, Path(__file__).with_name("digits_rsnn.nir"), train, to_nir, "digits-rows")


if __name__ == "__main__":
    main()
