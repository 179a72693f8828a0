"""The SetFit student's model: a sentence-transformers body, its mean pooling and a Linear head as one transformers
classifier, registered with the Auto classes (its few-shot training and distillation: textslim.students.setfit).
"""

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoConfig, AutoModel, PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput

from textslim.architectures.auto_registration import OUR_MODEL_TYPES, register_model_type

MODEL_TYPE = OUR_MODEL_TYPES + "setfit"


class SetFitClassifierConfig(PretrainedConfig):
    """The body's own transformers config (as a dict) plus whether embeddings are L2-normalised before the head."""

    model_type = MODEL_TYPE

    def __init__(self, encoder: dict | None = None, normalize: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder or {}
        self.normalize = normalize

    # The encoder's depth, read and set through the body's own config: a layer-subset student of a SetFit teacher
    # is this type with fewer layers.
    @property
    def num_hidden_layers(self) -> int | None:
        return self.__dict__.get("encoder", {}).get("num_hidden_layers")  # None while __init__ runs

    @num_hidden_layers.setter
    def num_hidden_layers(self, value: int) -> None:
        self.encoder["num_hidden_layers"] = value


class SetFitClassifier(PreTrainedModel):
    """Encoder -> masked mean pooling -> (L2 normalisation) -> Linear: a SetFit model as one differentiable module."""

    config_class = SetFitClassifierConfig
    base_model_prefix = "encoder"  # pruning and the encoder learning rate reach the body; the head stays apart
    main_input_name = "input_ids"

    def __init__(self, config: SetFitClassifierConfig):
        super().__init__(config)
        encoder_config = AutoConfig.for_model(**config.encoder)
        try:  # BERT and MPNet carry a pooler that mean pooling never uses; leave it out where the class allows
            self.encoder = AutoModel.from_config(encoder_config, add_pooling_layer=False)
        except TypeError:
            self.encoder = AutoModel.from_config(encoder_config)
        self.classifier = nn.Linear(encoder_config.hidden_size, config.num_labels)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        if module is self.classifier:
            module.reset_parameters()

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                **kwargs) -> SequenceClassifierOutput:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        extra = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask, **extra).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)  # what sentence-transformers' mean pooling does
        if self.config.normalize:
            pooled = F.normalize(pooled, p=2, dim=-1)
        logits = self.classifier(pooled)
        loss = F.cross_entropy(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)


register_model_type(SetFitClassifierConfig, SetFitClassifier)
