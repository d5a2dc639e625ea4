"""Plain-text renderings of the reports the CLI prints (the JSON forms are the reports' dicts)."""

from __future__ import annotations

from typing import Any


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}%"


def _table(header: list[str], rows: list[list[Any]]) -> str:
    cells = [header] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render_inspect(info: dict[str, Any]) -> str:
    if info["format"] == "tflite":
        meta = info.get("metadata") or {}
        lines = [
            f"{info['model']}: TFLite, {info['model_bytes']} bytes, {len(info['ops'])} ops, {info['tensors']} tensors",
            "ops: " + ", ".join(f"{op} x{n}" for op, n in info["op_counts"].items()),
        ]
        for kind in ("inputs", "outputs"):
            for t in info[kind]:
                q = f" scale {t['scale'][0]:.6g} zero point {t['zero_point'][0]}" if t["scale"] else ""
                lines.append(f"{kind[:-1]}: {t['name']} {t['dtype']} {t['shape']}{q}")
        if meta:
            lines.append(
                f"npukit metadata: version {meta.get('npukit_version')}, source {meta.get('source', {}).get('file')}, "
                f"quantization {meta.get('quantization')}, T={meta.get('timesteps')}, encoding {meta.get('encoding')}"
            )
        return "\n".join(lines)
    rows = [[r["name"], r["type"], "x".join(map(str, r["shape"])), f"{r['params']:,}", f"{r['macs']:,}"] for r in info["layers"]]
    head = f"{info['model']}: {len(info['layers'])} nodes, input {info['input_shape']}, output {info['output_shape']}"
    foot = f"total: {info['total_params']:,} parameters, {info['total_macs']:,} MACs per sample"
    if info["folded_batchnorm"]:
        foot += f"; BatchNorm folded: {', '.join(f'{k} -> {v}' for k, v in info['folded_batchnorm'].items())}"
    return "\n".join([head, _table(["layer", "type", "shape", "params", "MACs"], rows), foot])


def render_convert(result: dict[str, Any]) -> str:
    if result["target"] == "ir":
        return f"wrote {result['output_file']} (npukit IR, {result['model_bytes']} bytes)"
    ops = ", ".join(f"{op} x{n}" for op, n in result["op_counts"].items())
    tin, tout = result["input_tensor"], result["output_tensor"]
    where = f"wrote {result['output_file']}" if result["output_file"] else "converted"
    return "\n".join(
        [
            f"{where} ({result['model_bytes']} bytes, {result['quantization']} weights, "
            f"{result['io_dtype']} I/O, batch {result['batch']}) in {result['seconds']:.1f} s",
            f"ops: {ops}",
            f"input {tin['dtype']} {tin['shape']}, output {tout['dtype']} {tout['shape']}; "
            f"calibrated on {result['calibration']['data']}",
        ]
    )


def render_simulate(report: dict[str, Any]) -> str:
    rows = [
        [name, f"{report['spikes_per_sample'][name]:.1f}", f"{report['firing_rate'][name]:.4f}",
         f"{(report['thresholds'] or {}).get(name, float('nan')):.4g}"]
        for name in report["spikes_per_sample"]
    ]
    lines = [
        f"{report['data']}: T={report['timesteps']}, encoding {report['encoding']}, "
        f"accuracy {_pct(report['accuracy'])}",
        _table(["spiking layer", "spikes/sample", "rate (spikes/neuron/step)", "threshold"], rows),
        f"simulated in {report['seconds']:.3f} s ({report['samples_x_timesteps_per_second']:,.0f} samples x timesteps / s)",
    ]
    return "\n".join(lines)


def render_parity(report: dict[str, Any]) -> str:
    acc, agree = report["accuracy"], report["agreement"]
    lines = [f"{report['data']}, T={report['timesteps']} ({report['encoding']} encoding)"]
    if acc:
        lines.append(
            f"top-1 accuracy: float {_pct(acc['reference'])}, SNN {_pct(acc['snn'])}, TFLite {_pct(acc['tflite'])}"
        )
    lines.append(
        f"top-1 agreement: SNN vs float {_pct(agree['snn_vs_reference'])}, TFLite vs float "
        f"{_pct(agree['tflite_vs_reference'])}, TFLite vs SNN {_pct(agree['tflite_vs_snn'])}"
    )
    rows = []
    for layer in report["layers"]:
        snn, tfl = layer["snn"], layer["tflite"]
        rows.append(
            [layer["name"], layer["type"], f"{snn['cosine']:.5f}", f"{snn['max_abs_error']:.3g}",
             "-" if tfl is None else f"{tfl['cosine']:.5f}", "-" if tfl is None else f"{tfl['max_abs_error']:.3g}"]
        )
    lines.append(_table(["layer", "type", "SNN cosine", "SNN max err", "TFLite cosine", "TFLite max err"], rows))
    first = report["first_divergent_layer"]
    for key, label in (("snn", "SNN"), ("tflite", "TFLite")):
        where = first[key]
        lines.append(
            f"{label}: " + (f"diverges first at {where} (cosine < {report['divergence_cosine']})" if where
                            else f"no layer below cosine {report['divergence_cosine']}")
        )
    if report.get("sweep"):
        key = "snn_accuracy" if acc else "snn_agreement"
        lines.append("SNN vs T: " + ", ".join(f"T={r['timesteps']} {_pct(r[key])}" for r in report["sweep"]))
    return "\n".join(lines)
