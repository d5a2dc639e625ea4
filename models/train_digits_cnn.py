"""Train the shipped example: a small ReLU CNN on the 8x8 digits (writes digits_cnn.keras).

Run from anywhere:  python models/train_digits_cnn.py [--out models/digits_cnn.keras]

Data: npukit's ``digits`` set (scikit-learn's copy of the UCI digits, pixels / 16), its fixed
train split (1437 samples) for training and its test split (360) for the figure printed at the
end. Network: conv 3x3x16 ReLU, average pool 2, conv 3x3x32 ReLU, average pool 2, dense 64
ReLU, dense 10 (logits). Average pooling and no bias-free tricks: it converts to a spiking
network exactly as a user's model would.

Training: Adam (learning rate 2e-3, halved every 30 epochs), batch 32, 90 epochs, cross-entropy
on logits, light L2 on the weights (1e-4), seeds fixed with keras.utils.set_random_seed(0)
and TensorFlow's op determinism, so a rerun on the same machine and versions writes the same
weights.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

SEED = 0
EPOCHS = 90


def build_model():
    import keras

    l2 = keras.regularizers.L2(1e-4)
    return keras.Sequential(
        [
            keras.Input((8, 8, 1), name="image"),
            keras.layers.Conv2D(16, 3, padding="same", activation="relu", kernel_regularizer=l2, name="conv1"),
            keras.layers.AveragePooling2D(2, name="pool1"),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu", kernel_regularizer=l2, name="conv2"),
            keras.layers.AveragePooling2D(2, name="pool2"),
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(64, activation="relu", kernel_regularizer=l2, name="fc1"),
            keras.layers.Dense(10, kernel_regularizer=l2, name="logits"),
        ],
        name="digits_cnn",
    )


def train(out: Path) -> float:
    import keras
    import numpy as np
    import tensorflow as tf

    from npukit.data import digits

    keras.utils.set_random_seed(SEED)
    tf.config.experimental.enable_op_determinism()
    train_set, test_set = digits("train"), digits("test")
    model = build_model()
    model.compile(
        optimizer=keras.optimizers.Adam(2e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    schedule = keras.callbacks.LearningRateScheduler(lambda epoch, lr: 2e-3 * 0.5 ** (epoch // 30))
    model.fit(train_set.x, train_set.y, batch_size=32, epochs=EPOCHS, shuffle=True, verbose=0, callbacks=[schedule])
    logits = model.predict(test_set.x, verbose=0)
    accuracy = float(np.mean(logits.argmax(axis=1) == test_set.y))
    model.save(out)
    return accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("digits_cnn.keras"))
    args = parser.parse_args()
    accuracy = train(args.out)
    print(f"wrote {args.out}: digits test accuracy {accuracy * 100:.2f}% (360 samples)")


if __name__ == "__main__":
    main()
