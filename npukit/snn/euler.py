"""Continuous-time neurons (NIR's equations) as per-step coefficients, by forward Euler.

NIR writes ``tau dv/dt = (v_leak - v) + r I`` (LIF, LI), ``dv/dt = r I`` (IF, I) and
``tau_syn di/dt = -i + w_in S`` (current-based neurons). One Euler step of length ``dt``::

    v <- v + dt/tau * (v_leak - v + r I) = (1 - dt/tau) v + dt/tau v_leak + dt r/tau I
    i <- (1 - dt/tau_syn) i + dt/tau_syn w_in S

so ``decay = 1 - dt/tau``, ``leak = dt/tau * v_leak``, ``gain = dt * r / tau`` (IF and I:
``gain = dt * r``), ``syn_decay = 1 - dt/tau_syn``, ``syn_gain = dt/tau_syn * w_in``. Times are
in seconds. A gain within 1e-6 of 1 is exactly 1 (exporters compute r = tau/dt in float32).

The ``*_step`` functions here are the pure step functions with an explicit dt; they build the
coefficients and call ``npukit.snn.neurons``, the code the simulators run.
"""

from __future__ import annotations

import numpy as np

from npukit import ir
from npukit.errors import BadInputError, show
from npukit.snn.neurons import step

UNIT_TOLERANCE = 1e-6


def unit(x) -> np.ndarray:
    """Coefficients within 1e-6 of 1 become exactly 1."""
    x = np.asarray(x, dtype=np.float64)
    return np.where(np.abs(x - 1) <= UNIT_TOLERANCE, 1.0, x)


def ratio(dt: float, tau, what: str = "tau") -> np.ndarray:
    """dt / tau, checked: positive time constants, and dt <= tau (else Euler overshoots)."""
    tau = np.asarray(tau, dtype=np.float64)
    if not (np.isfinite(dt) and dt > 0):
        raise BadInputError(f"dt must be a positive number of seconds. Received: {show(dt)}")
    if np.any(~np.isfinite(tau)) or np.any(tau <= 0):
        raise BadInputError(f"{what} must be positive time constants (seconds)")
    k = dt / tau
    if np.any(k > 1 + 1e-9):
        raise BadInputError(
            f"dt={dt:g} s exceeds {what} (min {float(np.min(tau)):g} s): forward Euler would overshoot; use a smaller dt"
        )
    return k


def lif_coefficients(tau, r, v_leak, dt: float, what: str = "tau") -> dict[str, np.ndarray]:
    k = ratio(dt, tau, what)
    return {
        "decay": (1 - k).astype(np.float32),
        "gain": unit(k * np.asarray(r, np.float64)).astype(np.float32),
        "leak": (k * np.asarray(v_leak, np.float64)).astype(np.float32),
    }


def exp_decay(tau, dt: float, what: str = "tau") -> np.ndarray:
    """exp(-dt/tau) in float32: the exponent computed in float32 (as torch does), then rounded
    correctly (torch's float32 exp agrees with that on ~99% of values, numpy's on ~50%)."""
    tau = np.asarray(tau, dtype=np.float32)
    if not (np.isfinite(dt) and dt > 0):
        raise BadInputError(f"dt must be a positive number of seconds. Received: {show(dt)}")
    if np.any(~np.isfinite(tau)) or np.any(tau <= 0):
        raise BadInputError(f"{what} must be positive time constants")
    exponent = (np.float32(-dt) / tau).astype(np.float32)
    return np.exp(exponent.astype(np.float64)).astype(np.float32)


#: how an exponentially decaying membrane takes its input: scaled by r, as is, or by 1 - decay
EXP_INPUTS = ("r", "one", "norm")


def exp_coefficients(tau, r, v_leak, dt: float, what: str = "tau", input_gain: str = "r") -> dict[str, np.ndarray]:
    """Exponential decay (sinabs' ``alpha_mem``, Rockpool's): decay = exp(-dt/tau), gain = r
    (sinabs' layers as ``from_nir`` builds them), 1 (Rockpool) or 1 - decay (sinabs' LIF with
    its default ``norm_input``), leak 0 (a v_leak other than 0 is refused: these frameworks
    have no resting potential)."""
    decay = exp_decay(tau, dt, what)
    if np.any(np.asarray(v_leak) != 0):
        raise BadInputError("v_leak must be 0 under this convention (its neurons have no resting potential)")
    gain = {
        "r": lambda: unit(np.asarray(r, np.float64)).astype(np.float32),
        "one": lambda: np.ones_like(decay),
        "norm": lambda: (np.float32(1) - decay).astype(np.float32),
    }[input_gain]()
    return {"decay": decay, "gain": gain, "leak": np.zeros_like(decay)}


def synapse_coefficients(tau_syn, w_in, dt: float, what: str = "tau_syn") -> dict[str, np.ndarray]:
    k = ratio(dt, tau_syn, what)
    return {"syn_decay": (1 - k).astype(np.float32), "syn_gain": unit(k * np.asarray(w_in, np.float64)).astype(np.float32)}


def integrator_gain(r, dt: float) -> np.ndarray:
    if not (np.isfinite(dt) and dt > 0):
        raise BadInputError(f"dt must be a positive number of seconds. Received: {show(dt)}")
    return unit(dt * np.asarray(r, np.float64)).astype(np.float32)


# -- the inverse: per-step coefficients -> NIR's continuous parameters (NIR export) ------------------


def _rate(decay, what: str) -> np.ndarray:
    """dt / tau from a decay (1 - dt/tau); a decay of 1 has no time constant."""
    k = 1.0 - np.asarray(decay, dtype=np.float64)
    if np.any(k <= 0):
        raise BadInputError(f"a {what} of 1 (no leak) has no time constant")
    return k


def lif_parameters(decay, gain, leak, dt: float) -> dict[str, np.ndarray]:
    """tau, r, v_leak (float32) of ``tau dv/dt = (v_leak - v) + r I`` whose Euler step of ``dt``
    has these coefficients: tau = dt / (1 - decay), r = gain tau / dt, v_leak = leak tau / dt."""
    k = _rate(decay, "membrane decay")
    return {
        "tau": (dt / k).astype(np.float32),
        "r": (np.asarray(gain, np.float64) / k).astype(np.float32),
        "v_leak": (np.asarray(leak, np.float64) / k).astype(np.float32),
    }


def synapse_parameters(syn_decay, syn_gain, dt: float) -> dict[str, np.ndarray]:
    """tau_syn, w_in (float32) of ``tau_syn di/dt = -i + w_in S`` with these Euler coefficients."""
    k = _rate(syn_decay, "synaptic decay")
    return {"tau_syn": (dt / k).astype(np.float32), "w_in": (np.asarray(syn_gain, np.float64) / k).astype(np.float32)}


def integrator_r(gain, dt: float) -> np.ndarray:
    """r (float32) of ``dv/dt = r I`` whose Euler step of ``dt`` has this gain: r = gain / dt."""
    return (np.asarray(gain, np.float64) / dt).astype(np.float32)


def _f(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float32)


def lif_step(v, current, *, tau, r, v_leak, v_threshold, v_reset, dt):
    """One forward-Euler step of NIR's LIF: (spikes, v)."""
    node = ir.LIF("lif", ("x",), v_threshold=_f(v_threshold), v_reset=_f(v_reset), **lif_coefficients(tau, r, v_leak, dt))
    spikes, state = step(node, {"v": _f(v)}, _f(current))
    return spikes, state["v"]


def if_step(v, current, *, r, v_threshold, v_reset, dt):
    """One forward-Euler step of NIR's IF: (spikes, v)."""
    node = ir.IF("if", ("x",), v_threshold=_f(v_threshold), v_reset=_f(v_reset), reset="value",
                 fire_at_threshold=False, gain=integrator_gain(r, dt))
    spikes, state = step(node, {"v": _f(v)}, _f(current))
    return spikes, state["v"]


def cuba_lif_step(v, i, current, *, tau_syn, tau_mem, r, v_leak, v_threshold, v_reset, w_in, dt):
    """One forward-Euler step of NIR's CubaLIF (synaptic current first): (spikes, v, i)."""
    node = ir.CubaLIF("cuba", ("x",), v_threshold=_f(v_threshold), v_reset=_f(v_reset),
                      **synapse_coefficients(tau_syn, w_in, dt), **lif_coefficients(tau_mem, r, v_leak, dt, "tau_mem"))
    spikes, state = step(node, {"v": _f(v), "i": _f(i)}, _f(current))
    return spikes, state["v"], state["i"]


def li_step(v, current, *, tau, r, v_leak, dt):
    """One forward-Euler step of NIR's LI: the new membrane."""
    node = ir.LI("li", ("x",), **lif_coefficients(tau, r, v_leak, dt))
    return step(node, {"v": _f(v)}, _f(current))[1]["v"]
