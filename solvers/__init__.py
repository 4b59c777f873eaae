"""Analogue differential-equation solvers built from analogjax hardware, on diffrax
(installed as ``analogjax.solvers``)."""
