"""Analogue circuits: op-amps (finite gain, single pole, rails, noise), integrator networks
and RC stages on diffrax, summing/transimpedance amplifiers and activation circuits."""

from ._circuits import (
    AbstractActivation as AbstractActivation,
    IntegratorNetwork as IntegratorNetwork,
    OpAmp as OpAmp,
    RCLowPass as RCLowPass,
    Rectifier as Rectifier,
    SummingAmplifier as SummingAmplifier,
    TanhActivation as TanhActivation,
    TransimpedanceAmplifier as TransimpedanceAmplifier,
    ramp_step as ramp_step,
    unity_inverter as unity_inverter,
)
