"""Registering our model types with transformers' Auto classes, once per process."""

from transformers import AutoConfig, AutoModelForSequenceClassification, PretrainedConfig, PreTrainedModel

OUR_MODEL_TYPES = "textslim-"  # the prefix of every model type registered here (the BiLSTM, SetFit)


def register_model_type(config_class: type[PretrainedConfig], model_class: type[PreTrainedModel]) -> None:
    """Make AutoConfig and AutoModelForSequenceClassification know config_class.model_type."""
    if not config_class.model_type.startswith(OUR_MODEL_TYPES):
        raise ValueError(f"model type {config_class.model_type!r} does not start with {OUR_MODEL_TYPES!r}")
    for register in (lambda: AutoConfig.register(config_class.model_type, config_class),
                     lambda: AutoModelForSequenceClassification.register(config_class, model_class)):
        try:
            register()
        except ValueError:  # already registered (a module reload): the registry refuses a second entry
            pass
