"""Continuous-time analogue circuits (op-amp integrator networks, RC stages) on diffrax."""

from ._circuits import (
    IntegratorNetwork as IntegratorNetwork,
    OpAmp as OpAmp,
    RCLowPass as RCLowPass,
    ramp_step as ramp_step,
)
