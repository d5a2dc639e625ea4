"""Parity plots: SNN accuracy (or top-1 agreement) against T (``--sweep``), with the float and TFLite
levels; and, for a temporal spiking model, the top-1 agreement with the float simulation of the
readout after each step for the weight floor, the deployed-arithmetic simulation and LiteRT."""

from __future__ import annotations

from pathlib import Path

from npukit.errors import BadInputError
from npukit.files import atomic_write


def plot_sweep(report, path: str | Path, force: bool = False) -> Path:
    """Write a PNG of the report's sweep (SNN accuracy or agreement against T) and/or, for a
    temporal spiking model, its agreement by step; one panel each (``npukit.figures``: drawn in
    an isolated child with a fixed style)."""
    return atomic_write(path, sweep_png(report), force)


def _panels(fig_data: dict) -> list[str]:
    by_step = (fig_data.get("deployed") or {}).get("agreement_by_step")
    return [name for name, present in (("sweep", "sweep" in fig_data), ("steps", bool(by_step))) if present]


def sweep_png(report) -> bytes:
    """The PNG ``plot_sweep`` writes."""
    from npukit.figures import render

    fig_data = report.to_dict()
    if not _panels(fig_data):
        raise BadInputError("nothing to plot: give sweep values, or compare a temporal spiking model")
    return render(("parity", (fig_data,)))[0]


def draw(fig_data: dict) -> bytes:
    """The figure of a parity report's dict (run by ``npukit.figures``' child)."""
    from npukit.figures import png, pyplot

    plt = pyplot()
    panels = _panels(fig_data)
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4), squeeze=False)
    for ax, panel in zip(axes[0], panels):
        (_sweep_panel if panel == "sweep" else _steps_panel)(ax, fig_data)
    fig.tight_layout()
    return png(fig)


def _steps_panel(ax, fig_data: dict) -> None:
    deployed = fig_data["deployed"]
    labels = {"floor": f"weight floor ({deployed['weights']} weights, float states)",
              "deployed": f"deployed arithmetic ({deployed.get('state') or 'float32'} state)", "tflite": "LiteRT"}
    styles = {"floor": ("k", "--"), "deployed": ("tab:blue", "-"), "tflite": ("tab:orange", ":")}
    for run, values in deployed["agreement_by_step"].items():
        color, line = styles[run]
        ax.plot(range(1, len(values) + 1), [100 * v for v in values], color=color, ls=line, label=labels[run])
    ax.set_xlabel("timestep t")
    ax.set_ylabel("top-1 agreement with the float simulation (%)")
    ax.set_title(f"{fig_data['data']}\nreadout after t steps", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")


def _sweep_panel(ax, fig_data: dict) -> None:
    use_accuracy = fig_data["accuracy"] is not None
    ann_source = fig_data.get("source") != "snn"
    key = "snn_accuracy" if use_accuracy else "snn_agreement"
    ts = [row["timesteps"] for row in fig_data["sweep"]]
    values = [100 * row[key] for row in fig_data["sweep"]]
    quantization = (fig_data.get("tflite_model") or {}).get("quantization")
    tflite_label = f"{quantization if quantization in ('int8', 'fp16') else 'float32'} TFLite ({fig_data.get('mode', 'rate')} mode)"
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
