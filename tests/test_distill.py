"""The KD loss on hand-made logits, and one step of the shared training loop lowering it."""

import math

import numpy as np
import pandas as pd
import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from textslim.params import TrainParams
from textslim.train.loop import DistillationTrainer, _Collator, tokenize_frame
from textslim.train.losses import LossWeights, kd_loss


def _softmax(row, t):
    e = [math.exp(x / t) for x in row]
    return [x / sum(e) for x in e]


def test_kd_loss_equals_the_formula_by_hand():
    student = [[1.0, -1.0, 0.5], [0.2, 0.3, -0.4]]
    teacher = [[2.0, 0.0, -1.0], [-0.5, 1.5, 0.0]]
    labels = [0, 1]
    alpha, t = 0.3, 2.5
    ce = -sum(math.log(_softmax(s, 1)[y]) for s, y in zip(student, labels)) / 2
    kl = sum(sum(p * math.log(p / q) for p, q in zip(_softmax(tt, t), _softmax(s, t)))
             for s, tt in zip(student, teacher)) / 2
    expected = (1 - alpha) * ce + alpha * t * t * kl
    got = kd_loss(torch.tensor(student), torch.tensor(teacher), torch.tensor(labels), LossWeights.from_alpha(alpha, t))
    assert got.item() == pytest.approx(expected, rel=1e-6)


def test_sequence_loss_is_cross_entropy_against_the_teachers_argmax():
    student, teacher = torch.tensor([[0.2, 0.9], [1.0, -1.0]]), torch.tensor([[3.0, -1.0], [0.0, 2.0]])
    labels = torch.tensor([1, 1])
    weights = LossWeights(hard=0.2, soft=0.0, sequence=0.7, temperature=2.0)
    expected = (0.2 * torch.nn.functional.cross_entropy(student, labels)
                + 0.7 * torch.nn.functional.cross_entropy(student, torch.tensor([0, 1])))
    assert kd_loss(student, teacher, labels, weights).item() == pytest.approx(expected.item(), rel=1e-6)


def test_an_unlabelled_row_has_no_hard_term_but_keeps_its_soft_one():
    student = torch.tensor([[1.0, -1.0], [0.2, 0.3], [0.5, 0.5]], requires_grad=True)
    teacher = torch.tensor([[2.0, 0.0], [-0.5, 1.5], [1.0, -1.0]])
    weights = LossWeights.from_alpha(0.5, 2.0)
    got = kd_loss(student, teacher, torch.tensor([0, -100, -100]), weights)
    soft = kd_loss(student, teacher, torch.tensor([0, 0, 0]), LossWeights(hard=0.0, soft=0.5, temperature=2.0))
    # the unlabelled rows count 0 in the batch's mean: one labelled row of three weighs what it would among labelled
    hard = torch.nn.functional.cross_entropy(student[:1], torch.tensor([0])) / 3
    assert got.item() == pytest.approx((0.5 * hard + soft).item(), rel=1e-6)
    # a batch of unlabelled rows only: the soft term alone, finite, with gradients
    only = kd_loss(student, teacher, torch.full((3,), -100), weights)
    assert torch.isfinite(only) and only.item() == pytest.approx(soft.item(), rel=1e-6)
    only.backward()
    assert torch.isfinite(student.grad).all() and student.grad.abs().sum() > 0


def test_kd_loss_without_teacher_is_cross_entropy():
    logits, labels = torch.tensor([[0.3, -0.2]]), torch.tensor([1])
    assert kd_loss(logits, None, labels, LossWeights()).item() == pytest.approx(
        torch.nn.functional.cross_entropy(logits, labels).item())


def test_kd_loss_is_zero_soft_term_when_student_equals_teacher():
    logits, labels = torch.tensor([[1.0, 2.0]]), torch.tensor([1])
    full = kd_loss(logits, logits.clone(), labels, LossWeights.from_alpha(1.0, 3.0))
    assert full.item() == pytest.approx(0.0, abs=1e-7)


def test_one_training_step_lowers_the_kd_loss(tiny_teacher, tmp_path):
    from transformers import TrainingArguments

    tokenizer = AutoTokenizer.from_pretrained(tiny_teacher)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_teacher)
    frame = pd.DataFrame({"text": ["good fun film", "awful dull plot", "great movie", "bad script"],
                          "label": [1, 0, 1, 0]})
    teacher_logits = np.array([[-2.0, 2.0], [2.0, -2.0], [-1.5, 1.5], [1.0, -1.0]], dtype=np.float32)
    dataset = tokenize_frame(frame, tokenizer, 16, teacher_logits)
    batch = _Collator(tokenizer)([dict(row) for row in dataset])
    args = TrainingArguments(output_dir=str(tmp_path), report_to=[], use_cpu=True)
    trainer = DistillationTrainer(model=model, args=args, loss_weights=LossWeights(0.4, 0.4, 0.2, 2.0))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    model.eval()  # no dropout: the two losses differ only by the step

    def loss():
        return trainer.compute_loss(model, dict(batch))

    before = loss()
    before.backward()
    optimizer.step()
    with torch.no_grad():
        after = loss()
    assert after.item() < before.item()


def test_teacher_logits_must_align_with_texts(tiny_teacher):
    tokenizer = AutoTokenizer.from_pretrained(tiny_teacher)
    frame = pd.DataFrame({"text": ["a", "b"], "label": [0, 1]})
    with pytest.raises(ValueError, match="1 teacher logits for 2 texts"):
        tokenize_frame(frame, tokenizer, 8, np.zeros((1, 2)))


OUTSIDE_RANGE = [("epochs", 0), ("batch_size", 0), ("learning_rate", 0.0), ("head_learning_rate", -1e-5),
                 ("weight_decay", -0.01), ("warmup_ratio", 1.0), ("warmup_ratio", -0.01), ("max_length", 7),
                 ("early_stopping_patience", 0)]


@pytest.mark.parametrize("field, value", OUTSIDE_RANGE)
def test_each_train_param_just_outside_its_range_is_rejected_by_name(field, value):
    from dataclasses import replace

    from textslim.errors import TextslimError

    TrainParams().validate_train("teacher")  # the defaults pass
    with pytest.raises(TextslimError, match=rf"^params: student\.{field} = {value!r} is not allowed"):
        replace(TrainParams(), **{field: value}).validate_train("student")


def test_every_train_param_has_an_outside_range_case():
    from dataclasses import fields

    assert {name for name, _ in OUTSIDE_RANGE} == {f.name for f in fields(TrainParams)}


def test_hidden_state_loss_equals_the_formula_by_hand():
    from textslim.train.losses import hidden_state_loss

    # one text of 2 real tokens and 1 pad, hidden size 2; student: embeddings + 2 layers, teacher: embeddings + 3
    student = (torch.tensor([[[1.0, 0.0], [0.0, 1.0], [9.0, 9.0]]]),
               torch.tensor([[[2.0, 2.0], [1.0, 1.0], [9.0, 9.0]]]),
               torch.tensor([[[0.0, 0.0], [3.0, 0.0], [9.0, 9.0]]]))
    teacher = (torch.zeros(1, 3, 2), torch.ones(1, 3, 2), torch.full((1, 3, 2), 5.0), torch.full((1, 3, 2), 2.0))
    mask = torch.tensor([[1, 1, 0]])
    # pairs: embeddings (0, 0), student layer 0 -> teacher layer 2 (index 3), student layer 1 -> teacher layer 0
    def mse(s, t):  # over the 2 real tokens x 2 dims
        return sum((s[0, i, d].item() - t[0, i, d].item()) ** 2 for i in range(2) for d in range(2)) / 4
    expected = (mse(student[0], teacher[0]) + mse(student[1], teacher[3]) + mse(student[2], teacher[1])) / 3
    assert hidden_state_loss(student, teacher, [2, 0], mask).item() == pytest.approx(expected, rel=1e-6)


def test_a_layer_map_outside_the_teacher_is_named():
    from textslim.errors import TextslimError
    from textslim.students.layers import LayerParams, layer_map

    with pytest.raises(TextslimError, match=r"spread.hidden_layer_map = \[0, 6\].*0 to 5"):
        layer_map(LayerParams(num_layers=2, hidden_weight=1.0, hidden_layer_map=(0, 6)), [0, 5], 6, "spread")
    assert layer_map(LayerParams(num_layers=2, hidden_weight=1.0), [0, 5], 6, "spread") == [0, 5]


def test_one_step_with_the_hidden_state_loss_lowers_it(tmp_path, tiny_teacher):
    from transformers import TrainingArguments

    from textslim.students.layers import build_layer_student

    # No dropout (the student copies the teacher's config): the loss is a training-mode loss, and two calls compare.
    teacher = AutoModelForSequenceClassification.from_pretrained(tiny_teacher, hidden_dropout_prob=0.0,
                                                                 attention_probs_dropout_prob=0.0)
    tokenizer = AutoTokenizer.from_pretrained(tiny_teacher)
    torch.manual_seed(0)
    student, layers = build_layer_student(teacher, "spread", 2)
    frame = pd.DataFrame({"text": ["good fun film", "bad dull plot", "a warm clever story", "slow flat mess"],
                          "label": [1, 0, 1, 0]})
    data = tokenize_frame(frame, tokenizer, 16, np.zeros((4, 2), dtype=np.float32))
    batch = _Collator(tokenizer)([dict(row) for row in data])
    weights = LossWeights(hard=0.0, soft=0.0, hidden=1.0)
    trainer = DistillationTrainer(model=student, args=TrainingArguments(str(tmp_path), report_to=[], use_cpu=True),
                                  loss_weights=weights, teacher=teacher, layer_map=layers)
    student.train()
    optimizer = torch.optim.SGD(student.parameters(), lr=1e-3)
    before = trainer.compute_loss(student, dict(batch))
    assert before.item() > 0  # layer 1 of the student reads layer 0's output, not layer 2's input: a mismatch
    before.backward()
    optimizer.step()
    assert trainer.compute_loss(student, dict(batch)).item() < before.item()
