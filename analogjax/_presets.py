"""Device presets with published numbers. Each docstring separates what its source states
from what the source does not give (a documented default, marked *assumed*)."""

from __future__ import annotations

from ._devices import FormedDevice, ResistiveDevice
from ._noise import AbsoluteNoise, PolynomialNoise, RelativeNoise

_uS = 1e-6


def rram_taox_40nm() -> ResistiveDevice:
    """40 nm TaN/TaOx/Ta/TiN 1T1R RRAM, programmed with write-verify (analogue levels).

    Sourced: the 512×512 40 nm 1T1R TaOx macros of the random-resistive-memory papers
    (ESGNN, Nat. Mach. Intell. 2023; topology pruning, arXiv 2311.07164); read noise 2 %
    of the conductance per read (the multiplicative read noise of the public ESGNN, PRIME
    and DEPLM code); conductances of tens of µS (formed state N(14.2, 2.5²) µS, ESGNN).
    Assumed (not given by those sources): window 1–30 µS; write-verify programming error
    σ = 0.5 µS; device-to-device window variation 5 %; 0.1 % stuck-at-g_min and 0.05 %
    stuck-at-g_max cells; drift ν ~ N(0.005, 0.002²) from t0 = 1 s (RRAM relaxes far
    less than PCM).
    """
    return ResistiveDevice(
        g_min=1.0 * _uS,
        g_max=30.0 * _uS,
        program_noise=AbsoluteNoise(0.5 * _uS),
        read_noise=RelativeNoise(0.02),
        window_variation=0.05,
        stuck_at_min_rate=1e-3,
        stuck_at_max_rate=5e-4,
        drift_nu_mean=0.005,
        drift_nu_std=0.002,
        drift_t0=1.0,
    )


def rram_180nm() -> ResistiveDevice:
    """180 nm 1T1R RRAM macro as used for analogue neural-ODE/SDE solvers.

    Sourced: 180 nm 1T1R, differential pairs, g_max = 50 µS (public code of the memristive
    ODE-solver hardware, LianfengYu/Memristor_ODE_Hardware; the score-diffusion solver,
    arXiv 2404.05648, uses 180 nm RRAM macros); 10 % relative weight noise, the level the
    diffusion score network is trained to tolerate (n ~ N(0, 0.1²)).
    Assumed: g_min = 2 µS; the 10 % taken as programming noise, read noise 1 %;
    window variation 5 %; no stuck cells; drift ν ~ N(0.005, 0.002²) from t0 = 1 s.
    """
    return ResistiveDevice(
        g_min=2.0 * _uS,
        g_max=50.0 * _uS,
        program_noise=RelativeNoise(0.10),
        read_noise=RelativeNoise(0.01),
        window_variation=0.05,
        drift_nu_mean=0.005,
        drift_nu_std=0.002,
        drift_t0=1.0,
    )


def pcm_like() -> ResistiveDevice:
    """Phase-change memory, the statistical model of Nandakumar et al., ICECS 2019 (fitted on
    a million-device PCM array; used by IBM aihwkit's ``PCMLikeNoiseModel``).

    Sourced: g_max = 25 µS; programming noise σ = 0.26348 + 1.9650 ĝ − 1.1731 ĝ² µS with
    ĝ = g/25 µS; drift from t0 = 20 s with ν ~ N(0.049, 0.008²) (the fit's clamped values,
    which hold for g ≥ 0.27 g_max); read (accumulated 1/f) noise
    σ/g = 0.0088·sqrt(ln((t + t_read)/(2 t_read))) with t_read = 250 ns, evaluated at g_max
    and t = t0: 3.7 %.
    Simplified: the fit's conductance dependence of ν and of the read noise is taken at
    high conductance, and the 1/f noise at t0. Assumed: g_min = 0.1 µS.
    """
    return ResistiveDevice(
        g_min=0.1 * _uS,
        g_max=25.0 * _uS,
        program_noise=PolynomialNoise((0.26348 * _uS, 1.9650 * _uS, -1.1731 * _uS), 25.0 * _uS),
        read_noise=RelativeNoise(0.0368),
        drift_nu_mean=0.049,
        drift_nu_std=0.008,
        drift_t0=20.0,
    )


def formed_rram_taox_40nm() -> FormedDevice:
    """Randomly electroformed 40 nm TaOx 1T1R RRAM: the random-weight regime.

    Sourced (ESGNN, Nat. Mach. Intell. 2023, and its public code): formed conductance
    N(14.2473, 2.4624²) µS; pristine cells ~10 MΩ (0.1 µS); read noise 2 % per read.
    Assumed: RESET state N(1.0, 0.3²) µS; 0.5 % of cells fail to form.
    """
    return FormedDevice(
        g_formed_mean=14.2473 * _uS,
        g_formed_std=2.4624 * _uS,
        g_reset_mean=1.0 * _uS,
        g_reset_std=0.3 * _uS,
        unformed_rate=5e-3,
        g_pristine=0.1 * _uS,
        read_noise=RelativeNoise(0.02),
    )


PRESETS = {
    "rram_taox_40nm": rram_taox_40nm,
    "rram_180nm": rram_180nm,
    "pcm_like": pcm_like,
    "formed_rram_taox_40nm": formed_rram_taox_40nm,
}
