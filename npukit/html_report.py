"""``npukit report``: convert, parity, NN-API check and profile of one model, as one HTML page.

The page is self-contained (styles inline, plots embedded as base64 PNG) so it can be mailed or
archived. Sections (element ids): ``summary``, ``model``, ``conversion``, ``nnapi``, ``parity`` (for a
temporal SNN: the float simulation, the weight floor, the deployed arithmetic and LiteRT, layer by
layer), ``latency``, ``energy``; plots: the SNN accuracy sweep (and a temporal model's agreement
with the simulation by step), the latency histogram, the per-layer energy bars.
"""

from __future__ import annotations

import base64
import html
import tempfile
from pathlib import Path
from typing import Any

from npukit.version import __version__
from npukit.files import atomic_write, check_writable
from npukit.data import DEFAULT_DATA
from npukit.progress import Reporter, silent
from npukit.reports import duration

SWEEP = (1, 2, 4, 8, 16, 32, 64)
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
th { background: #f3f3f3; }
.ok { color: #1a7f37; } .bad { color: #c62828; } .note { color: #666; font-size: 0.85em; }
img { max-width: 100%; border: 1px solid #eee; }
"""


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def build_report(
    model: str | Path,
    output: str | Path,
    *,
    data: str | Path | None = None,
    timesteps: int | None = None,
    mode: str = "rate",
    api_level: int = 30,
    runs: int = 100,
    dt: float | None = None,
    framework: str | None = None,
    reset: str | None = None,
    input_shape: tuple[int, ...] | None = None,
    samples: int | None = None,
    force: bool = False,
    progress: Reporter = silent,
) -> Path:
    """Write the HTML report of ``model`` (any source format: Keras, ONNX, NIR, npukit IR) to
    ``output``: converted in ``mode`` (rate or temporal), compared on ``data`` (default digits;
    ``samples``: its first N test samples) with an SNN accuracy sweep over T (``SWEEP``, up to
    the length of a time series, and the T of the conversion), checked for NN-API at
    ``api_level`` and profiled (``runs`` timed invokes).

    ``dt`` (seconds), ``framework`` and ``reset`` (NIR only: the exporting framework's neuron
    convention, ``npukit.snn.frameworks``) and ``input_shape`` (ONNX only: batch-first, replaces
    symbolic dimensions) go to :func:`npukit.loading.load`.
    """
    from npukit.api import inspect
    from npukit.conversion import convert
    from npukit.nnapi.check import check_model
    from npukit.parity import parity
    from npukit.figures import render
    from npukit.profile.run import profile

    check_writable(output, force)
    source = {"dt": dt, "input_shape": input_shape, "framework": framework, "reset": reset}
    with tempfile.TemporaryDirectory() as tmp:
        tflite = Path(tmp) / "model.tflite"
        converted = convert(model, tflite, mode=mode, data=data, timesteps=timesteps, api_level=api_level, progress=progress, **source)
        data = DEFAULT_DATA if data is None else data  # convert refused a default that does not fit
        steps = converted.metadata["timesteps"]
        rep = parity(model, tflite, data, timesteps=timesteps, samples=samples, sweep=sweep_for(steps, converted.metadata["encoding"]),
                     progress=progress, **source)
        delegation = check_model(tflite, api_level, gpu=True)
        prof = profile(tflite, source=model, data=data, runs=runs, timesteps=timesteps, progress=progress, **source)
    info = inspect(model, **source)
    pngs = render(("parity", (rep.to_dict(),)), ("latency", (prof["latency_samples_ms"], "steady-state invokes")),
                  ("energy", (prof.to_dict(),)))  # one isolated child draws all three (npukit.figures)
    page = _page(model, info, converted.to_dict(), delegation.to_dict(), rep.to_dict(), prof.to_dict(), *pngs)
    return atomic_write(output, page.encode(), force)


def sweep_for(timesteps: int, encoding: str) -> list[int]:
    """The T values of the report's sweep: ``SWEEP`` and the model's own T; a time series
    (its encoding ``time_series``) cannot be simulated past its length."""
    from npukit.snn.encoders import TIME_SERIES

    values = set(SWEEP) | {int(timesteps)}
    return sorted(t for t in values if encoding != TIME_SERIES or t <= timesteps)


def _deployed(d: dict) -> str:
    """The temporal parity's three columns (docs/reports.md, ``deployed``)."""
    a = d["agreement"]
    states = {s["layer"]: s for s in d.get("states") or () if s["kind"] == "v"}
    return "".join([
        f"<h3>The deployed graph ({html.escape(str(d['weights']))} weights, {html.escape(str(d.get('state') or 'float32'))} "
        "state) against the simulation</h3>",
        _table(["run", "top-1 agreement with the SNN"], [
            ["weight floor (float simulation, the file's weights)", _pct(a["floor_vs_snn"])],
            ["deployed arithmetic (numpy)", _pct(a["deployed_vs_snn"])], ["LiteRT", _pct(a["tflite_vs_snn"])],
            ["LiteRT vs deployed arithmetic", _pct(a["tflite_vs_deployed"])],
        ]),
        _table(["layer", "neurons", "spikes = SNN: floor", "deployed", "LiteRT", "LiteRT = deployed", "v cosine",
                "first divergence step (earliest / median)"],
               [[r["layer"], r["neurons"], _pct(r["spikes_equal"]["floor_vs_snn"]), _pct(r["spikes_equal"]["deployed_vs_snn"]),
                 _pct(r["spikes_equal"]["tflite_vs_snn"]), _pct(r["spikes_equal"]["deployed_vs_tflite"]),
                 (states.get(r["layer"]) or {}).get("cosine", {}).get("deployed"),
                 f"{r['first_divergence_step']['deployed']['earliest']} / {r['first_divergence_step']['deployed']['median']}"]
                for r in d["layers"]]),
    ])


def _page(model, info, conv, delegation, rep, prof, sweep_png, latency_png, energy_png) -> str:
    acc = rep.get("accuracy") or {}
    names = {"reference": "float model", "snn": "SNN (numpy simulation)", "tflite": "int8 TFLite" if conv["quantization"] == "int8" else "TFLite"}
    verdict = '<span class="ok">runs whole on NN-API</span>' if delegation["fully_delegated"] else '<span class="bad">not fully delegated</span>'
    parts = [
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>npukit report: {html.escape(Path(str(model)).name)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>npukit report: {html.escape(str(model))}</h1>",
        f"<p class='note'>npukit {__version__}; data: {html.escape(rep['data'])}; T = {rep['timesteps']}</p>",
        "<section id='summary'><h2>Summary</h2>",
        _table(["", "top-1 accuracy"], [[names[k], _pct(v)] for k, v in acc.items()]),
        f"<p>Converted to {conv['mode']}-mode {conv['quantization']} TFLite ({conv['model_bytes']:,} bytes): {verdict} at API "
        f"{delegation['api_level']} ({delegation['delegated_ops']}/{delegation['total_ops']} ops). Steady-state latency "
        f"{duration(prof['latency_ms']['mean'])} per invoke on this machine"
        + (f", {duration(prof['step_loop_ms']['mean'])} per T = {prof['timesteps']}-step inference" if prof.get("step_loop_ms") else "")
        + ".</p></section>",
        "<section id='model'><h2>Model</h2>",
        _table(["layer", "type", "shape", "params", "MACs"],
               [[r["name"], r["type"], "x".join(map(str, r["shape"])), r["params"], r["macs"]] for r in info["layers"]]),
        f"<p>{info['total_params']:,} parameters, {info['total_macs']:,} MACs per sample.</p></section>",
        "<section id='conversion'><h2>Conversion</h2>",
        _table(["field", "value"], [
            ["mode", conv["mode"]], ["quantization", conv["quantization"]], ["state", conv.get("state")],
            ["I/O", conv["io_dtype"]], ["batch", conv["batch"]],
            ["ops", ", ".join(f"{k} x{v}" for k, v in conv["op_counts"].items())],
            ["calibration", (conv["calibration"] or {}).get("data")], ["seconds", conv["seconds"]],
        ]), "</section>",
        "<section id='nnapi'><h2>NN-API delegation</h2>",
        f"<p>At API {delegation['api_level']}: {verdict}; {delegation['partitions']} partition(s); lowest level that "
        f"delegates it whole: {delegation['min_api_level']}.</p>",
        _table(["#", "op", "delegated", "op needs API", "reason", "fix"],
               [[o["index"], o["op"], "yes" if o["delegated"] else "NO", o["min_api_level"], o["reason"], o["hint"]] for o in delegation["ops"]]),
        "".join(f"<p class='note'>warning: {html.escape(w)}</p>" for w in delegation["warnings"]),
        "</section>",
        "<section id='parity'><h2>Parity</h2>",
        _table(["pair", "top-1 agreement"], [[k.replace("_", " "), _pct(v)] for k, v in rep["agreement"].items()]),
        "".join(f"<p class='note'>warning: {html.escape(w)}</p>"
                for w in [*rep.get("warnings", ()), *(rep.get("snn") or {}).get("warnings", ())]),
    ]
    if rep["layers"]:
        parts.append(_table(
            ["layer", "type", "SNN cosine", "SNN max err", "TFLite cosine", "TFLite max err"],
            [[r["name"], r["type"], (r["snn"] or {}).get("cosine"), (r["snn"] or {}).get("max_abs_error"),
              (r["tflite"] or {}).get("cosine"), (r["tflite"] or {}).get("max_abs_error")] for r in rep["layers"]],
        ))
    if rep.get("deployed"):
        parts.append(_deployed(rep["deployed"]))
    parts += [
        "<h3>SNN accuracy against T" + ("; agreement with the simulation by step" if rep.get("deployed") else "") + "</h3>",
        _img(sweep_png, "SNN accuracy against timesteps"), "</section>",
        "<section id='latency'><h2>Latency (LiteRT, this machine)</h2>",
        _table(["figure", "time"], [["init", duration(prof["init_ms"])], ["first inference", duration(prof["first_inference_ms"])],
                                    *[[f"steady {k}", duration(v)] for k, v in prof["latency_ms"].items() if k != "count"],
                                    *[[f"T = {prof['timesteps']}-step inference {k}", duration(v)]
                                      for k, v in (prof.get("step_loop_ms") or {}).items() if k in ("mean", "p90")]]),
        f"<p>{prof['latency_ms']['count']} runs; peak RSS {prof['peak_rss_mb']:.1f} MiB.</p>",
        _img(latency_png, "latency histogram"), "</section>",
        "<section id='energy'><h2>Energy per inference (estimates)</h2>",
        f"<p class='note'>{html.escape(prof['energy_note'])}</p>",
        _table(["platform", "uJ", "table", "source"], [[k, v["uj"], v["title"], v["source"]] for k, v in prof["energy_uj"].items()]),
        _img(energy_png, "energy per layer"), "</section></body></html>",
    ]
    return "\n".join(parts)
