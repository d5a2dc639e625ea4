"""The ``--sweep`` plot: SNN accuracy (or top-1 agreement) against T, with the float and TFLite levels."""

from __future__ import annotations

from pathlib import Path

from npukit.errors import BadInputError
from npukit.files import atomic_write


def plot_sweep(report, path: str | Path, force: bool = False) -> Path:
    """Write a PNG of SNN accuracy (or agreement) against T, with the float and TFLite levels."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig_data = report.to_dict()
    if "sweep" not in fig_data:
        raise BadInputError("the report has no sweep; run parity with sweep values")
    use_accuracy = fig_data["accuracy"] is not None
    ann_source = fig_data.get("source") != "snn"
    key = "snn_accuracy" if use_accuracy else "snn_agreement"
    ts = [row["timesteps"] for row in fig_data["sweep"]]
    values = [100 * row[key] for row in fig_data["sweep"]]
    quantization = (fig_data.get("tflite_model") or {}).get("quantization")
    tflite_label = f"{'int8' if quantization == 'int8' else 'float32'} TFLite ({fig_data.get('mode', 'rate')} mode)"
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    ax.plot(ts, values, "o-", label="SNN (IF, rate coded)" if ann_source else "SNN simulation")
    if use_accuracy:
        if "reference" in fig_data["accuracy"]:
            ax.axhline(100 * fig_data["accuracy"]["reference"], color="k", ls="--", label="float model")
        ax.axhline(100 * fig_data["accuracy"]["tflite"], color="tab:orange", ls=":", label=tflite_label)
    elif ann_source:
        ax.axhline(100 * fig_data["agreement"]["tflite_vs_reference"], color="tab:orange", ls=":", label=tflite_label)
    ax.set_xscale("log", base=2)
    ax.set_xticks(ts, [str(t) for t in ts])
    ax.set_xlabel("timesteps T")
    agreement_with = "float" if ann_source else f"the SNN at T = {fig_data['timesteps']}"
    ax.set_ylabel("top-1 accuracy (%)" if use_accuracy else f"top-1 agreement with {agreement_with} (%)")
    ax.set_title(f"{fig_data['data']}")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return atomic_write(path, buffer.getvalue(), force)
