"""Exact, differentiable IR drop of crossbars with resistive wires (nodal analysis)."""

from ._ir_drop import (
    DIRECT_MAX_UNKNOWNS as DIRECT_MAX_UNKNOWNS,
    IRDropSolution as IRDropSolution,
    SinhCell as SinhCell,
    Wires as Wires,
    solve as solve,
)
