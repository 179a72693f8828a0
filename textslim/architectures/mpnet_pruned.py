"""MPNet in transformers 4.57 cannot run with pruned heads (its relative position bias keeps every head); importing
this module patches MPNetAttention.prune_heads to fix that, for pruning (textslim.compress.structured) and for
from_pretrained of a head-pruned MPNet alike.
"""

import torch
from torch import nn


def _slice_position_bias(module: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    """Forward pre-hook on MPNetSelfAttention: keep the relative position bias of the heads it still has."""
    def keep(bias: torch.Tensor | None) -> torch.Tensor | None:
        return None if bias is None else bias.index_select(1, module.kept_heads.to(bias.device))

    if len(args) > 3:
        args = (*args[:3], keep(args[3]), *args[4:])
    elif "position_bias" in kwargs:
        kwargs["position_bias"] = keep(kwargs["position_bias"])
    return args, kwargs


def _patch_mpnet_prune_heads() -> None:
    """Make MPNetAttention.prune_heads also drop the pruned heads' position bias, which transformers 4.57 forgets.

    MPNetEncoder computes one bias for all config.num_attention_heads heads and adds it to every layer's scores, so
    any pruned layer fails with a shape mismatch. Patching prune_heads (not a single model) also covers the
    prune_heads that from_pretrained runs from config.pruned_heads, and export traces the slice into the ONNX graph.
    Should a later transformers slice the bias itself, tests/test_structured_prune.py fails on MPNet: drop this then.
    """
    from transformers.models.mpnet.modeling_mpnet import MPNetAttention

    original = MPNetAttention.prune_heads
    if getattr(original, "textslim_patched", False):
        return

    def prune_heads(self, heads) -> None:
        original(self, heads)
        if not self.pruned_heads:
            return
        if not hasattr(self.attn, "kept_heads"):
            self.attn.register_forward_pre_hook(_slice_position_bias, with_kwargs=True)
        total = self.attn.num_attention_heads + len(self.pruned_heads)
        self.attn.kept_heads = torch.tensor([h for h in range(total) if h not in self.pruned_heads])

    prune_heads.textslim_patched = True
    MPNetAttention.prune_heads = prune_heads


_patch_mpnet_prune_heads()
