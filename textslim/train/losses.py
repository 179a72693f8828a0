"""The distillation losses: hard labels, the teacher's softened logits (KL), its argmax, and the intermediate-layer
MSE; the weights of the mix (LossWeights) are what a recipe chooses."""

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class LossWeights:
    """hard: CE(labels); soft: T^2 * KL(teacher_T || student_T); sequence: CE(teacher's argmax);
    hidden: MSE between each student layer's hidden states and those of the teacher layer matched to it."""

    hard: float = 1.0
    soft: float = 0.0
    sequence: float = 0.0
    temperature: float = 1.0
    hidden: float = 0.0

    @classmethod
    def from_alpha(cls, alpha: float, temperature: float) -> "LossWeights":
        """The classic mix: (1 - alpha) * CE(labels) + alpha * T^2 * KL."""
        return cls(hard=1 - alpha, soft=alpha, temperature=temperature)


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor | None, labels: torch.Tensor,
            weights: LossWeights) -> torch.Tensor:
    """hard * CE(student, labels) + soft * T^2 * KL(softmax(teacher/T) || softmax(student/T))
    + sequence * CE(student, argmax teacher). A row labelled -100 (an unlabelled transfer text) has no hard term: it
    counts 0 in the hard term's mean over the batch, so each labelled row weighs the same whatever the batch holds
    and distill.alpha keeps its meaning (a mean over the labelled rows alone would weigh each 16x with 2 of 32)."""
    if (labels != -100).all():
        hard = F.cross_entropy(student_logits, labels)
    else:
        hard = F.cross_entropy(student_logits, labels, ignore_index=-100, reduction="sum") / len(labels)
    loss = weights.hard * hard
    if teacher_logits is None:
        return loss
    t = weights.temperature
    if weights.soft:
        kl = F.kl_div(F.log_softmax(student_logits / t, dim=-1), F.log_softmax(teacher_logits / t, dim=-1),
                      reduction="batchmean", log_target=True)
        # T^2 keeps the soft term's gradient scale independent of T (Hinton et al., 2015).
        loss = loss + weights.soft * t**2 * kl
    if weights.sequence:
        # The teacher's hard decisions as labels: Tang et al.'s "distilling BERT into a BiLSTM" recipe.
        loss = loss + weights.sequence * F.cross_entropy(student_logits, teacher_logits.argmax(-1))
    return loss


def hidden_state_loss(student_hidden: tuple[torch.Tensor, ...], teacher_hidden: tuple[torch.Tensor, ...],
                      layer_map: list[int], attention_mask: torch.Tensor) -> torch.Tensor:
    """TinyBERT's intermediate-layer loss: the mean over matched pairs of the MSE between hidden states.

    hidden_states[0] is the embedding output and [i + 1] layer i's, in both models; the embeddings are matched to the
    teacher's, student layer i to teacher layer layer_map[i]. Padding positions are left out of the mean.
    """
    mask = attention_mask.unsqueeze(-1).to(student_hidden[0].dtype)
    count = mask.sum() * student_hidden[0].shape[-1]
    pairs = [(0, 0)] + [(i + 1, t + 1) for i, t in enumerate(layer_map)]
    return torch.stack([(((student_hidden[s] - teacher_hidden[t]) ** 2) * mask).sum() / count
                        for s, t in pairs]).mean()
