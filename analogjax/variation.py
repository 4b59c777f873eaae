"""Monte Carlo variation studies over many simulated chips (chunked, sharded, keyed)."""

from ._variation import (
    AbstractProgressMeter as AbstractProgressMeter,
    MonteCarloResult as MonteCarloResult,
    NoProgressMeter as NoProgressMeter,
    Spec as Spec,
    TqdmProgressMeter as TqdmProgressMeter,
    chip_key as chip_key,
    format_table as format_table,
    monte_carlo as monte_carlo,
    sweep as sweep,
)
