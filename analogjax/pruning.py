"""Topology pruning of random resistive memory: supermasks over electroformed pairs."""

from ._pruning import (
    FormedLayer as FormedLayer,
    init_scores as init_scores,
    supermask as supermask,
)
