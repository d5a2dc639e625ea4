"""The Android demo's side of the contract, checked without an Android SDK.

* every key the app's Kotlin reads from bundle.json is one the schema defines (and, for keys it
  requires, one the schema requires) and one `npukit bundle` writes;
* every key the app's report builder writes is one the device-report schema defines, and it
  writes every key the schema requires;
* the sample device report in android_demo/ (written by the app's own report builder on the JVM,
  tools/jvm_tests.sh --sample-report) loads in `npukit profile --device-report`;
* the shipped bundles are valid, and the host traces the JVM tests replay agree with the bundles
  and with LiteRT on this machine.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from npukit.bundle import read_bundle
from npukit.cli import app
from npukit.schemas import load_schema, validate

DEMO = Path(__file__).resolve().parents[1] / "android_demo"
CORE = DEMO / "app" / "src" / "main" / "java" / "dev" / "npukit" / "demo" / "core"
ASSETS = DEMO / "app" / "src" / "main" / "assets"
TRACES = DEMO / "app" / "src" / "test" / "resources" / "host_traces"
runner = CliRunner()

READ = re.compile(r"\.(get|opt|isNull)(String|Int|Long|Double|Boolean|JSONObject|JSONArray)?\(\s*\"([a-z0-9_]+)\"\s*\)")
PUT = re.compile(r"\.put\(\s*\"([a-z0-9_]+)\"")


def _walk(schema: dict):
    """Every object schema in ``schema`` (properties, items, $defs), depth first."""
    if isinstance(schema, dict):
        if "properties" in schema:
            yield schema
        for value in schema.values():
            yield from _walk(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from _walk(value)


def _keys(schema: dict) -> tuple[set[str], set[str]]:
    """(all property names, required property names) anywhere in the schema."""
    names, required = set(), set()
    for node in _walk(schema):
        names |= set(node["properties"])
        required |= set(node.get("required", []))
    return names, required


def _json_keys(value) -> set[str]:
    if isinstance(value, dict):
        return set(value) | set().union(*(_json_keys(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_json_keys(v) for v in value)) if value else set()
    return set()


def test_kotlin_reads_only_keys_the_bundle_schema_defines():
    source = (CORE / "BundleMetadata.kt").read_text()
    reads = READ.findall(source)
    assert len(reads) >= 30, "the key pattern no longer matches how BundleMetadata.kt reads JSON"
    names, required = _keys(load_schema("bundle"))
    written = set()
    for folder in sorted(p for p in ASSETS.iterdir() if (p / "bundle.json").is_file()):
        written |= _json_keys(json.loads((folder / "bundle.json").read_text()))
    for verb, _, key in reads:
        assert key in names, f"BundleMetadata.kt reads {key!r}, which the bundle schema does not define"
        assert key in written, f"BundleMetadata.kt reads {key!r}, which no shipped bundle.json holds"
        if verb == "get":
            assert key in required, f"BundleMetadata.kt requires {key!r} but the schema lets npukit bundle omit it"


def test_kotlin_report_builder_writes_the_device_report_schema():
    source = (CORE / "DeviceReport.kt").read_text()
    puts = set(PUT.findall(source))
    schema = load_schema("device_report")
    names, _ = _keys(schema)
    assert puts - names == set(), f"DeviceReport.kt writes keys the schema lacks: {sorted(puts - names)}"
    assert set(schema["required"]) <= puts
    assert set(schema["properties"]["device"]["required"]) <= puts
    assert set(schema["$defs"]["stats"]["required"]) <= puts
    # and the delegate names the app can report are the schema's
    keys = re.findall(r'\b(?:NNAPI|GPU|CPU)\("(\w+)"', (CORE / "Accelerators.kt").read_text())
    assert sorted(keys) == sorted(schema["properties"]["delegate"]["enum"])
    preferences = re.findall(r'\b[A-Z_]+\("(\w+)", "[^"]+", \d\)', (CORE / "Accelerators.kt").read_text())
    assert sorted(preferences) == sorted(p for p in schema["properties"]["execution_preference"]["enum"] if p)


def test_sample_device_report_loads_in_the_profiler(tmp_path):
    sample = DEMO / "sample_device_report.json"
    report = json.loads(sample.read_text())
    validate(report, "device_report", str(sample))
    assert report["device"]["model"].startswith("JVM replay")  # says plainly it is not a phone
    assert report["samples"] == 360 and report["host_agreement"] == 1.0
    bundle, vectors = read_bundle(ASSETS / report["model"])
    assert report["model_sha256"] == bundle["model"]["sha256"]
    assert report["accuracy"] == pytest.approx(bundle["host"]["accuracy"], abs=1e-12)
    assert report["correct"] == int(np.sum(vectors.predictions == vectors.labels))
    # the report's statistics follow from its samples with numpy's definitions
    times = np.array(report["latency_samples_ms"])
    stats = report["latency_ms"]
    assert stats["count"] == times.size == report["runs"]
    for key, value in (("mean", times.mean()), ("std", times.std()), ("p50", np.percentile(times, 50)),
                       ("p90", np.percentile(times, 90)), ("p99", np.percentile(times, 99))):
        assert stats[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
    result = runner.invoke(app, ["profile", str(ASSETS / report["model"] / "model.tflite"), "--runs", "5",
                                 "--device-report", str(sample), "--json"])
    assert result.exit_code == 0, result.stderr
    comparison = json.loads(result.stdout)["device_comparison"]
    assert comparison["device"]["model"] == report["device"]["model"] and comparison["same_model"] is True
    assert comparison["accuracy"] == report["accuracy"] and comparison["host_agreement"] == 1.0
    assert {r["figure"] for r in comparison["rows"]} >= {"latency_ms.p50", "latency_ms.p90", "model_bytes"}
    # damaged copies are refused in one line
    for change, message in (({"delegate": "tpu"}, "delegate"), ({"accuracy": 1.5}, "accuracy"),
                            ({"latency_ms": {"mean": 1.0, "p50": 1.0}}, "p90"),
                            ({"latency_samples_ms": [1.0, float("nan")]}, "latency_samples_ms[1] must be a finite")):
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps({**report, **change}))
        result = runner.invoke(app, ["profile", str(ASSETS / report["model"] / "model.tflite"), "--runs", "5",
                                     "--device-report", str(bad)])
        assert result.exit_code == 2 and message in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_shipped_bundles_are_valid_and_current():
    from npukit.runtime import run_temporal, run_tflite
    from npukit.tflite_file import read_tflite

    modes = set()
    for folder in sorted(p for p in ASSETS.iterdir() if p.is_dir()):
        doc, vectors = read_bundle(folder)
        modes.add(doc["mode"])
        model = read_tflite(folder / "model.tflite")
        for entry, index in zip(doc["inputs"] + doc["outputs"], model.inputs + model.outputs):
            tensor = model.tensors[index]
            assert entry["name"] == tensor.name and entry["shape"] == list(tensor.shape)
            assert entry["scale"] == (tensor.scale[0] if entry["dtype"] != "float32" else None)
            assert entry["zero_point"] == (tensor.zero_point[0] if entry["dtype"] != "float32" else None)
        frames = doc["frames_per_sample"]  # > 1: a time series, one frame per step
        x = vectors.frames.reshape(vectors.frames.shape[0], *([frames] if frames > 1 else []), *doc["inputs"][0]["shape"][1:])
        if doc["mode"] == "rate":
            readout = run_tflite(folder / "model.tflite", x)[0]
        else:
            readout = run_temporal(folder / "model.tflite", x, None if frames > 1 else doc["timesteps"]).readouts
        agreement = np.mean(readout.reshape(len(x), -1).argmax(axis=1) == vectors.predictions)
        assert agreement >= 0.99, f"{folder.name}: the stored host predictions agree with LiteRT here on {agreement:.2%}"
    assert modes == {"rate", "temporal"}


def _host_trace_module():
    spec = importlib.util.spec_from_file_location("host_trace", DEMO / "tools" / "host_trace.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_host_traces_match_the_bundles_and_litert():
    trace = _host_trace_module().trace
    for path in sorted(TRACES.glob("*.json")):
        committed = json.loads(path.read_text())
        doc, vectors = read_bundle(ASSETS / committed["bundle"])
        assert committed["model_sha256"] == doc["model"]["sha256"]
        for sample in committed["samples"]:
            assert sample["prediction"] == vectors.predictions[sample["index"]]
            assert len(sample["steps"]) == doc["timesteps"]
        fresh = trace(ASSETS / committed["bundle"], len(committed["samples"]))
        # LiteRT here may differ from the machine that recorded the trace in the last bit:
        # within one quantum (integer tensors) or 1e-5 relative (float32)
        for old, new in zip(committed["samples"], fresh["samples"]):
            for a, b in zip(old["steps"], new["steps"]):
                assert _close(a["inputs"], b["inputs"], doc["inputs"])
                assert _close(a["outputs"], b["outputs"], doc["outputs"])
    assert {p.stem for p in TRACES.glob("*.json")} == {p.name for p in ASSETS.iterdir() if p.is_dir()}


def _close(old: list[str], new: list[str], tensors: list[dict]) -> bool:
    for a, b, tensor in zip(old, new, tensors, strict=True):
        dtype = np.dtype(tensor["dtype"]).newbyteorder("<")
        x = np.frombuffer(base64.b64decode(a), dtype).astype(np.float64)
        y = np.frombuffer(base64.b64decode(b), dtype).astype(np.float64)
        if x.shape != y.shape or x.size != int(np.prod(tensor["shape"])):
            return False
        if tensor["dtype"] == "float32" and not np.allclose(x, y, rtol=1e-5, atol=1e-6):
            return False
        if tensor["dtype"] != "float32" and np.abs(x - y).max(initial=0) > 1:
            return False
    return True


def test_damaged_device_reports_are_refused_cleanly(tmp_path):
    """300 mutations of the sample report: each is accepted or refused with BadInputError,
    never another exception."""
    from npukit.errors import BadInputError
    from npukit.profile.run import compare_device

    report = json.loads((DEMO / "sample_device_report.json").read_text())
    host = {"latency_ms": {"mean": 1.0, "p50": 1.0, "p90": 1.0}, "model": str(tmp_path / "none.tflite")}
    rng = np.random.default_rng(0)
    junk = [None, True, -1, 0, 1e308, float("nan"), "", "x" * 10_000, [], {}, [1, 2], {"a": {"b": []}}]
    paths = [(k,) for k in report] + [("device", k) for k in report["device"]] + [("latency_ms", k) for k in report["latency_ms"]]
    outcomes = {"accepted": 0, "refused": 0}
    for case in range(300):
        doc = json.loads(json.dumps(report))
        for _ in range(1 + case % 3):
            path = paths[rng.integers(len(paths))]
            parent = doc
            for key in path[:-1]:
                parent = parent.get(key) if isinstance(parent, dict) else None
            if not isinstance(parent, dict):
                continue
            if rng.random() < 0.3:
                parent.pop(path[-1], None)
            else:
                parent[path[-1]] = junk[rng.integers(len(junk))]
        file = tmp_path / f"r{case}.json"
        file.write_text(json.dumps(doc))
        try:
            compare_device(host, file)
            outcomes["accepted"] += 1
        except BadInputError as exc:
            assert "\n" not in str(exc)
            outcomes["refused"] += 1
    assert outcomes["refused"] > 200, outcomes
    (tmp_path / "cut.json").write_text((DEMO / "sample_device_report.json").read_text()[:500])
    with pytest.raises(BadInputError, match="device report"):
        compare_device(host, tmp_path / "cut.json")
