"""Depth in layers with parameters: the longest path of convs and linears through the graph.

This is how the papers count ("GoogLeNet is 22 layers deep"; ResNet-50, VGG-16): parallel
branches do not add up, only the longest chain counts. The graph comes from ``torch.fx``, so
it works for any traceable model, not only for specs.
"""

from __future__ import annotations

import torch
from torch import nn

_PARAM_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
_PARAM_FUNCTIONS = {torch.nn.functional.conv2d, torch.nn.functional.linear, torch.conv2d}


def depth_with_params(model: nn.Module) -> int | None:
    """Longest conv/linear path of ``model`` in eval mode, or None if fx cannot trace it."""
    import torch.fx

    was_training = model.training
    model.eval()
    try:
        graph = torch.fx.symbolic_trace(model).graph
    except Exception:  # data-dependent control flow and the like: depth unknown, not an error
        return None
    finally:
        model.train(was_training)
    modules = dict(model.named_modules())
    depth: dict[torch.fx.Node, int] = {}
    for node in graph.nodes:
        incoming = max((depth[a] for a in node.all_input_nodes), default=0)
        counts = (node.op == "call_module" and isinstance(modules.get(str(node.target)), _PARAM_LAYERS)) or (
            node.op == "call_function" and node.target in _PARAM_FUNCTIONS)
        depth[node] = incoming + int(counts)
    return max(depth.values(), default=0)
