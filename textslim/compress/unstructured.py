"""Global L1 (magnitude) unstructured pruning of the encoder's Linear (and LSTM) weights, made permanent.

The classification head is left dense: it is tiny, and zeroing its weights costs accuracy for no size gain.
Unstructured zeros do not make dense kernels faster or files smaller by themselves; the report says so.
"""

import torch
from torch import nn
from torch.nn.utils import prune


def prunable_weights(model: nn.Module) -> list[tuple[nn.Module, str]]:
    """(module, parameter name) for every Linear weight and LSTM weight matrix inside the encoder (base model)."""
    base = getattr(model, "base_model", model)
    weights = []
    for module in base.modules():
        if isinstance(module, nn.Linear):
            weights.append((module, "weight"))
        elif isinstance(module, nn.LSTM):
            weights += [(module, name) for name, _ in module.named_parameters(recurse=False)
                        if name.startswith(("weight_ih", "weight_hh"))]
    return weights


def prunable_linears(model: nn.Module) -> list[tuple[str, nn.Linear]]:
    """Every Linear layer inside the encoder, by qualified name (for reports and tests)."""
    base = getattr(model, "base_model", model)
    prefix = getattr(model, "base_model_prefix", "")
    return [(f"{prefix}.{name}" if prefix else name, module)
            for name, module in base.named_modules() if isinstance(module, nn.Linear)]


def global_magnitude_prune(model: nn.Module, amount: float) -> dict:
    """Zero the `amount` fraction of smallest-magnitude encoder weights globally; return the sparsity."""
    weights = prunable_weights(model)
    if amount > 0:
        prune.global_unstructured(weights, pruning_method=prune.L1Unstructured, amount=amount)
        for module, name in weights:
            prune.remove(module, name)  # bake the mask into the weight: a plain, exportable tensor again
    return sparsity_report(model, weights)


@torch.no_grad()
def sparsity_report(model: nn.Module, weights: list[tuple[nn.Module, str]] | None = None) -> dict:
    """Fraction of zeros among the prunable weights and among all parameters."""
    weights = prunable_weights(model) if weights is None else weights
    tensors = [getattr(module, name) for module, name in weights]
    pruned_total = sum(t.numel() for t in tensors)
    pruned_zeros = sum(int((t == 0).sum()) for t in tensors)
    total = sum(p.numel() for p in model.parameters())
    zeros = sum(int((p == 0).sum()) for p in model.parameters())
    return {"linear_sparsity": round(pruned_zeros / max(pruned_total, 1), 6),
            "model_sparsity": round(zeros / max(total, 1), 6),
            "pruned_weights": pruned_total, "params": total}
