"""What each framework computes for a NIR graph it exported: the neuron conventions NIR does not
carry (docs/nir.md has a row per framework, with the version each was verified against).

A NIR graph holds continuous-time neurons and no dt; the framework that wrote it steps them its
own way, and its exporter may write its parameters its own way. ``Convention`` records, per
framework:

* ``dt``: the step the exporter assumed (seconds; sinabs counts in steps: 1);
* ``membrane``: how a leaky membrane's time constant becomes per-step coefficients: ``euler``
  (forward Euler: decay = 1 - dt/tau, gain = dt r / tau, leak = dt v_leak / tau; snnTorch, Norse,
  SpikingJelly, NIR's own equations) or ``exp`` (decay = exp(-dt/tau), no leak) with the input
  scaled per ``exp_input``: by r (sinabs' layers as ``from_nir`` builds them), by nothing
  (Rockpool) or by 1 - decay (sinabs' LIF with its default ``norm_input``);
* ``integrate``: how an input enters an IF or I membrane: ``euler`` (gain = dt r) or ``jump``
  (gain = r: the input is added as is, Norse's and sinabs' IAF);
* ``synapse``: how an input enters a synaptic current: ``euler`` (syn_decay = 1 - dt/tau_syn,
  syn_gain = dt w_in / tau_syn), ``jump`` (syn_gain = w_in: Norse's LIF cell adds its input to
  the current unscaled) or ``exp`` (syn_decay = exp(-dt/tau_syn), the input decays with the
  current in the same step: syn_gain = syn_decay w_in, Rockpool);
* ``tau_scale``: what the exporter's time constants are multiplied by to give seconds (Norse
  1.1 writes ``tau = dt / tau_inv``, dt times the time constant its neurons use: 1 / dt);
* ``v_init``: where membranes start: 0, ``v_leak`` (Norse's leaky cells) or ``v_reset``
  (SpikingJelly);
* the spike and reset semantics of ``npukit.ir.neurons`` (``fire_at_threshold``, ``max_spikes``,
  ``reset``; ``next_step`` lists the neuron types and resets applied at the next step) and the
  membrane floor of IF layers (``if_floor``: none, or -v_threshold as sinabs' ``from_nir`` sets
  ``min_v_mem``).

``reset`` None keeps NIR's reset to ``v_reset``. ``--reset`` (``reset=`` in the API) overrides the
framework's default where the exporter dropped it (snnTorch writes "zero" and "subtract" alike).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from npukit.errors import BadInputError


@dataclass(frozen=True)
class Convention:
    name: str
    dt: float
    membrane: str = "euler"
    exp_input: str = "r"
    integrate: str = "euler"
    synapse: str = "euler"
    tau_scale: float = 1.0
    v_init: str = "zero"
    fire_at_threshold: bool = False
    max_spikes: int = 1
    reset: str | None = None
    #: (NIR neuron type, reset) pairs whose reset is applied at the next step (``npukit.ir.neurons``)
    next_step: frozenset = frozenset()
    #: the same for neurons on a recurrent loop (snnTorch's RLeaky / RSynaptic)
    recurrent_next_step: frozenset = frozenset()
    if_floor: bool = False
    #: the framework and version this convention was checked against (docs/nir.md)
    verified: str = ""
    #: the exporting framework's description, for docs and --help
    about: str = ""

    def spiking(self, v_threshold: np.ndarray, neuron: str, recurrent: bool = False) -> dict:
        """The IR spike/reset fields of a spiking neuron of NIR type ``neuron`` (IF, LIF, CubaLIF),
        ``recurrent`` when it lies on a recurrent loop."""
        fields = {"fire_at_threshold": self.fire_at_threshold, "max_spikes": self.max_spikes}
        if self.reset is not None:
            fields["reset"] = self.reset
        delayed = self.next_step | (self.recurrent_next_step if recurrent else frozenset())
        if (neuron, fields.get("reset", "value")) in delayed:
            fields["reset_timing"] = "next_step"
        if neuron == "IF" and self.if_floor:
            fields["v_min"] = -np.asarray(v_threshold, np.float32)
        return fields

    def with_reset(self, reset: str | None) -> "Convention":
        """This convention with the reset overridden (None keeps it)."""
        if reset is None:
            return self
        if reset not in RESETS:
            raise BadInputError(f"reset must be one of {', '.join(RESETS)}. Received: {reset!r}")
        return replace(self, reset={"zero": "value"}.get(reset, reset))


#: what --reset takes: "value" (NIR's reset to v_reset; snnTorch's "zero"), "subtract", "none"
RESETS = ("value", "zero", "subtract", "none")

_SNNTORCH_NEXT = frozenset({("LIF", "subtract"), ("CubaLIF", "subtract"), ("CubaLIF", "value")})

FRAMEWORKS: dict[str, Convention] = {
    "nir": Convention(
        "nir", 1e-4, verified="an independent numpy loop of NIR's equations (tests/test_nir.py)",
        about="NIR's equations under forward Euler at --dt; reset to v_reset, one spike when v > threshold",
    ),
    "snntorch": Convention(
        "snntorch", 1e-4, reset="subtract", next_step=_SNNTORCH_NEXT, recurrent_next_step=frozenset({("LIF", "value")}),
        verified="snnTorch 1.0.0 (tests/test_frameworks.py)",
        about="Leaky/Synaptic: beta v + I, spikes on v > threshold, the reset (default subtract) applied at the next "
        "step from the unreset membrane (the reset to zero of Synaptic, RLeaky and RSynaptic zeroes the whole next "
        "membrane); a recurrent layer's recurrent edge carries the last step's spikes",
    ),
    "sinabs": Convention(
        "sinabs", 1.0, membrane="exp", exp_input="norm", integrate="jump", fire_at_threshold=True, max_spikes=0,
        reset="subtract", verified="sinabs 3.1.3 (tests/test_frameworks.py)",
        about="IAF/LIF with their layer defaults: one step per frame, exponential decay, LIF input scaled by 1 - alpha "
        "(norm_input), MultiSpike (floor(v / threshold) spikes once v >= threshold), MembraneSubtract, no floor",
    ),
    "sinabs-from-nir": Convention(
        "sinabs-from-nir", 1.0, membrane="exp", exp_input="r", integrate="jump", fire_at_threshold=True, max_spikes=0,
        reset="subtract", if_floor=True, verified="sinabs 3.1.3 (tests/test_frameworks.py)",
        about="as sinabs.from_nir rebuilds a graph: sinabs' defaults with the IF membrane floored at -threshold and "
        "LIF inputs unscaled",
    ),
    "norse": Convention(
        "norse", 1e-3, integrate="jump", synapse="jump", tau_scale=1e3, v_init="v_leak",
        verified="Norse 1.1.0 (tests/test_frameworks.py)",
        about="LIFCell (CubaLIF): the input jumps into the current, the membrane integrates it by Euler at dt = 1e-3; "
        "IAFCell adds its input as is; v(0) = v_leak; reset to v_reset when v > threshold; the exporter writes dt x tau",
    ),
    "spikingjelly": Convention(
        "spikingjelly", 1e-4, v_init="v_reset", fire_at_threshold=True,
        verified="SpikingJelly 2.0.0's update equations (tests/test_frameworks.py; the package when installed)",
        about="IFNode/LIFNode: Euler at dt = 1e-4 (its exporter's), spikes on v >= threshold, hard reset to v_reset, "
        "v(0) = v_reset",
    ),
    "rockpool": Convention(
        "rockpool", 1e-3, membrane="exp", exp_input="one", synapse="exp", fire_at_threshold=True, max_spikes=0,
        reset="subtract", verified="Rockpool 3.1.0's update equations (tests/test_frameworks.py; the package when installed)",
        about="LIFTorch (CubaLIF): i += I, v *= alpha, i *= beta, v += i with exponential decays at dt = 1e-3; "
        "floor(v / threshold) spikes once v >= threshold, subtractive reset",
    ),
}


def convention(framework: str | None, reset: str | None = None) -> Convention:
    """The convention of ``framework`` (default ``nir``), with ``reset`` overriding its reset."""
    name = "nir" if framework is None else str(framework).lower()
    if name not in FRAMEWORKS:
        raise BadInputError(f"framework must be one of {', '.join(FRAMEWORKS)}. Received: {framework!r}")
    return FRAMEWORKS[name].with_reset(reset)
