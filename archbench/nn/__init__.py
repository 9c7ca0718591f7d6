"""Builder: spec -> torch.nn.Module (imports torch; the spec and cost layers do not)."""

from .builder import build, init_weights
from .layers import Network, NetOutput

__all__ = ["build", "init_weights", "Network", "NetOutput"]
