"""Which TFLite interpreter npukit uses, and running a .tflite model on numpy data.

The interpreter is ``ai_edge_litert`` (LiteRT); where only ``tflite_runtime`` or TensorFlow is
installed, npukit falls back to that, in this order. ``INTERPRETER`` names the one in use.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np

from npukit.errors import BadInputError, InternalError


@lru_cache(maxsize=1)
def _interpreter_module():
    try:
        from ai_edge_litert import interpreter as module

        return "ai_edge_litert", module
    except ImportError:
        pass
    try:
        from tflite_runtime import interpreter as module  # type: ignore[import-not-found]

        return "tflite_runtime", module
    except ImportError:
        pass
    try:
        from npukit.quiet import import_tensorflow

        return "tensorflow.lite", import_tensorflow().lite
    except ImportError as exc:
        raise InternalError(f"no TFLite interpreter found: pip install ai-edge-litert ({exc})")


def interpreter_name() -> str:
    """'ai_edge_litert', 'tflite_runtime' or 'tensorflow.lite'."""
    return _interpreter_module()[0]


def make_interpreter(model: bytes | str | Path, preserve_all_tensors: bool = False, num_threads: int | None = None,
                     use_xnnpack: bool = True):
    """An allocated interpreter for a .tflite file or its bytes.

    ``preserve_all_tensors`` keeps intermediate tensors readable after invoke (and turns off
    the default XNNPACK delegate, which would fuse them away); ``use_xnnpack=False`` runs the
    builtin kernels only.
    """
    name, module = _interpreter_module()
    kwargs: dict = {"num_threads": num_threads}
    if isinstance(model, (bytes, bytearray)):
        kwargs["model_content"] = bytes(model)
    else:
        kwargs["model_path"] = str(model)
    if preserve_all_tensors:
        kwargs["experimental_preserve_all_tensors"] = True
    if preserve_all_tensors or not use_xnnpack:
        resolver = getattr(module, "OpResolverType", None)
        if resolver is not None:
            kwargs["experimental_op_resolver_type"] = resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    try:
        from npukit.quiet import native_output_captured

        with native_output_captured():  # the interpreter announces its XNNPACK delegate on stderr
            interp = module.Interpreter(**kwargs)
            interp.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise BadInputError(f"the TFLite interpreter refused the model: {' '.join(str(exc).split())[:300]}")
    return interp


def quantize(x: np.ndarray, detail: dict) -> np.ndarray:
    """Float data -> the input tensor's dtype, with its scale and zero point."""
    dtype = detail["dtype"]
    if np.issubdtype(dtype, np.floating):
        return x.astype(dtype)
    scale, zero = detail["quantization"]
    info = np.iinfo(dtype)
    if scale == 0:  # an integer tensor that is not quantized (token ids): the values themselves
        return np.clip(np.round(x), info.min, info.max).astype(dtype)
    return np.clip(np.round(x / scale) + zero, info.min, info.max).astype(dtype)


def dequantize(q: np.ndarray, detail: dict) -> np.ndarray:
    """A tensor's values as float32 (int tensors through their scale and zero point)."""
    scale, zero = detail["quantization"]
    if np.issubdtype(q.dtype, np.floating) or scale == 0:
        return q.astype(np.float32)
    return ((q.astype(np.float32) - zero) * scale).astype(np.float32)


def run_tflite(
    model: bytes | str | Path,
    x: np.ndarray,
    tensors: dict[str, int] | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Run a single-input, single-output .tflite model over ``x`` (N, ...) float data.

    The model's batch size is static: samples are fed in chunks of that size (the last chunk
    padded and the padding dropped). Returns (outputs as float32, {name: float32 values of the
    intermediate tensor with that index, for each entry of ``tensors``}).
    """
    interp = make_interpreter(model, preserve_all_tensors=bool(tensors))
    (inp,) = interp.get_input_details()
    outs = interp.get_output_details()
    if len(outs) != 1:
        raise BadInputError(f"the model has {len(outs)} outputs; this runner takes single-output models")
    out = outs[0]
    batch = int(inp["shape"][0])
    if tuple(inp["shape"][1:]) != tuple(x.shape[1:]):
        raise BadInputError(
            f"data samples have shape {tuple(x.shape[1:])} but the .tflite input is {tuple(inp['shape'][1:])}"
        )
    details = {d["index"]: d for d in interp.get_tensor_details()}
    outputs: list[np.ndarray] = []
    kept: dict[str, list[np.ndarray]] = {name: [] for name in (tensors or {})}
    n = x.shape[0]
    for start in range(0, n, batch):
        chunk = x[start : start + batch]
        real = chunk.shape[0]
        if real < batch:
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], batch - real, axis=0)])
        interp.set_tensor(inp["index"], quantize(chunk, inp))
        interp.invoke()
        outputs.append(dequantize(interp.get_tensor(out["index"]), out)[:real])
        for name, index in (tensors or {}).items():
            kept[name].append(dequantize(interp.get_tensor(index), details[index])[:real])
        if progress:
            progress(real)
    return np.concatenate(outputs), {k: np.concatenate(v) for k, v in kept.items()}
