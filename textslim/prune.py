"""Global L1 (magnitude) unstructured pruning of the encoder's Linear weights, made permanent.

The classification head is left dense: it is tiny, and zeroing its weights costs accuracy for no size gain.
Unstructured zeros do not make dense kernels faster or files smaller by themselves; the report says so.
"""

import torch
from torch import nn
from torch.nn.utils import prune


def prunable_linears(model: nn.Module) -> list[tuple[str, nn.Linear]]:
    """Every Linear layer inside the encoder (the model's base model), by qualified name."""
    base = getattr(model, "base_model", model)
    prefix = getattr(model, "base_model_prefix", "")
    return [(f"{prefix}.{name}" if prefix else name, module)
            for name, module in base.named_modules() if isinstance(module, nn.Linear)]


def global_magnitude_prune(model: nn.Module, amount: float) -> dict:
    """Zero the `amount` fraction of smallest-magnitude encoder Linear weights globally; return the sparsity."""
    linears = prunable_linears(model)
    if amount > 0:
        prune.global_unstructured([(m, "weight") for _, m in linears], pruning_method=prune.L1Unstructured,
                                  amount=amount)
        for _, module in linears:
            prune.remove(module, "weight")  # bake the mask into the weight: a plain, exportable tensor again
    return sparsity_report(model, linears)


@torch.no_grad()
def sparsity_report(model: nn.Module, linears: list[tuple[str, nn.Linear]] | None = None) -> dict:
    """Fraction of zeros among the pruned Linear weights and among all parameters."""
    linears = prunable_linears(model) if linears is None else linears
    pruned_total = sum(m.weight.numel() for _, m in linears)
    pruned_zeros = sum(int((m.weight == 0).sum()) for _, m in linears)
    total = sum(p.numel() for p in model.parameters())
    zeros = sum(int((p == 0).sum()) for p in model.parameters())
    return {"linear_sparsity": round(pruned_zeros / max(pruned_total, 1), 6),
            "model_sparsity": round(zeros / max(total, 1), 6),
            "pruned_weights": pruned_total, "params": total}
