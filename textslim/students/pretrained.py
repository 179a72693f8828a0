"""The pretrained compact student (the BERT-base -> DistilBERT recipe): a smaller pretrained encoder, fresh head.

It reads text with its own tokenizer, so it may differ from the teacher's; the teacher's logits are per text.
"""

from transformers import AutoModelForSequenceClassification, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from textslim.assets import resolve_model


def build_pretrained_student(reference: str, labels: list[str]) -> tuple[PreTrainedModel, PreTrainedTokenizerBase,
                                                                        dict]:
    """The encoder named by distill.pretrained_model with a new classification head for these labels."""
    source = resolve_model(reference, key="distill.pretrained_model")
    tokenizer = AutoTokenizer.from_pretrained(source)
    model = AutoModelForSequenceClassification.from_pretrained(
        source, num_labels=len(labels), id2label=dict(enumerate(labels)),
        label2id={name: i for i, name in enumerate(labels)})
    return model, tokenizer, {"recipe": "pretrained", "model": reference,
                              "layers": model.config.num_hidden_layers}
