"""Exact, differentiable IR drop of crossbars with resistive wires (nodal analysis)."""

from ._ir_drop import (
    AbstractIRDropSolver as AbstractIRDropSolver,
    AutoSolver as AutoSolver,
    Cholesky as Cholesky,
    IRDropSolution as IRDropSolution,
    PreconditionedCG as PreconditionedCG,
    SinhCell as SinhCell,
    Wires as Wires,
    solve as solve,
)
