"""Analogue differential-equation solvers built from analogjax hardware, on diffrax
(installed as ``analogjax.solvers``)."""

from ._brownian import GridBrownianPath as GridBrownianPath
from ._closed_loop import (
    BOLTZMANN as BOLTZMANN,
    ClosedLoopIntegrator as ClosedLoopIntegrator,
    LoopNoise as LoopNoise,
    LoopSolution as LoopSolution,
)
from ._network import (
    CrossbarNetwork as CrossbarNetwork,
    mlp_forward as mlp_forward,
    program_network as program_network,
)
