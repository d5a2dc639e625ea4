"""PNG figures of a profile: the latency histogram and per-layer energy bars. npukit draws them
through ``npukit.figures.render`` (an isolated child with a fixed style); the functions here are
what that child runs."""

from __future__ import annotations

import io
from typing import Any

from npukit.figures import png, pyplot as _pyplot


def _png(fig) -> bytes:
    fig.tight_layout()
    return png(fig)


def latency_histogram(times_ms: list[float], title: str) -> bytes:
    """Histogram of invoke latencies, in us when they are all under 1 ms (as the text reports)."""
    plt = _pyplot()
    scale, unit = (1000.0, "us") if times_ms and max(times_ms) < 1.0 else (1.0, "ms")
    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=100)
    ax.hist([t * scale for t in times_ms], bins=min(40, max(5, len(times_ms) // 5)), color="tab:blue")
    ax.set_xlabel(f"latency per invoke ({unit})")
    ax.set_ylabel("invokes")
    ax.set_title(title)
    return _png(fig)


def energy_bars(figures: dict[str, Any]) -> bytes:
    """Per-layer energy per inference for each platform of the estimate, in uJ like the totals
    (log scale); a layer that costs nothing on a platform has no bar there (not a stub at the
    axis' floor)."""
    plt = _pyplot()
    rows = [r for r in figures["layers"] if any(v > 0 for v in r.get("energy_pj", {}).values())]
    platforms = list(figures["energy_uj"])
    fig, ax = plt.subplots(figsize=(max(6, 0.5 * len(rows) + 3), 3.8), dpi=100)
    width = 0.8 / max(1, len(platforms))
    for k, platform in enumerate(platforms):
        drawn = [(i, r["energy_pj"].get(platform, 0.0) * 1e-6) for i, r in enumerate(rows)]
        drawn = [(i, uj) for i, uj in drawn if uj > 0]
        total = figures["energy_uj"][platform]["uj"]
        ax.bar([i + k * width for i, _ in drawn], [uj for _, uj in drawn], width, label=f"{platform} ({total:.3g} uJ)")
    ax.set_yscale("log")
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(rows))], [r["name"] for r in rows], rotation=45, ha="right")
    ax.set_ylabel("energy per inference (uJ, estimate)")
    ax.legend(fontsize=7, ncol=2, title="platform (total)", title_fontsize=7)
    return _png(fig)


def profile_png(figures: dict[str, Any], times_ms: list[float] | None = None) -> bytes:
    """Both figures stacked in one PNG (``npukit profile --plot``)."""
    plt = _pyplot()
    import matplotlib.image as mpimg

    parts = [energy_bars(figures)]
    if times_ms:
        parts.insert(0, latency_histogram(times_ms, figures["model"]))
    images = [mpimg.imread(io.BytesIO(p), format="png") for p in parts]
    fig, axes = plt.subplots(len(images), 1, figsize=(8, 4 * len(images)), dpi=100)
    for ax, image in zip(axes if len(images) > 1 else [axes], images):
        ax.imshow(image)
        ax.axis("off")
    return _png(fig)
