"""Analogue circuits: op-amps (finite gain, single pole, rails, noise), integrator networks
and RC stages on diffrax, summing/transimpedance amplifiers and activation circuits; general
circuits as netlists (modified nodal analysis on diffrax) and a SPICE-subset reader."""

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
from ._netlist import (
    DC as DC,
    PWL as PWL,
    VCCS as VCCS,
    VCVS as VCVS,
    AbstractElement as AbstractElement,
    AbstractWaveform as AbstractWaveform,
    ActivationElement as ActivationElement,
    Capacitor as Capacitor,
    Circuit as Circuit,
    CircuitSolution as CircuitSolution,
    CurrentSource as CurrentSource,
    Inductor as Inductor,
    MemristorElement as MemristorElement,
    OpAmpElement as OpAmpElement,
    Pulse as Pulse,
    Resistor as Resistor,
    Sine as Sine,
    TransientSettings as TransientSettings,
    VoltageSource as VoltageSource,
    crossbar_elements as crossbar_elements,
    example_netlist as example_netlist,
    read_spice as read_spice,
)
