"""The model code a saved model folder needs in order to load: our own model types and the MPNet pruned-heads fix.

Importing this package registers the BiLSTM and SetFit classifiers with transformers' Auto classes and patches MPNet's
prune_heads, so that AutoModelForSequenceClassification.from_pretrained loads every model the pipeline writes. It is
the only model code the inference layer imports: the recipes (textslim.students) and the pruning code
(textslim.compress) build and change models, and loading one depends on neither.
"""

from textslim.architectures import bilstm, mpnet_pruned, setfit_head  # noqa: F401  (registration and patch on import)
from textslim.architectures.auto_registration import OUR_MODEL_TYPES

__all__ = ["OUR_MODEL_TYPES"]
