"""Layer-subset students: the exact teacher layers, embeddings and head land in the student."""

import pytest
import torch
from transformers import AutoModelForSequenceClassification

from tests.tiny import tiny_config
from textslim.errors import TextslimError
from textslim.students.layers import build_layer_student, find_layer_list, select_layers


@pytest.mark.parametrize("strategy, expected", [
    ("first", [0, 1, 2]), ("last", [3, 4, 5]), ("odd", [1, 3, 5]), ("even", [0, 2, 4]), ("spread", [0, 2, 5])])
def test_select_layers_for_six_to_three(strategy, expected):
    assert select_layers(strategy, 6, 3) == expected


def test_spread_keeps_first_and_last_for_twelve_to_four():
    assert select_layers("spread", 12, 4) == [0, 4, 7, 11]


@pytest.mark.parametrize("k", [0, 6, 7])
def test_num_layers_must_be_below_teacher_depth(k):
    with pytest.raises(TextslimError, match="first.num_layers"):
        select_layers("first", 6, k)


def test_odd_cannot_take_more_layers_than_exist():
    with pytest.raises(TextslimError, match="odd.num_layers = 4: the odd strategy has only 3"):
        select_layers("odd", 6, 4)


def test_unknown_strategy_is_named():
    with pytest.raises(TextslimError, match="distill.students: unknown layer strategy 'middle'"):
        select_layers("middle", 6, 3)


@pytest.mark.parametrize("arch", ["bert", "mpnet"])
@pytest.mark.parametrize("strategy", ["first", "last", "odd", "even", "spread"])
def test_student_weights_equal_the_chosen_teacher_layers(arch, strategy):
    torch.manual_seed(0)
    teacher = AutoModelForSequenceClassification.from_config(tiny_config(arch, layers=6))
    student, layers = build_layer_student(teacher, strategy, 3)
    assert student.config.num_hidden_layers == 3
    path, teacher_layers = find_layer_list(teacher)
    _, student_layers = find_layer_list(student)
    for j, i in enumerate(layers):
        for (name, s_w), (_, t_w) in zip(student_layers[j].state_dict().items(),
                                         teacher_layers[i].state_dict().items()):
            assert torch.equal(s_w, t_w), f"{arch} {strategy}: student layer {j}.{name} != teacher layer {i}"
    # Everything outside the layer list (embeddings, pooler, head, MPNet's relative bias) is copied unchanged.
    teacher_state = teacher.state_dict()
    for name, weight in student.state_dict().items():
        if not name.startswith(path + "."):
            assert torch.equal(weight, teacher_state[name]), name
    # The student is a working model whose outputs differ from the teacher only through the dropped layers.
    ids = torch.tensor([[2, 10, 11, 12, 3]])
    assert student(input_ids=ids).logits.shape == (1, 2)
