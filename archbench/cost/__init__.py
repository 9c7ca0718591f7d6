"""Analytic cost model: shapes, params, FLOPs and activations straight from a spec."""

from .analysis import CostReport, LayerCost, analyze

__all__ = ["analyze", "CostReport", "LayerCost"]
