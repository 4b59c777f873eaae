"""Monte Carlo variation studies over many simulated chips (chunked, sharded, keyed)."""

from ._variation import (
    MonteCarloResult as MonteCarloResult,
    Spec as Spec,
    chip_key as chip_key,
    format_table as format_table,
    monte_carlo as monte_carlo,
    sweep as sweep,
)
