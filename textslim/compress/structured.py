"""Structured pruning of BERT- and MPNet-style classifiers: whole attention heads and whole FFN neurons go.

The result is a smaller dense model: fewer parameters on disk and smaller matrices for ordinary kernels, unlike the
zeros of textslim.compress.unstructured. Heads are ranked globally across layers, so layers end up with different
head counts; transformers records them in config.pruned_heads and from_pretrained re-applies them, and the ONNX
export traces each layer's own head count. FFN neurons are ranked within each layer and every layer keeps the same
number, so that a plain config.intermediate_size describes the pruned model and from_pretrained needs no custom
loader.

MPNet in transformers 4.57 cannot run with pruned heads; textslim.architectures.mpnet_pruned fixes that on import.
"""

import logging
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn
from transformers.pytorch_utils import prune_linear_layer

import textslim.architectures.mpnet_pruned  # noqa: F401  (MPNet's prune_heads fixed before any pruning)
from textslim.errors import TextslimError

log = logging.getLogger(__name__)


@dataclass
class StructuredScores:
    """Importance per head (layers x original heads, NaN where already pruned) and per FFN neuron (layers x size)."""

    heads: torch.Tensor
    neurons: torch.Tensor


def encoder_layers(model: nn.Module) -> nn.ModuleList:
    """The transformer layers of a BERT- or MPNet-style classifier."""
    encoder = getattr(getattr(model, "base_model", model), "encoder", None)
    if encoder is None or not hasattr(encoder, "layer"):
        raise TextslimError(f"prune: structured pruning supports BERT- and MPNet-style encoders, "
                            f"not {type(model).__name__}")
    return encoder.layer


def _self_attention(layer: nn.Module) -> nn.Module:
    """The module that holds q/k/v and the live head count (BERT: attention.self, MPNet: attention.attn)."""
    return layer.attention.self if hasattr(layer.attention, "self") else layer.attention.attn


def _attention_output(layer: nn.Module) -> nn.Linear:
    """The projection that reads the concatenated heads (BERT: attention.output.dense, MPNet: attention.attn.o)."""
    return layer.attention.output.dense if hasattr(layer.attention, "self") else layer.attention.attn.o


def alive_heads(layer: nn.Module, num_heads: int) -> list[int]:
    """Original indices of the heads a layer still has (prune_heads takes and records original indices)."""
    return [h for h in range(num_heads) if h not in layer.attention.pruned_heads]


def _label_ids(model: nn.Module, labels: list) -> torch.Tensor:
    """Labels as class ids; names are looked up in config.label2id."""
    label2id = model.config.label2id
    try:
        return torch.tensor([label2id[y] if isinstance(y, str) else int(y) for y in labels])
    except KeyError as err:
        raise TextslimError(f"prune: label {err.args[0]!r} is not one of the model's {sorted(label2id)}") from None


def _mask_heads(mask: torch.Tensor, module: nn.Module, args: tuple) -> tuple:
    """Forward pre-hook on the attention output projection: scale each head's context by its mask entry.

    Scaling a head's context equals scaling its attention probabilities (context = probs @ V), so the gradient is
    Michel et al.'s head_mask gradient; unlike head_mask it also works when layers have different head counts, and
    it does not push BERT's SDPA attention back to the eager path.
    """
    context = args[0]
    heads = context.unflatten(-1, (mask.numel(), -1)) * mask[:, None]
    return (heads.flatten(-2), *args[1:])


def _keep_output(store: list, index: int, module: nn.Module, args: tuple, output: torch.Tensor) -> None:
    """Forward hook: keep a layer's FFN activations (after the nonlinearity) for the Taylor score."""
    store[index] = output


@torch.enable_grad()  # the scores are gradients, even when the caller runs under no_grad
def importance_scores(model: nn.Module, tokenizer, texts: list[str], labels: list, max_length: int,
                      batch_size: int = 32, max_batches: int = 8,
                      teacher_logits: torch.Tensor | None = None) -> StructuredScores:
    """Head importance (Michel et al. 2019) and FFN-neuron Taylor importance from a few batches of real data.

    Heads: sum over batches of |dloss/dmask|, L2-normalised within each layer so that layers compare globally.
    Neurons: sum over texts of |sum over tokens of activation * gradient|, the first-order loss change if the neuron
    were removed from that text. The loss is cross-entropy on the labels, or KL to teacher_logits when given.
    """
    layers = encoder_layers(model)
    num_heads = model.config.num_attention_heads
    alive = [alive_heads(layer, num_heads) for layer in layers]
    device = next(model.parameters()).device
    masks = [torch.ones(len(heads), device=device, requires_grad=True) for heads in alive]
    activations: list[torch.Tensor | None] = [None] * len(layers)
    head_sums = [torch.zeros(len(heads)) for heads in alive]
    neuron_sums = torch.zeros(len(layers), model.config.intermediate_size)
    handles = []
    for i, layer in enumerate(layers):
        handles.append(_attention_output(layer).register_forward_pre_hook(partial(_mask_heads, masks[i])))
        handles.append(layer.intermediate.register_forward_hook(partial(_keep_output, activations, i)))
    label_ids = _label_ids(model, labels)
    was_training = model.training
    model.eval()  # dropout would add noise to the gradients the scores are made of
    try:
        for start in range(0, min(len(texts), batch_size * max_batches), batch_size):
            stop = start + batch_size
            batch = tokenizer(texts[start:stop], padding=True, truncation=True, max_length=max_length,
                              return_tensors="pt").to(device)
            logits = model(**batch).logits.float()
            if teacher_logits is None:
                loss = F.cross_entropy(logits, label_ids[start:stop].to(device))
            else:
                target = teacher_logits[start:stop].to(device).float().log_softmax(-1)
                loss = F.kl_div(logits.log_softmax(-1), target, log_target=True, reduction="batchmean")
            # autograd.grad, not backward: only the masks' and activations' gradients, no parameter .grad
            grads = torch.autograd.grad(loss, masks + activations)
            for i, grad in enumerate(grads[:len(layers)]):
                head_sums[i] += grad.detach().abs().cpu()
            for i, (act, grad) in enumerate(zip(activations, grads[len(layers):])):
                neuron_sums[i] += (act.detach() * grad).sum(1).abs().sum(0).cpu()
            activations[:] = [None] * len(layers)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    heads = torch.full((len(layers), num_heads), float("nan"))
    for i, (indices, sums) in enumerate(zip(alive, head_sums)):
        heads[i, indices] = sums / (sums.norm() + 1e-20)
    return StructuredScores(heads=heads, neurons=neuron_sums)


def _check_fraction(name: str, value: float) -> None:
    """Raise a one-line TextslimError unless 0 <= value < 1."""
    if not 0 <= value < 1:
        raise TextslimError(f"{name} must be in [0, 1), got {value}")


def heads_to_prune(scores: torch.Tensor, fraction: float) -> dict[int, list[int]]:
    """The lowest-scoring `fraction` of the live heads, ranked across all layers, each layer keeping at least one."""
    _check_fraction("prune.head_fraction", fraction)
    live = [(float(scores[i, h]), i, h) for i in range(scores.shape[0]) for h in range(scores.shape[1])
            if not torch.isnan(scores[i, h])]
    per_layer = [int((~torch.isnan(row)).sum()) for row in scores]
    wanted = round(len(live) * fraction)
    if wanted > len(live) - len(per_layer):
        raise TextslimError(f"prune.head_fraction: {fraction} would remove {wanted} of {len(live)} heads, leaving a "
                            f"layer with none; at most {len(live) - len(per_layer)} can go")
    plan: dict[int, list[int]] = {}
    chosen = 0
    for _, layer, head in sorted(live):  # reaches `wanted`: each layer can give all but one head
        if chosen == wanted:
            break
        if per_layer[layer] > 1:
            plan.setdefault(layer, []).append(head)
            per_layer[layer] -= 1
            chosen += 1
    return {layer: sorted(heads) for layer, heads in sorted(plan.items())}


def prune_ffn(model: nn.Module, scores: torch.Tensor, fraction: float) -> int:
    """Keep the same number of top-scoring FFN neurons in every layer; return the new intermediate size.

    Sliced by hand: transformers prunes heads but not FFN neurons, and torch-pruning is not in the pinned stack.
    """
    _check_fraction("prune.ffn_fraction", fraction)
    size = model.config.intermediate_size
    keep = max(1, round((1 - fraction) * size))
    if keep == size:
        return size
    for layer, row in zip(encoder_layers(model), scores):
        index = row.topk(keep).indices.sort().values  # sorted: the kept neurons stay in their original order
        dtype = layer.intermediate.dense.weight.dtype
        layer.intermediate.dense = prune_linear_layer(layer.intermediate.dense, index, dim=0).to(dtype)
        layer.output.dense = prune_linear_layer(layer.output.dense, index, dim=1).to(dtype)
    model.config.intermediate_size = keep  # uniform across layers, so from_pretrained rebuilds the same shapes
    return keep


def prune_structured(model: nn.Module, head_fraction: float, ffn_fraction: float, scores: StructuredScores) -> dict:
    """Remove the least important heads (global ranking) and FFN neurons (per layer) in place; return a report."""
    _check_fraction("prune.head_fraction", head_fraction)
    _check_fraction("prune.ffn_fraction", ffn_fraction)
    layers = encoder_layers(model)
    num_heads, size = model.config.num_attention_heads, model.config.intermediate_size
    if tuple(scores.heads.shape) != (len(layers), num_heads) or tuple(scores.neurons.shape) != (len(layers), size):
        raise TextslimError(f"prune: importance scores of shapes {tuple(scores.heads.shape)} and "
                            f"{tuple(scores.neurons.shape)} do not fit this model ({len(layers)} layers, "
                            f"{num_heads} heads, FFN {size}); score the model being pruned")
    params_before = sum(p.numel() for p in model.parameters())
    heads_before = [len(alive_heads(layer, num_heads)) for layer in layers]
    plan = heads_to_prune(scores.heads, head_fraction)
    if plan:
        model.prune_heads(plan)  # also records them in config.pruned_heads for from_pretrained
    new_size = prune_ffn(model, scores.neurons, ffn_fraction)
    report = {"heads_before": heads_before,
              "heads_after": [len(alive_heads(layer, num_heads)) for layer in layers],
              "pruned_heads": plan,
              "intermediate_size_before": size, "intermediate_size_after": new_size,
              "params_before": params_before, "params_after": sum(p.numel() for p in model.parameters())}
    log.info("structured pruning: heads %d -> %d, FFN %d -> %d, params %d -> %d", sum(heads_before),
             sum(report["heads_after"]), size, new_size, params_before, report["params_after"])
    return report
