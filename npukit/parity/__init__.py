"""Parity: the source model, its spiking simulation and the converted .tflite, compared on the
same samples.

``parity()`` loads both models and the data, then hands over to one of two comparisons:

* ``npukit.parity.ann``: a rate-coded source with a rate-mode .tflite: float vs SNN vs TFLite,
  output and layer by layer;
* ``npukit.parity.snn``: a spiking source (NIR), or a temporal-mode .tflite: the numpy simulation
  (the reference) vs the TFLite model, with the float output as a third column for ANN sources.

The figures (``npukit.parity.metrics``) are documented in docs/reports.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from npukit.data import data_for, load_data
from npukit.errors import BadInputError, UnsupportedError
from npukit.ir import Graph
from npukit.loading import load, source_of
from npukit.parity.ann import ann_parity
from npukit.parity.metrics import agreement, compare, cosine, top1
from npukit.parity.plot import plot_sweep
from npukit.parity.snn import snn_parity
from npukit.passes.ann_to_snn import spiking_version
from npukit.progress import Reporter, silent
from npukit.snn.encoders import has_time_axis, prepare
from npukit.tflite_file import read_tflite
from npukit.validation import MAX_TIMESTEPS, number_in_range, positive_int

DEFAULT_SWEEP = (1, 2, 4, 8, 16, 32, 64)


@dataclass
class ParityReport:
    """The figures of one parity run; ``to_dict()`` is the ``--json`` output (docs/reports.md)."""

    figures: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return self.figures

    def __getitem__(self, key: str) -> Any:
        return self.figures[key]


def parity(
    model: str | Path | Graph,
    tflite: str | Path,
    data: str | Path | None = None,
    *,
    timesteps: int | None = None,
    encoding: str = "current",
    seed: int = 0,
    percentile: float = 99.9,
    calibration: str | Path | None = None,
    calibration_samples: int = 512,
    samples: int | None = None,
    batch_size: int = 256,
    sweep: Iterable[int] | None = None,
    divergence_cosine: float = 0.99,
    dt: float | None = None,
    framework: str | None = None,
    reset: str | None = None,
    input_shape: tuple[int, ...] | None = None,
    allow_source_mismatch: bool = False,
    progress: Reporter = silent,
) -> ParityReport:
    """Compare ``model``, its spiking version at ``timesteps`` and the ``tflite`` file on ``data``
    (default digits: its test split).

    For a rate-coded source model and a rate-mode .tflite: the float model, the SNN and the
    TFLite graph, output and layer by layer (``npukit.parity.ann``). For a spiking source model
    (NIR) or a temporal-mode .tflite: ``npukit.parity.snn``. ``timesteps`` defaults to the T
    recorded in the .tflite (else 32). ``sweep`` lists further T values whose SNN accuracy (or
    top-1 agreement with the float model when the data has no labels) is reported under
    ``sweep``. A layer whose cosine similarity with the reference falls below
    ``divergence_cosine`` is named as where a pipeline diverges. ``dt`` (seconds, NIR only) and
    ``input_shape`` (ONNX only: batch-first, replaces symbolic dimensions) go to
    :func:`npukit.loading.load`.

    The .tflite's metadata records the hash of the model it was converted from: a .tflite
    converted from another model is refused (its figures would compare two different
    networks) unless ``allow_source_mismatch``, which compares them anyway with a warning in
    ``warnings``; a .tflite without npukit metadata is compared with a warning.
    A rate-coded source with a layer that has no spiking equivalent
    (``npukit.passes.ann_to_snn``) is compared float vs TFLite only: the SNN figures are None and
    ``snn_unavailable`` says why.
    """
    number_in_range("divergence cosine", divergence_cosine, 0, 1, low_open=True)
    sweep = sorted({positive_int("sweep timesteps", t, MAX_TIMESTEPS) for t in (sweep or ())})
    graph = load(model, dt, input_shape, framework, reset)
    data = data_for(graph, data)
    info = read_tflite(tflite)
    meta = info.npukit_metadata() or {}
    source_matches, warnings = _source_check(graph, model, tflite, meta, allow_source_mismatch)
    dataset = load_data(data, "test").head(samples)
    if timesteps is None and not has_time_axis(dataset.x, graph.input_shape):
        timesteps = positive_int("the model's timesteps", meta.get("timesteps", 32), MAX_TIMESTEPS)
    # a time series fixes T and the encoding; channels-first samples come back channels-last
    x, timesteps, encoding = prepare(graph, dataset.x, timesteps, encoding)
    header = {
        "model": str(model) if not isinstance(model, Graph) else "(in memory)",
        "tflite": str(tflite),
        "data": dataset.name,
        "samples": len(dataset),
        "warnings": warnings,
    }
    temporal = graph.is_spiking or meta.get("mode") == "temporal"
    try:
        snn = spiking_version(graph, data, calibration, calibration_samples, percentile, progress)
    except UnsupportedError as exc:  # an ANN with no spiking form (SiLU, GELU, squeeze-excite...)
        if temporal:
            raise
        snn = None
        header["snn_unavailable"] = str(exc)  # float vs TFLite is still compared
    compare_with = snn_parity if temporal else ann_parity
    figures = compare_with(
        graph, snn, tflite, info, meta, dataset, x, timesteps=timesteps, encoding=encoding, seed=seed,
        batch_size=batch_size, sweep=sweep, divergence_cosine=divergence_cosine, progress=progress,
    )
    figures["tflite_model"]["source_matches"] = source_matches
    return ParityReport({**header, **figures})


def _source_check(graph: Graph, model, tflite, meta: dict, allow_mismatch: bool) -> tuple[bool | None, list[str]]:
    """(whether the .tflite was converted from ``model``: None when it does not say, warnings)."""
    recorded = (meta.get("source") or {}) if meta else {}
    if not recorded.get("sha256"):
        return None, [f"{tflite} carries no npukit source record: it cannot be checked to come from this model"]
    if recorded["sha256"] == source_of(graph)["sha256"]:
        return True, []
    ours = "the model given" if isinstance(model, Graph) else str(model)
    what = (f"{tflite} was converted from {recorded.get('file') or 'another model'} (sha256 {recorded['sha256'][:12]}), "
            f"not from {ours} (sha256 {source_of(graph)['sha256'][:12]})")
    if not allow_mismatch:
        raise BadInputError(f"{what}; pass allow_source_mismatch=True to compare them anyway")
    return False, [f"{what}: the figures compare two different models"]


__all__ = ["parity", "ParityReport", "plot_sweep", "cosine", "compare", "top1", "agreement", "DEFAULT_SWEEP"]
