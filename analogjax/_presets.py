"""Device presets with published numbers. Each docstring separates what its source states
from what the source does not give (a documented default, marked *assumed*)."""

from __future__ import annotations

import importlib.resources

import numpy as np

from ._devices import FormedDevice, PCMDrift, RelaxationDrift, ResistiveDevice
from ._noise import AbsoluteNoise, PCMReadNoise, PolynomialNoise, RelativeNoise

_uS = 1e-6

# Relaxation of filamentary RRAM after write-verify (Wan et al., Nature 608, 504 (2022), as
# fitted in IBM aihwkit's ReRamWan2022NoiseModel, g_max = 40 µS): σ(ĝ) at 1 s and at one day
# are quartics in ĝ = g/g_max; the added variance σ_day² − σ_1s² spread over the 4.94 decades
# between them, per √decade and as a fraction of g_max, is fitted by this cubic in ĝ (max fit
# error 0.0013): 0.7 % at ĝ = 0, 3.8 % at ĝ = 0.5, 2.7 % at ĝ = 1 (e.g. at mid-window σ grows
# from 2.03 µS at 1 s to 3.91 µS at one day).
_RELAXATION_PER_DECADE = (0.00802, 0.15191, -0.23531, 0.10379)


def _relaxation(g_max: float) -> RelaxationDrift:
    coefficients = tuple(c * g_max for c in _RELAXATION_PER_DECADE)
    return RelaxationDrift(per_decade=PolynomialNoise(coefficients, g_max), t0=1.0)


def measured_formed_map() -> dict[str, np.ndarray]:
    """The measured conductance maps [S] of a formed 40 nm TaOx array shipped with analogjax
    (ESGNN, Nat. Mach. Intell. 5, 104 (2023), Figure 1 source data): ``input`` (50 × 8) and
    ``recurrent`` (50 × 50); unformed cells read 0."""
    path = importlib.resources.files("analogjax") / "data" / "rram_40nm_formed_conductance_map.npz"
    with importlib.resources.as_file(path) as file, np.load(file) as data:
        return {"input": data["input_map_uS"] * _uS, "recurrent": data["recurrent_map_uS"] * _uS}


def rram_taox_40nm() -> ResistiveDevice:
    """40 nm TaN/TaOx/Ta/TiN 1T1R RRAM, programmed with write-verify (analogue levels).

    Sourced: the 512×512 40 nm 1T1R TaOx macros of the random-resistive-memory papers
    (ESGNN, Nat. Mach. Intell. 2023; topology pruning, arXiv 2311.07164); read noise 2 % per
    read (the published code multiplies each *weight* by 1 + 0.02·z; here it is applied to
    each cell, the physical reading of a per-device measurement and 5.9× more noise on a
    formed pair's weight — pass ``read_noise=WeightRelativeNoise(0.02)`` for the code's
    convention); conductances of tens of µS. Relaxation after programming: the spread grows
    by 0.7–3.8 % of g_max per √decade depending on g, no systematic decay (the fit to Wan et
    al., Nature 2022, of another RRAM; its use for this device is *assumed*).
    Assumed (not given by those sources): window 1–30 µS; write-verify programming error
    σ = 0.5 µS; device-to-device window variation 5 %; 0.1 % stuck-at-g_min and 0.05 %
    stuck-at-g_max cells; relaxation counted from t0 = 1 s.
    """
    return ResistiveDevice(
        g_min=1.0 * _uS,
        g_max=30.0 * _uS,
        program_noise=AbsoluteNoise(0.5 * _uS),
        read_noise=RelativeNoise(0.02),
        window_variation=0.05,
        stuck_at_min_rate=1e-3,
        stuck_at_max_rate=5e-4,
        drift=_relaxation(30.0 * _uS),
    )


def rram_180nm() -> ResistiveDevice:
    """180 nm 1T1R RRAM macro as used for analogue neural-ODE/SDE solvers.

    Sourced: 180 nm 1T1R, differential pairs, g_max = 50 µS (public code of the memristive
    ODE-solver hardware, LianfengYu/Memristor_ODE_Hardware; the score-diffusion solver,
    arXiv 2404.05648, uses 180 nm RRAM macros); 10 % relative weight noise, the level the
    diffusion score network is trained to tolerate (n ~ N(0, 0.1²)).
    Assumed: g_min = 2 µS; the 10 % taken as programming noise, read noise 1 % per read;
    window variation 5 %; no stuck cells; relaxation as in :func:`rram_taox_40nm` (Wan et
    al., Nature 2022, another RRAM) from t0 = 1 s.
    """
    return ResistiveDevice(
        g_min=2.0 * _uS,
        g_max=50.0 * _uS,
        program_noise=RelativeNoise(0.10),
        read_noise=RelativeNoise(0.01),
        window_variation=0.05,
        drift=_relaxation(50.0 * _uS),
    )


def pcm_like() -> ResistiveDevice:
    """Phase-change memory, the statistical model of Nandakumar et al., ICECS 2019 (fitted on
    a million-device PCM array; IBM aihwkit's ``PCMLikeNoiseModel``; used by Joshi et al.,
    Nat. Commun. 11, 2473 (2020)).

    Sourced: g_max = 25 µS, g_min = 0 (the single-pair converter of the model);
    programming noise σ = 0.26348 + 1.9650 ĝ − 1.1731 ĝ² µS with ĝ = g/25 µS; drift from
    t0 = 20 s with the conductance-dependent exponent of :class:`PCMDrift`; accumulated 1/f
    read noise growing with time (:class:`PCMReadNoise`, frozen within a read time).
    Not modelled: white per-read noise (the model has none beyond 1/f).
    """
    return ResistiveDevice(
        g_min=0.0,
        g_max=25.0 * _uS,
        program_noise=PolynomialNoise((0.26348 * _uS, 1.9650 * _uS, -1.1731 * _uS), 25.0 * _uS),
        read_noise=PCMReadNoise(g_max=25.0 * _uS),
        drift=PCMDrift(g_max=25.0 * _uS, t0=20.0),
    )


def formed_rram_taox_40nm() -> FormedDevice:
    """Randomly electroformed 40 nm TaOx 1T1R RRAM: the random-weight regime, fitted to the
    measured conductance map shipped with analogjax (:func:`measured_formed_map`).

    From the map (ESGNN, Nat. Mach. Intell. 5, 104 (2023), Figure 1 source data; both maps,
    2,900 cells): 50.7 % of the cells unformed, formed cells 12.34 ± 1.84 µS. The published
    code draws N(14.2473, 2.4624²) µS with every cell formed instead; build that with
    ``FormedDevice(g_formed_mean=14.2473e-6, g_formed_std=2.4624e-6, …)``.
    Sourced: pristine cells ~10 MΩ (0.1 µS); read noise 2 % per read (applied to each cell;
    the code's convention is ``WeightRelativeNoise(0.02)``, several times less on a pair's
    weight).
    Assumed: RESET state N(1.0, 0.3²) µS; no drift.
    """
    maps = measured_formed_map()
    cells = np.concatenate([maps["input"].ravel(), maps["recurrent"].ravel()])
    return FormedDevice.fit(
        cells,
        unformed_below=1.0 * _uS,
        g_reset_mean=1.0 * _uS,
        g_reset_std=0.3 * _uS,
        g_pristine=0.1 * _uS,
        read_noise=RelativeNoise(0.02),
    )


PRESETS = {
    "rram_taox_40nm": rram_taox_40nm,
    "rram_180nm": rram_180nm,
    "pcm_like": pcm_like,
    "formed_rram_taox_40nm": formed_rram_taox_40nm,
}
