"""Analytic cost model: shapes, params, FLOPs, activations and memory straight from a spec."""

from .analysis import CostReport, LayerCost, analyze
from .memory import MemoryEstimate, estimate_memory, inference_peak_bytes

__all__ = ["analyze", "CostReport", "LayerCost", "estimate_memory", "inference_peak_bytes", "MemoryEstimate"]
