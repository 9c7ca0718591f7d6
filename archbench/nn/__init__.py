"""Builder: spec -> torch.nn.Module (imports torch; the spec and cost layers do not)."""

from .builder import build, init_weights
from .layers import NetOutput, Network, split_output

__all__ = ["build", "init_weights", "Network", "NetOutput", "split_output"]
