"""The small trained example models shipped with npukit (see models/README.md).

DIGITS_CNN: a ReLU CNN for the 8x8 digits (conv, average pooling, dense), written by
``train_digits_cnn.py``.
"""

from pathlib import Path

HERE = Path(__file__).resolve().parent
DIGITS_CNN = HERE / "digits_cnn.keras"
