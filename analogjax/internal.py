"""Building blocks shared by analogjax's own packages (``analogjax.solvers``,
``analogjax.models``) and by extensions: argument validation, counter-based random numbers,
the ODE call. Everything outside the core imports these from here, never from a private
module, so the core can reorganise its files freely."""

from ._crossbar import safe_sqrt as safe_sqrt
from ._ode import (
    check_ode_options as check_ode_options,
    default_controller as default_controller,
    integrate as integrate,
)
from ._rng import (
    normal_from_seed as normal_from_seed,
    seed_words as seed_words,
)
from ._validation import (
    check_finite_array as check_finite_array,
    check_int as check_int,
    check_key as check_key,
    check_range as check_range,
    is_concrete as is_concrete,
)
