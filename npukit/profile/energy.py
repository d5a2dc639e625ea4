"""Energy estimates per inference from operation counts and published per-operation costs.

Tables ship as data (``energy_tables.json``: pJ per operation, each with its source); a user file
of the same shape (``--energy-table FILE.json``) overrides or adds tables. Every figure is an
estimate and names its table. Platforms (formulas also in the JSON):

* ``cpu_fp32``: MACs x fp32 MAC + (weights + activation reads and writes, 4 bytes) x SRAM byte;
* ``npu_int8``: MACs x int8 MAC + the same traffic at 1 byte per value (45 nm figures);
* ``npu_int8_exynos``: MACs x a shipping phone NPU's energy per MAC (traffic included);
* ``snn_45nm``, ``loihi``, ``truenorth``, ``spinnaker2`` (spiking networks, from a simulation):
  the first layer, which reads the analog input, as fp32 MACs, then SOPs x energy per synaptic
  operation + neuron updates x energy per update.

Results are per inference (one sample; an SNN inference spans its T steps), in microjoules.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from npukit.errors import BadInputError
from npukit.files import read_json

PJ_PER_UJ = 1e6
SNN_PLATFORMS = ("snn_45nm", "loihi", "truenorth", "spinnaker2")
DENSE_PLATFORMS = ("cpu_fp32", "npu_int8", "npu_int8_exynos")


def load_tables(override: str | Path | None = None) -> dict[str, Any]:
    """The shipped tables, with a user file's tables and platforms merged over them."""
    data = json.loads(resources.files("npukit.profile").joinpath("energy_tables.json").read_text())
    if override is None:
        return data
    path = Path(override)
    user = read_json(path, "energy table")
    if not isinstance(user, dict) or not isinstance(user.get("tables", {}), dict):
        raise BadInputError(f"energy table {path}: expected {{\"tables\": {{name: {{\"pj\": {{...}}}}}}}}")
    for name, table in user.get("tables", {}).items():
        pj = table.get("pj") if isinstance(table, dict) else None
        if not isinstance(pj, dict) or not all(isinstance(v, (int, float)) and v >= 0 for v in pj.values()):
            raise BadInputError(f"energy table {path}: table {name!r} needs \"pj\": {{operation: non-negative number}}")
        merged = dict(data["tables"].get(name, {}))
        merged.update(table)
        merged["pj"] = {**data["tables"].get(name, {}).get("pj", {}), **pj}
        merged.setdefault("source", f"user file {path.name}")
        data["tables"][name] = merged
    data["platforms"].update(user.get("platforms", {}))
    return data


def _pj(tables: dict, table: str, key: str) -> float:
    try:
        return float(tables["tables"][table]["pj"][key])
    except KeyError:
        raise BadInputError(f"energy table {table!r} lacks the cost {key!r}")


def estimate(rows: list[dict[str, Any]], tables: dict[str, Any], first_layers: set[str] | None = None,
             spiking: bool = False) -> dict[str, Any]:
    """Fill ``row["energy_pj"]`` per layer and return the totals per platform (microjoules).

    ``first_layers``: weighted layers that read the analog input (counted as MACs on spiking
    platforms). SNN platforms are estimated only when ``spiking`` (rows carry SOPs)."""
    first_layers = first_layers or set()
    h = "horowitz_45nm"
    mac32, mac8, byte = _pj(tables, h, "mac_fp32"), _pj(tables, h, "mac_int8"), _pj(tables, h, "sram_byte")
    exynos = _pj(tables, "exynos_npu_8nm", "mac_int8")
    platforms = list(DENSE_PLATFORMS) + (list(SNN_PLATFORMS) if spiking else [])
    spiking_costs = {
        "snn_45nm": (_pj(tables, h, "ac_fp32"), 0.0),
        **{p: (_pj(tables, p, "sop"), _pj(tables, p, "neuron_update")) for p in SNN_PLATFORMS[1:] if spiking},
    }
    totals = {p: 0.0 for p in platforms}
    for row in rows:
        traffic = row["weights"] + row["activations"] + row["reads"]
        energy = {
            "cpu_fp32": row["macs"] * mac32 + traffic * 4 * byte,
            "npu_int8": row["macs"] * mac8 + traffic * byte,
            "npu_int8_exynos": row["macs"] * exynos,
        }
        if spiking:
            for platform in SNN_PLATFORMS:
                sop, update = spiking_costs[platform]
                analog = row["macs"] * mac32 if row["name"] in first_layers else 0.0
                energy[platform] = analog + (row["sops"] or 0.0) * sop + (row["neuron_updates"] or 0) * update
        row["energy_pj"] = {k: float(v) for k, v in energy.items()}
        for k, v in energy.items():
            totals[k] += v
    out = {}
    for platform in platforms:
        spec = tables["platforms"][platform]
        table = tables["tables"][spec["table"]]
        out[platform] = {
            "uj": totals[platform] / PJ_PER_UJ,
            "estimate": True,
            "table": spec["table"],
            "title": table.get("title", spec["table"]),
            "source": table.get("source"),
            "formula": spec["formula"],
        }
    return out
