"""analogjax: a differentiable JAX simulator of analogue in-memory computing hardware."""

from . import (
    circuits as circuits,
    energy as energy,
    internal as internal,
    ir_drop as ir_drop,
    memristor as memristor,
    presets as presets,
    pruning as pruning,
    variation as variation,
)
from ._conv import Convolution as Convolution, ProgrammedConv as ProgrammedConv
from ._converters import (
    ADC as ADC,
    DAC as DAC,
    AbstractADCRange as AbstractADCRange,
    CalibratedRange as CalibratedRange,
    FixedRange as FixedRange,
    WorstCaseRange as WorstCaseRange,
)
from ._crossbar import (
    AnalogMatrices as AnalogMatrices,
    Crossbar as Crossbar,
    FrozenRead as FrozenRead,
    ProgrammedCrossbar as ProgrammedCrossbar,
    Read as Read,
)
from ._devices import (
    AbstractDevice as AbstractDevice,
    AbstractDrift as AbstractDrift,
    FormedDevice as FormedDevice,
    IdealDevice as IdealDevice,
    NoDrift as NoDrift,
    PCMDrift as PCMDrift,
    PowerLawDrift as PowerLawDrift,
    ProgrammedCells as ProgrammedCells,
    RelaxationDrift as RelaxationDrift,
    ResistiveDevice as ResistiveDevice,
    round_ste as round_ste,
)
from ._layers import (
    AnalogConv as AnalogConv,
    AnalogLinear as AnalogLinear,
    ProgrammedLinear as ProgrammedLinear,
    convert as convert,
    evaluate as evaluate,
    find_layers as find_layers,
    layer_inputs as layer_inputs,
    program as program,
    read as read,
)
from ._mapping import (
    AbstractMapping as AbstractMapping,
    DifferentialMapping as DifferentialMapping,
    OffsetMapping as OffsetMapping,
    UnipolarMapping as UnipolarMapping,
)
from ._network import (
    AbstractArchitecture as AbstractArchitecture,
    AbstractInitialiser as AbstractInitialiser,
    ConvArchitecture as ConvArchitecture,
    FanInUniform as FanInUniform,
    HeNormal as HeNormal,
    MLPArchitecture as MLPArchitecture,
    Network as Network,
    ProgrammedNetwork as ProgrammedNetwork,
)
from ._noise import (
    AbsoluteNoise as AbsoluteNoise,
    AbstractNoise as AbstractNoise,
    AbstractReadNoise as AbstractReadNoise,
    CombinedReadNoise as CombinedReadNoise,
    FrozenReadNoise as FrozenReadNoise,
    NoNoise as NoNoise,
    NoReadNoise as NoReadNoise,
    PCMReadNoise as PCMReadNoise,
    PolynomialNoise as PolynomialNoise,
    RelativeNoise as RelativeNoise,
    WeightRelativeNoise as WeightRelativeNoise,
    WhiteReadNoise as WhiteReadNoise,
)
from ._training import (
    AbstractTrainingNoise as AbstractTrainingNoise,
    HardwareAwareTraining as HardwareAwareTraining,
    WeightNoise as WeightNoise,
    inject_weight_noise as inject_weight_noise,
)

__version__ = "0.1.0"
