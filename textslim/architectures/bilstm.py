"""The BiLSTM student's model: a bidirectional LSTM with attention pooling over word embeddings, shaped like a HF
classifier and registered with the Auto classes (its recipe, tokenizer and word vectors: textslim.students.lstm).

Padding is ignored without pack_padded_sequence (which exports badly to ONNX with dynamic shapes): the forward
direction never sees right padding before a real token, the backward direction runs on each row reversed within its
own length (so padding again comes last), and attention pooling masks the padded positions out.
"""

import torch
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput

from textslim.architectures.auto_registration import OUR_MODEL_TYPES, register_model_type

MODEL_TYPE = OUR_MODEL_TYPES + "bilstm"


class BiLstmConfig(PretrainedConfig):
    """Sizes of the BiLSTM student; num_labels, id2label and label2id as in every HF config."""

    model_type = MODEL_TYPE

    def __init__(self, vocab_size: int = 2, embedding_dim: int = 50, hidden_size: int = 64, num_layers: int = 1,
                 dropout: float = 0.2, pad_token_id: int = 0, **kwargs):
        super().__init__(pad_token_id=pad_token_id, **kwargs)
        self.vocab_size, self.embedding_dim, self.hidden_size = vocab_size, embedding_dim, hidden_size
        self.num_layers, self.dropout = num_layers, dropout


def _reverse_within_length(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each row's first `length` steps and leave its padding in place (its own inverse)."""
    steps = torch.arange(x.shape[1], device=x.device).unsqueeze(0)
    index = torch.where(steps < lengths.unsqueeze(1), lengths.unsqueeze(1) - 1 - steps, steps)
    return torch.gather(x, 1, index.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


class BiLstmEncoder(nn.Module):
    """Embedding -> stacked bidirectional LSTM -> additive attention pooling: one vector of 2 * hidden per text."""

    def __init__(self, config: BiLstmConfig):
        super().__init__()
        self.embeddings = nn.Embedding(config.vocab_size, config.embedding_dim, padding_idx=config.pad_token_id)
        self.dropout = nn.Dropout(config.dropout)
        # One unidirectional LSTM per direction and layer: the backward one must start at each row's last real
        # token, which a single bidirectional nn.LSTM cannot do on a right-padded batch without packing.
        sizes = [config.embedding_dim] + [2 * config.hidden_size] * (config.num_layers - 1)
        self.fw = nn.ModuleList(nn.LSTM(size, config.hidden_size, batch_first=True) for size in sizes)
        self.bw = nn.ModuleList(nn.LSTM(size, config.hidden_size, batch_first=True) for size in sizes)
        self.attention = nn.Linear(2 * config.hidden_size, config.hidden_size)
        self.score = nn.Linear(config.hidden_size, 1, bias=False)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        # Right padding is assumed (the tokenizer pads on the right): the real tokens of a row are its first `length`.
        lengths = attention_mask.sum(dim=1)
        states = self.dropout(self.embeddings(input_ids))
        for i, (fw, bw) in enumerate(zip(self.fw, self.bw)):
            forward_states, _ = fw(states)
            backward_states, _ = bw(_reverse_within_length(states, lengths))
            states = torch.cat([forward_states, _reverse_within_length(backward_states, lengths)], dim=-1)
            if i < len(self.fw) - 1:
                states = self.dropout(states)
        scores = self.score(torch.tanh(self.attention(states))).squeeze(-1)
        # The dtype's minimum rather than -inf: a row with no real token gets finite (uniform) weights, not NaN.
        scores = scores.masked_fill(attention_mask == 0, torch.finfo(scores.dtype).min)
        weights = torch.softmax(scores, dim=-1)
        return torch.bmm(weights.unsqueeze(1), states).squeeze(1)


class BiLstmForSequenceClassification(PreTrainedModel):
    """BiLSTM encoder (`self.bilstm`, the base model) plus a dropout + Linear head outside it."""

    config_class = BiLstmConfig
    base_model_prefix = "bilstm"
    main_input_name = "input_ids"

    def __init__(self, config: BiLstmConfig):
        super().__init__(config)
        self.bilstm = BiLstmEncoder(config)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(2 * config.hidden_size, config.num_labels)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        # PyTorch's own initialisation suits LSTMs; only the padding row must start (and stay) at zero.
        if isinstance(module, nn.Linear | nn.LSTM | nn.Embedding):
            module.reset_parameters()

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                labels: torch.Tensor | None = None, **kwargs) -> SequenceClassifierOutput:
        """Logits per text; with labels, the cross-entropy loss too. Other keyword inputs are ignored."""
        if attention_mask is None:
            attention_mask = (input_ids != self.config.pad_token_id).long()
        logits = self.classifier(self.dropout(self.bilstm(input_ids, attention_mask)))
        loss = nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)


register_model_type(BiLstmConfig, BiLstmForSequenceClassification)
