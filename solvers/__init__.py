"""Analogue differential-equation solvers built from analogjax hardware, on diffrax
(installed as ``analogjax.solvers``)."""

from ._brownian import (
    AbstractBrownian as AbstractBrownian,
    GridBrownian as GridBrownian,
    GridBrownianPath as GridBrownianPath,
    VirtualTreeBrownian as VirtualTreeBrownian,
)
from ._closed_loop import (
    BOLTZMANN as BOLTZMANN,
    ClosedLoopIntegrator as ClosedLoopIntegrator,
    LoopCircuit as LoopCircuit,
    LoopNoise as LoopNoise,
    LoopSolution as LoopSolution,
    loop_energy as loop_energy,
)
from ._diffusion import (
    VPSDE as VPSDE,
    AbstractDiffusionSampler as AbstractDiffusionSampler,
    AnalogSampler as AnalogSampler,
    DigitalSampler as DigitalSampler,
    ReverseDiffusion as ReverseDiffusion,
    Samples as Samples,
)
