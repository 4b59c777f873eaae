"""Energy and latency: periphery, op-amps, crossbar Joule heating and a digital baseline."""

from ._energy import EnergyModel as EnergyModel, crossbar_read_energy as crossbar_read_energy
