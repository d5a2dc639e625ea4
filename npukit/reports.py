"""Plain-text renderings of the reports the CLI prints (the JSON forms are the reports' dicts)."""

from __future__ import annotations

from typing import Any


def duration(ms: float | None) -> str:
    """A time given in milliseconds as text: in us under 1 ms (as TFLite's benchmark_model
    prints), else in ms; three significant digits, no exponent."""
    import math

    if ms is None:
        return "-"
    value, unit = (ms * 1000.0, "us") if abs(ms) < 1.0 else (ms, "ms")
    digits = max(0, 2 - math.floor(math.log10(abs(value)))) if value else 1
    return f"{value:.{digits}f} {unit}"


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
    if not info.get("convertible", True):
        rows = [[u["op"], u["where"]] for u in info["unsupported"]]
        return "\n".join([
            f"{info['model']}: does not convert: {len(rows)} unsupported op(s) ({info['format']})",
            _table(["unsupported op", "where"], rows),
            f"supported: {', '.join(info['supported'])}",
        ])
    rows = [[r["name"], r["type"], "x".join(map(str, r["shape"])), f"{r['params']:,}", f"{r['macs']:,}"] for r in info["layers"]]
    head = f"{info['model']}: {len(info['layers'])} nodes, input {info['input_shape']}, output {info['output_shape']}"
    foot = f"total: {info['total_params']:,} parameters, {info['total_macs']:,} MACs per sample"
    if info["folded_batchnorm"]:
        foot += f"; BatchNorm folded: {', '.join(f'{k} -> {v}' for k, v in info['folded_batchnorm'].items())}"
    return "\n".join([head, _table(["layer", "type", "shape", "params", "MACs"], rows), foot])


def render_convert(result: dict[str, Any]) -> str:
    if result["target"] == "ir":
        return f"wrote {result['output_file']} (npukit IR, {result['model_bytes']} bytes)"
    if result["target"] == "nir":
        info = result["nir"]
        lines = [f"wrote {result['output_file']} (NIR, {result['model_bytes']} bytes, dt {info['dt']:g} s): "
                 + ", ".join(f"{k} {v}" for k, v in info["nodes"].items())]
        if "accuracy" in info:
            a = info["accuracy"]
            lines.append(
                f"{a['data']}, T={a['timesteps']}: npukit SNN {_pct(a['npukit_snn'])}, exported NIR semantics "
                f"(reset to 0, v(0)=0) {_pct(a['exported'])}"
            )
        return "\n".join(lines)
    ops = ", ".join(f"{op} x{n}" for op, n in result["op_counts"].items())
    tin, tout = result["input_tensor"], result["output_tensor"]
    where = f"wrote {result['output_file']}" if result["output_file"] else "converted"
    nnapi = result.get("nnapi")
    delegation = []
    if result["mode"] == "temporal":
        delegation.append(f"one invoke per timestep (T={result['timesteps']}); {result.get('state') or 'float32'} states: "
                          f"{', '.join(result['states'])}")
        tuning = result.get("tuning")
        if tuning:
            floats = len(tuning["float_synapses"])
            delegation.append(
                f"int8 weights rounded by {result.get('rounding')}; synapses: {len(tuning['range_factors'])} int8"
                + (f", {floats} left in float32 (int8 cost their readout more than the weights do)" if floats else "")
                + f"; readout error on the calibration data {tuning['readout_error']:.3g} (weights alone {tuning['floor_readout_error']:.3g})"
            )
    if nnapi:
        delegation.append(
            f"NN-API at API {nnapi['api_level']}: {nnapi['delegated_ops']}/{nnapi['total_ops']} ops delegated"
            + (" (runs whole)" if nnapi["fully_delegated"] else "; on the CPU: " + "; ".join(nnapi["cpu_ops"]))
        )
        delegation += [f"warning: {w}" for w in nnapi["warnings"]]
    return "\n".join(
        [
            f"{where} ({result['mode']} mode, {result['model_bytes']} bytes, "
            f"{'float32' if result['quantization'] == 'none' else result['quantization']} weights, "
            f"{result['io_dtype']} I/O, batch {result['batch']}) in {result['seconds']:.1f} s",
            f"ops: {ops}",
            f"input {tin['dtype']} {tin['shape']}, output {tout['dtype']} {tout['shape']}; "
            + (f"calibrated on {result['calibration']['data']}" if result["calibration"] else "no calibration (float32)"),
            *delegation,
        ]
    )


def _threshold(value) -> str:
    return "per neuron" if value is None else f"{value:.4g}"


def render_simulate(report: dict[str, Any]) -> str:
    rows = [
        [name, f"{report['spikes_per_sample'][name]:.1f}", f"{report['firing_rate'][name]:.4f}",
         _threshold((report["thresholds"] or {}).get(name))]
        for name in report["spikes_per_sample"]
    ]
    deployed = report.get("as_deployed")
    lines = [
        f"{report['data']}: T={report['timesteps']}, encoding {report['encoding']}, "
        f"accuracy {_pct(report['accuracy'])}",
        *([f"as deployed: the arithmetic of {deployed['tflite']} ({deployed['quantization']} weights, "
           f"{deployed.get('state') or 'float32'} state, {deployed['mode']} mode), in numpy"] if deployed else []),
        _table(["spiking layer", "spikes/sample", "rate (spikes/neuron/step)", "threshold"], rows),
        f"simulated in {report['seconds']:.3f} s ({report['samples_x_timesteps_per_second']:,.0f} samples x timesteps / s)",
    ]
    if report.get("sops") is not None:
        layers = ", ".join(f"{k} {v:,.0f}" for k, v in report["layer_sops"].items())
        lines.append(f"synaptic operations per sample: {report['sops']:,.0f} ({layers})")
    lines += [f"warning: {w}" for w in report.get("warnings") or ()]
    if report.get("saved"):
        lines.append(f"wrote {report['saved']} (outputs and per-layer spike counts)")
    return "\n".join(lines)


_NAMES = {"reference": "float", "snn": "SNN", "tflite": "TFLite"}


def render_parity(report: dict[str, Any]) -> str:
    acc, agree = report["accuracy"], report["agreement"]
    mode = report.get("mode", "rate")
    lines = [f"{report['data']}, T={report['timesteps']} ({report['encoding']} encoding), {mode}-mode TFLite"]
    if report.get("snn_unavailable"):
        lines.append(f"SNN: not compared: {report['snn_unavailable']}")
    if acc:
        lines.append("top-1 accuracy: " + ", ".join(f"{_NAMES[k]} {_pct(v)}" for k, v in acc.items() if v is not None))
    pairs = {"snn_vs_reference": "SNN vs float", "tflite_vs_reference": "TFLite vs float", "tflite_vs_snn": "TFLite vs SNN"}
    lines.append("top-1 agreement: " + ", ".join(f"{pairs[k]} {_pct(v)}" for k, v in agree.items() if v is not None))
    if report.get("output"):
        o = report["output"]
        lines.append(f"TFLite readout vs SNN readout: cosine {o['cosine']:.5f}, max abs error {o['max_abs_error']:.3g}")
    if report.get("spike_agreement") is not None:
        lines.append(f"output spike counts equal on {_pct(report['spike_agreement'])} of (sample, neuron) pairs")
    if report["layers"]:
        rows = []
        for layer in report["layers"]:
            snn, tfl = layer["snn"], layer["tflite"]
            rows.append(
                [layer["name"], layer["type"], "-" if snn is None else f"{snn['cosine']:.5f}",
                 "-" if snn is None else f"{snn['max_abs_error']:.3g}",
                 "-" if tfl is None else f"{tfl['cosine']:.5f}", "-" if tfl is None else f"{tfl['max_abs_error']:.3g}"]
            )
        lines.append(_table(["layer", "type", "SNN cosine", "SNN max err", "TFLite cosine", "TFLite max err"], rows))
        first = report["first_divergent_layer"]
        for key, label in (("snn", "SNN"), ("tflite", "TFLite")):
            if key == "snn" and report.get("snn_unavailable"):
                continue
            where = first[key]
            lines.append(
                f"{label}: " + (f"diverges first at {where} (cosine < {report['divergence_cosine']})" if where
                                else f"no layer below cosine {report['divergence_cosine']}")
            )
    if report.get("deployed"):
        lines += _deployed_lines(report["deployed"])
    if report.get("sweep"):
        key = "snn_accuracy" if acc else "snn_agreement"
        lines.append("SNN vs T: " + ", ".join(f"T={r['timesteps']} {_pct(r[key])}" for r in report["sweep"]))
    lines += [f"warning: {w}" for w in (report.get("snn") or {}).get("warnings") or ()]
    lines += [f"warning: {w}" for w in report.get("warnings") or ()]
    if report.get("plot"):
        lines.append(f"wrote {report['plot']} (SNN accuracy against T, agreement by step of a temporal model)")
    return "\n".join(lines)


def _deployed_lines(d: dict[str, Any]) -> list[str]:
    """The three columns of a temporal parity (docs/reports.md, ``deployed``)."""
    a, spikes = d["agreement"], d.get("spike_agreement") or {}
    lines = [
        f"deployed graph: {d['weights']} weights, {d.get('state') or 'float32'} state; top-1 agreement with the SNN: "
        f"weight floor {_pct(a['floor_vs_snn'])}, deployed arithmetic {_pct(a['deployed_vs_snn'])}, "
        f"LiteRT {_pct(a['tflite_vs_snn'])}; LiteRT vs deployed arithmetic {_pct(a['tflite_vs_deployed'])}",
    ]
    if spikes:
        lines.append(
            "spikes equal, all layers (sample x neuron x step): LiteRT vs deployed arithmetic "
            f"{_pct(spikes['deployed_vs_tflite'])}, deployed vs SNN {_pct(spikes['deployed_vs_snn'])}, "
            f"floor vs SNN {_pct(spikes['floor_vs_snn'])}"
        )
    states = {s["layer"]: s for s in d.get("states") or () if s["kind"] == "v"}
    rows = []
    for layer in d["layers"]:
        eq, first = layer["spikes_equal"], layer["first_divergence_step"]["deployed"]
        state = states.get(layer["layer"])
        rows.append([
            layer["layer"], layer["neurons"],
            f"{_pct(eq['floor_vs_snn'])} / {_pct(eq['deployed_vs_snn'])} / {_pct(eq['tflite_vs_snn'])}",
            _pct(eq["deployed_vs_tflite"]),
            "-" if state is None else f"{state['cosine']['deployed']:.5f}",
            "-" if first["earliest"] is None else f"{first['earliest']} / {first['median'] if first['median'] is not None else '-'}",
        ])
    if rows:
        lines.append(_table(["layer", "neurons", "spikes = SNN: floor / deployed / LiteRT", "LiteRT = deployed",
                             "v cosine (deployed)", "deployed diverges at step (first / median)"], rows))
    return lines


def _level(level: int | None) -> str:
    from npukit.nnapi.rules import LEVEL_NAMES

    return "none" if level is None else LEVEL_NAMES.get(level, str(level))


def render_check(report: dict[str, Any]) -> str:
    verdict = "runs fully on NN-API" if report["fully_delegated"] else "NOT fully delegated"
    lines = [
        f"{report['model'] or 'model'} at {_level(report['api_level'])}: {report['delegated_ops']}/{report['total_ops']} "
        f"ops delegated in {report['partitions']} partition(s): {verdict}",
        f"lowest level that delegates it whole: {_level(report['min_api_level'])}",
    ]
    rows = [
        [op["index"], op["op"], "yes" if op["delegated"] else "NO", _level(op["min_api_level"]).split(" (")[0],
         op["reason"] or ""]
        for op in report["ops"]
    ]
    if report.get("dynamic"):
        dyn = report["dynamic"]
        lines.append(f"dynamic-sized tensor at op {dyn['op_index']} {dyn['op']}: {dyn['reason']}; the interpreter "
                     "refuses a static-shape delegate such as NN-API for such a model")
    lines.append(_table(["#", "op", "delegated", "op needs", "reason"], rows))
    lines += _fix_lines(report["ops"])
    lines += [f"warning: {w}" for w in report["warnings"]]
    gpu = report.get("gpu")
    if gpu and gpu.get("unavailable"):
        lines.append(f"GPU delegate: unavailable ({gpu['unavailable']})")
    elif gpu:
        state = {True: "compatible", False: "NOT compatible", None: "unknown"}[gpu["compatible"]]
        lines.append(f"GPU delegate ({gpu['analyzer']} Analyzer): {state}" + "".join(f"\n  {w}" for w in gpu["warnings"]))
        if gpu.get("caveat"):
            lines.append(f"  caveat: {gpu['caveat']}")
    return "\n".join(lines)


def _fix_lines(ops: list[dict[str, Any]]) -> list[str]:
    """One line per distinct fix, naming the ops it applies to (runs of indices as ranges)."""
    by_hint: dict[str, list[dict[str, Any]]] = {}
    for op in ops:
        if op["hint"]:
            by_hint.setdefault(op["hint"], []).append(op)
    lines = []
    for hint, group in by_hint.items():
        if len(group) == 1:
            lines.append(f"fix for op {group[0]['index']} {group[0]['op']}: {hint}")
        else:
            lines.append(f"fix for ops {_ranges([op['index'] for op in group])}: {hint}")
    return lines


def _ranges(indices: list[int]) -> str:
    """[0, 1, 2, 5, 7, 8] -> "0-2, 5, 7-8"."""
    runs: list[list[int]] = []
    for i in indices:
        if runs and i == runs[-1][-1] + 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    return ", ".join(str(r[0]) if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs)


def render_rules(rows: list[dict[str, Any]]) -> str:
    lines = [f"NN-API delegate rules ({len(rows)} operators; source: {rows[0]['source']})", ""]
    for r in rows:
        version = f"version <= {r['max_version']}" if r["max_version"] else "any version"
        lines.append(f"{r['op']}: from {_level(r['min_level']).split(' (')[0]}, {version}  [source {r['lines']}]")
        if r["types"]:
            parts = [", ".join(t).lower() for _, t in r["types"]]
            text = parts[0] + "".join(
                f"; from {_level(level).split(' (')[0]}: {p}" for (level, _), p in zip(r["types"][1:], parts[1:])
            )
            lines.append(f"  input 0: {text}")
        lines += [f"  - {c}" for c in r["conditions"]]
        if r["note"]:
            lines.append(f"  not checked from the file: {r['note']}")
    lines.append("")
    lines.append("Operators not listed are not supported by the NN-API delegate at any level.")
    return "\n".join(lines)


def render_profile(report: dict[str, Any]) -> str:
    lat = report["latency_ms"]
    lines = [
        f"{report['model']} ({report['mode']} mode, {report['model_bytes']:,} bytes) on {report['interpreter']}, "
        f"{report['threads'] or 'default'} threads, XNNPACK {'on' if report['xnnpack'] else 'off'}",
        f"init {duration(report['init_ms'])}, first inference {duration(report['first_inference_ms'])}, "
        f"warmup mean {duration(report['warmup_mean_ms'])}",
        f"steady state ({lat['count']} runs): "
        + ", ".join(f"{k} {duration(lat[k])}" for k in ("mean", "std", "min", "max", "p50", "p90", "p99")),
        f"peak RSS {report['peak_rss_mb']:.1f} MiB (before loading the model: {report['baseline_rss_mb']:.1f} MiB)",
    ]
    if report.get("step_loop_ms"):
        loop = report["step_loop_ms"]
        lines.append(f"T={report['timesteps']}-step inference (host loop): mean {duration(loop['mean'])}, p90 {duration(loop['p90'])}")
    counts = f"{report['macs']:,} MACs per sample (from the {report['counted_from']})"
    if report["sops"] is not None:
        counts += f"; spiking version over T={report['timesteps']}: {report['sops']:,.0f} SOPs, {report['neuron_updates']:,} neuron updates"
    lines.append(counts)
    rows = [[name, f"{e['uj']:.4g}", e["title"]] for name, e in report["energy_uj"].items()]
    lines.append("energy per inference (ESTIMATES from published per-operation costs, not measurements):")
    lines.append(_table(["platform", "uJ", "table"], rows))
    device = report.get("device_comparison")
    if device:
        d = device["device"]
        lines.append(f"device: {d.get('model', '?')} ({d.get('soc', '?')}, API {d.get('api_level', '?')}), delegate {device.get('delegate')}")
        extra = []
        if device.get("accuracy") is not None:
            extra.append(f"device accuracy {device['accuracy']:.2%}")
        if device.get("host_agreement") is not None:
            extra.append(f"top-1 agreement with the host {device['host_agreement']:.2%}")
        if device.get("same_model") is not None:
            extra.append("same .tflite as the host" if device["same_model"] else "WARNING: the device ran another .tflite (sha256 differs)")
        if device.get("delegate_error"):
            extra.append(f"delegate error: {device['delegate_error']}")
        if extra:
            lines.append("; ".join(extra))
        lines.append(_table(["figure", "host", "device"], [[r["figure"], _num(r["host"]), _num(r["device"])] for r in device["rows"]]))
    if report.get("plot"):
        lines.append(f"wrote {report['plot']} (latency histogram and energy per layer)")
    return "\n".join(lines)


def _num(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def render_bundle(doc: dict) -> str:
    """Text of ``npukit bundle``'s result."""
    v, host = doc["vectors"], doc["host"]
    steps = f"T={doc['timesteps']} steps, {len(doc['states'])} state tensors" if doc["mode"] == "temporal" else "one invoke per sample"
    accuracy = "unlabeled data" if host["accuracy"] is None else f"host accuracy {host['accuracy']:.2%} ({host['interpreter']})"
    return "\n".join([
        f"bundle {doc['name']} -> {doc['folder'] or '(a temporary folder)'}",
        f"model.tflite  {doc['model']['bytes']:,} bytes, {doc['mode']} mode, {steps}",
        f"vectors.bin   {v['bytes']:,} bytes: {v['samples']} samples x {doc['frames_per_sample']} frame(s) x "
        f"{v['elements_per_frame']} float32 ({v['data']}, encoding {doc['encoding']})",
        f"labels.txt    {len(doc['labels']['classes'])} classes",
        f"bundle.json   input {doc['inputs'][0]['dtype']} {doc['inputs'][0]['shape']}, output {doc['outputs'][0]['dtype']} "
        f"{doc['outputs'][0]['shape']}; {accuracy}",
    ])
