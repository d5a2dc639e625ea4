"""What the int8 temporal graph of a spiking network loses, against the weight floor.

The weight floor is the float simulation with the weights the .tflite stores (``npukit parity``'s
``floor``): what int8 weights cost whatever the state path does. The default graph (int8 synapses,
float32 states, GPTQ-rounded weights, synapse ranges and float32 synapses chosen by measurement)
must stay within 1 point of top-1 agreement of it, and LiteRT must compute what the deployed
arithmetic predicts. Checked on the shipped SNNs and on five networks built and exported by their
frameworks (``snn_zoo``). Top-1 agreement on n samples moves by 1/n per sample, so on the small
sets of the framework networks the bound is 1 point plus ``SLACK_SAMPLES`` samples.
"""

from __future__ import annotations

import numpy as np
import pytest

import npukit
from npukit import ir
from npukit.errors import UnsupportedError

SPIKES_EQUAL = 0.999
SLACK_SAMPLES = 2


# -- GPTQ ------------------------------------------------------------------------------------------


def test_gptq_keeps_each_layers_output_closer_than_nearest_rounding():
    from npukit.data import calibration_set
    from npukit.models import DIGITS_EVENTS
    from npukit.passes.gptq_rounding import gptq_round, input_covariances
    from npukit.passes.round_weights import int8_scales, round_weights
    from npukit.snn.encoders import prepare

    graph = npukit.load(DIGITS_EVENTS)
    x, steps, encoding = prepare(graph, calibration_set("digits-events", None, 128).x)
    covariances = input_covariances(graph, x, steps, encoding)
    nearest, gptq = round_weights(graph), gptq_round(graph, x, steps, encoding)
    assert set(covariances) == {"conv1", "conv2", "fc1", "fc2"}
    for name, h in covariances.items():
        w = graph[name].kernel.reshape(-1, graph[name].kernel.shape[-1]).astype(np.float64)

        def output_error(rounded):
            d = rounded[name].kernel.reshape(w.shape) - w
            return float(np.trace(d.T @ h @ d))

        assert output_error(gptq) < output_error(nearest), name
        levels = gptq[name].kernel / int8_scales(graph[name])
        np.testing.assert_allclose(levels, np.round(levels), atol=1e-4)  # on the int8 grid
        assert np.all(np.abs(np.round(levels)).max(axis=(0, 1, 2) if levels.ndim == 4 else 0) == 127)  # scales kept


# -- the shipped SNNs -----------------------------------------------------------------------------


@pytest.mark.parametrize("name, at_least", [("events", 0.965), ("lif", 0.99), ("rsnn", 0.97)])
def test_the_default_graph_of_the_shipped_snns_is_within_a_point_of_the_weight_floor(shipped_temporal, name, at_least):
    """Acceptance, on the whole test split: top-1 agreement with the simulation within 1 point of
    the weight floor; accuracy within 1 point of the simulation's. ``at_least``: the agreement
    measured with GPTQ rounding (docs/benchmarks.md); the issue asked for 98% (events) and 97% (rsnn)."""
    from conftest import SHIPPED_SNNS
    from npukit import models

    source, data, _ = SHIPPED_SNNS[name]
    report = npukit.parity(getattr(models, source), shipped_temporal(name, state="float32"), data)
    agreement = report["deployed"]["agreement"]
    assert agreement["deployed_vs_snn"] >= agreement["floor_vs_snn"] - 0.01, agreement
    assert agreement["tflite_vs_snn"] >= at_least, agreement
    assert report["accuracy"]["tflite"] >= report["accuracy"]["snn"] - 0.01, report["accuracy"]
    assert report["deployed"]["weights"] == "int8" and report["tflite_model"]["quantization"] == "int8"


# -- networks built and exported by their frameworks ---------------------------------------------

#: builder -> (timesteps, calibration samples, test samples, the int8-state scheme checked too)
ZOO = {
    "nir_if_cnn": (100, 48, 64, False),
    "sinabs_event_cnn": (60, 32, 64, True),
    "snntorch_event_cnn": (60, 32, 64, True),
    "snntorch_audio_rsnn": (100, 64, 96, False),
    "norse_conv_net": (60, 48, 64, False),
}


@pytest.fixture(scope="module")
def zoo_files(tmp_path_factory):
    """``zoo_files(name)``: (folder with net.nir, cal.npz and test.npz, load settings), built once."""
    made: dict = {}

    def build(name: str):
        if name not in made:
            import nir
            import snn_zoo

            steps, calibration, test, _ = ZOO[name]
            net = snn_zoo.BUILDERS[name](samples=calibration + test, timesteps=steps)
            folder = tmp_path_factory.mktemp(name)
            nir.write(str(folder / "net.nir"), net.nir_graph)
            np.savez(folder / "cal.npz", x=net.x[:calibration])
            np.savez(folder / "test.npz", x=net.x[calibration:])
            made[name] = folder, {k: v for k, v in net.load_kwargs.items() if v is not None}
        return made[name]

    return build


@pytest.mark.parametrize("name", list(ZOO))
def test_framework_networks_deployed_as_predicted_and_within_a_point_of_the_floor(zoo_files, name):
    folder, settings = zoo_files(name)
    _, _, test, both = ZOO[name]
    for state in ("float32", "int8") if both else ("float32",):
        model = folder / f"{state}.tflite"
        npukit.convert(folder / "net.nir", model, mode="temporal", data=folder / "cal.npz", state=state,
                       api_level=30 if state == "float32" else 29, **settings)
        report = npukit.parity(folder / "net.nir", model, folder / "test.npz", **settings)
        deployed = report["deployed"]
        assert deployed["spike_agreement"]["deployed_vs_tflite"] >= SPIKES_EQUAL, (state, deployed["layers"])
        if state == "float32":
            agreement = deployed["agreement"]
            assert agreement["deployed_vs_snn"] >= agreement["floor_vs_snn"] - 0.01 - SLACK_SAMPLES / test, agreement


# -- several spikes per step -----------------------------------------------------------------------


def _multi_spike_graph(tmp_path):
    """sinabs.from_nir's reading of an IF network whose first layer emits up to ~100 spikes per step."""
    import nir

    rng = np.random.default_rng(5)
    nodes = {
        "input": nir.Input(input_type={"input": np.array([16])}),
        "fc1": nir.Affine(weight=rng.uniform(0, 30, (24, 16)).astype(np.float32), bias=np.zeros(24, np.float32)),
        "if1": nir.IF(r=np.ones(24, np.float32), v_threshold=np.ones(24, np.float32), v_reset=np.zeros(24, np.float32)),
        "fc2": nir.Affine(weight=rng.normal(0, 0.05, (6, 24)).astype(np.float32), bias=np.zeros(6, np.float32)),
        "if2": nir.IF(r=np.ones(6, np.float32), v_threshold=np.ones(6, np.float32), v_reset=np.zeros(6, np.float32)),
        "output": nir.Output(output_type={"output": np.array([6])}),
    }
    names = list(nodes)
    nir.write(str(tmp_path / "multi.nir"), nir.NIRGraph(nodes=nodes, edges=list(zip(names[:-1], names[1:]))))
    np.savez(tmp_path / "x.npz", x=(rng.random((48, 20, 16)) < 0.3).astype(np.float32))
    return tmp_path / "multi.nir", tmp_path / "x.npz"


def test_layers_with_many_spikes_per_step_convert(tmp_path):
    """Item 7: a layer that emits far more spikes per step than int8 step functions count converts
    with float32 states (its counts computed in float32, the synapse reading them in float32: int8
    could not hold them); the int8 state scheme refuses it in one line."""
    model, data = _multi_spike_graph(tmp_path)
    settings = {"framework": "sinabs-from-nir"}
    peak = npukit.simulate(model, data, **settings).result.peak_spikes["if1"]
    assert peak > 32
    out = tmp_path / "multi.tflite"
    result = npukit.convert(model, out, mode="temporal", data=data, **settings)
    assert result.metadata["state"] == "float32"
    report = npukit.parity(model, out, data, **settings)
    assert report["deployed"]["spike_agreement"]["deployed_vs_tflite"] >= SPIKES_EQUAL
    assert report["deployed"]["agreement"]["deployed_vs_snn"] >= report["deployed"]["agreement"]["floor_vs_snn"] - 0.05
    with pytest.raises(UnsupportedError, match="int8 temporal mode counts at most 32"):
        npukit.convert(model, tmp_path / "int8.tflite", mode="temporal", data=data, state="int8", api_level=29, **settings)


def test_stored_weights_read_back_the_rounded_graph(shipped_temporal):
    from npukit.converters.tflite_temporal import stored_weights
    from npukit.models import DIGITS_LIF
    from npukit.passes.round_weights import round_weights
    from npukit.tflite_file import read_tflite

    graph = npukit.load(DIGITS_LIF)
    back = stored_weights(graph, read_tflite(shipped_temporal("lif", state="float32", rounding="nearest")))
    nearest = round_weights(graph)
    for node in graph:
        if isinstance(node, ir.WEIGHTED):
            np.testing.assert_array_equal(back[node.name].kernel, nearest[node.name].kernel)


@pytest.mark.parametrize("name", ["lif", "rsnn"])
def test_long_runs_calibrate_their_first_steps_only(name, tmp_path, monkeypatch):
    """Calibration, GPTQ and tuning simulate at most CALIBRATION_STEPS steps (their cost grows
    with T, which may be 100,000): a constant input (the LIF SNN) and a time series (the
    recurrent SNN, cut to its first steps) convert, record the steps, and the graph still runs
    as the deployed simulation predicts."""
    from conftest import SHIPPED_SNNS

    from npukit import models
    from npukit.converters import tflite_temporal_int8
    from npukit.runtime import simulate_deployed
    from npukit.tflite_file import read_tflite

    monkeypatch.setattr(tflite_temporal_int8, "CALIBRATION_STEPS", 4)
    source, data, settings = SHIPPED_SNNS[name]
    out = tmp_path / f"{name}.tflite"
    npukit.convert(getattr(models, source), out, mode="temporal", data=data, calibration_samples=16, **settings)
    meta = read_tflite(out).npukit_metadata()
    assert meta["calibration_steps"] == 4 and meta["timesteps"] > 4
    report = npukit.parity(getattr(models, source), out, data, samples=24)
    assert report.to_dict()["deployed"]["agreement"]["tflite_vs_deployed"] == 1.0
