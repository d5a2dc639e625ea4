"""What the SNN training scripts share: the surrogate spike, the training loop, NIR LIF nodes and
the command line that writes the file and re-measures it with npukit.

Each ``train_digits_*.py`` keeps its own network (``build``, ``forward``) and NIR graph
(``to_nir``); this module holds the parts that are the same for all of them, so a change to the
recipe (surrogate, optimizer, schedule, seeds) is made once.
"""

from __future__ import annotations

import argparse
from pathlib import Path

SEED = 0
DT = 1e-4  # the time step written into the NIR files (snnTorch's convention: tau = dt/(1-beta))
LEARNING_RATE = 2e-3
BATCH = 64


def surrogate(tf):
    """The spike: Heaviside forward, fast-sigmoid gradient 1 / (1 + 10 |x|)^2 backward."""

    @tf.custom_gradient
    def spike(x):
        def grad(dy):
            return dy / tf.square(1.0 + 10.0 * tf.abs(x))

        return tf.cast(x > 0, tf.float32), grad

    return spike


def heaviside(tf):
    """The spike at inference: 1 where the argument is above zero."""
    return lambda x: tf.cast(x > 0, tf.float32)


def fit(build, forward, train_set, test_set, *, epochs, halve_every, logit_scale=1.0, prepare=None):
    """Train ``build(tf)``'s parameters by BPTT; returns (parameters as numpy, test accuracy).

    forward(tf, params, x, spike) -> (batch, classes) scores; the loss is the cross-entropy of
    ``logit_scale`` x scores. Adam at LEARNING_RATE, halved every ``halve_every`` epochs, batch
    BATCH, samples shuffled by a numpy generator seeded with SEED; keras seeds and op determinism
    fixed, so a run is reproducible on one machine. ``prepare`` maps the data sets' x to the
    layout ``forward`` takes (identity by default).
    """
    import keras
    import numpy as np
    import tensorflow as tf

    keras.utils.set_random_seed(SEED)
    tf.config.experimental.enable_op_determinism()
    prepare = prepare or (lambda x: x)
    x_train, x_test = prepare(train_set.x), prepare(test_set.x)
    params = build(tf)
    spike = surrogate(tf)
    optimizer = tf.keras.optimizers.Adam(LEARNING_RATE)

    @tf.function
    def train_step(x, y):
        with tf.GradientTape() as tape:
            scores = forward(tf, params, x, spike)
            loss = tf.reduce_mean(
                tf.keras.losses.sparse_categorical_crossentropy(y, logit_scale * scores, from_logits=True)
            )
        grads = tape.gradient(loss, list(params.values()))
        optimizer.apply_gradients(zip(grads, list(params.values())))
        return loss

    rng = np.random.default_rng(SEED)
    for epoch in range(epochs):
        optimizer.learning_rate.assign(LEARNING_RATE * 0.5 ** (epoch // halve_every))
        order = rng.permutation(len(train_set))
        for start in range(0, len(order), BATCH):
            idx = order[start : start + BATCH]
            train_step(tf.constant(x_train[idx]), tf.constant(train_set.y[idx]))
    scores = forward(tf, params, tf.constant(x_test), heaviside(tf)).numpy()
    accuracy = float(np.mean(scores.argmax(axis=1) == test_set.y))
    return {k: v.numpy() for k, v in params.items()}, accuracy


def lif(shape, beta, *, spiking=True):
    """A NIR LIF (or, spiking=False, LI) node with snnTorch's parameters for ``beta``: tau =
    dt/(1-beta), r = tau/dt, v_leak 0, threshold 1, reset to 0 (float32 throughout)."""
    import nir
    import numpy as np

    tau = np.float32(DT) / (np.float32(1.0) - np.float32(beta))
    full = lambda value: np.full(shape, value, dtype=np.float32)  # noqa: E731
    common = {"tau": full(tau), "r": full(tau / np.float32(DT)), "v_leak": full(0.0)}
    return nir.LIF(**common, v_threshold=full(1.0), v_reset=full(0.0)) if spiking else nir.LI(**common)


def sum_pool2():
    """NIR's 2x2 sum pooling, stride 2, no padding."""
    import nir
    import numpy as np

    return nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0]))


def chain(nodes):
    """A NIR graph whose nodes (an ordered dict, Input first, Output last) form one chain."""
    import nir

    names = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(zip(names[:-1], names[1:])))


def run(doc, default_out, train, to_nir, dataset, **simulate_options):
    """The scripts' command line: train, write the NIR file (``--out``), and print the training
    framework's test accuracy beside npukit's simulation of the written file on ``dataset``."""
    import nir

    import npukit

    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--out", type=Path, default=default_out)
    args = parser.parse_args()
    params, accuracy = train()
    nir.write(str(args.out), to_nir(params))
    report = npukit.simulate(args.out, dataset, **simulate_options)
    print(
        f"wrote {args.out}: {dataset} test accuracy {accuracy * 100:.2f}% (TensorFlow), "
        f"{report.accuracy() * 100:.2f}% (npukit simulation of the NIR file), T={report.result.timesteps}, "
        f"{len(report.data)} test samples"
    )
