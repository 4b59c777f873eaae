"""Device presets with published numbers (see each function's docstring for its source)."""

from ._presets import (
    PRESETS as PRESETS,
    formed_rram_taox_40nm as formed_rram_taox_40nm,
    measured_formed_map as measured_formed_map,
    pcm_like as pcm_like,
    rram_180nm as rram_180nm,
    rram_taox_40nm as rram_taox_40nm,
)
