"""Training: datasets, a standard supervised loop with checkpoints and resume, and spec adaptation.

Importing this package imports torch (training needs it anyway); ``import archbench`` does not
import it. The search's training objective calls, per worker and per trial::

    data = load_data("synthetic:10")                       # once per worker
    model = archbench.build(adapt_spec(spec, data), aux=True)
    fit(model, data, TrainConfig(epochs=3, max_steps=50), on_epoch=report_or_prune)
"""

from .adapt import adapt_spec, check_output, model_for_data
from .data import Data, load_data
from .loop import EpochMetrics, TrainConfig, TrainingInterrupted, TrainResult, evaluate, fit, load_checkpoint

__all__ = ["load_data", "Data", "TrainConfig", "fit", "evaluate", "EpochMetrics", "TrainResult", "TrainingInterrupted",
           "adapt_spec", "model_for_data", "check_output", "load_checkpoint"]
