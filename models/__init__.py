"""The small trained example models shipped with npukit (see models/README.md).

DIGITS_CNN: a ReLU CNN for the 8x8 digits (conv, average pooling, dense), written by
``train_digits_cnn.py``.
DIGITS_ONNX: the same CNN as ONNX (opset 17, NCHW), written by ``export_digits_cnn_onnx.py``.
DIGITS_LIF: a LIF spiking network for the same digits as a NIR graph (T = 25), written by
``train_digits_snn.py``.
DIGITS_EVENTS: a convolutional LIF SNN for the digits as event streams (``digits-events``, 2 x 12 x
12 frames, T = 30) as a NIR graph, written by ``train_digits_events.py``.
DIGITS_RSNN: a recurrent LIF SNN reading the digits one row per step (``digits-rows``, T = 16)
as a NIR graph with a recurrent edge, written by ``train_digits_rsnn.py``.
"""

from pathlib import Path

HERE = Path(__file__).resolve().parent
DIGITS_CNN = HERE / "digits_cnn.keras"
DIGITS_LIF = HERE / "digits_lif.nir"
DIGITS_ONNX = HERE / "digits_cnn.onnx"
DIGITS_LIF_TIMESTEPS = 25
DIGITS_EVENTS = HERE / "digits_events.nir"
DIGITS_RSNN = HERE / "digits_rsnn.nir"
