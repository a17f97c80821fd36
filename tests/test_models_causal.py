"""CoSo's causal model: labels from the parser, token alignment with the policy, learning, files."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from coso.actions import Action, ActionType, format_action
from coso.errors import CheckpointError
from coso.models.autoui import AutoUIConfig, AutoUIPolicy
from coso.models.causal import ActionTypeClassifier, ActionTypeClassifierConfig, action_type_labels
from coso.models.text_encoder import SmallEncoderConfig
from coso.models.tokenizer import TokenizerConfig, random_action
from coso.training.tokenizer import build_default_tokenizer

torch.set_num_threads(1)

TYPED = ["macbook air", "weather in chicago", "pandora"]
SMALL = ActionTypeClassifierConfig(
    encoder=SmallEncoderConfig(hidden=64, heads=4, layers=2, ffn=128, max_positions=128, dropout=0.0), init_seed=0)


@pytest.fixture(scope="module")
def tokenizer():
    config = TokenizerConfig(vocab_size=700, corpus_actions=600, corpus_tasks=5)
    return build_default_tokenizer(config, extra_texts=TYPED)


def random_texts(rng: random.Random, count: int) -> list[str]:
    """Formatted actions of every type whose Action Plan is random, so only the decision tells the type."""
    texts = []
    for _ in range(count):
        action = random_action(rng, TYPED)
        plan = [rng.choice(list(ActionType)) for _ in range(rng.randint(1, 4))]
        texts.append(format_action(action, plan))
    return texts


def test_action_type_labels_follow_the_parser():
    texts = [format_action(Action.tap(0.1, 0.2)), format_action(Action.type_text("hi")),
             format_action(Action(ActionType.GoHome)), "Action Plan: [TYPE] ; nothing decided", ""]
    result = action_type_labels(texts)
    assert result.labels.dtype == torch.long and result.valid.dtype == torch.bool
    assert result.labels.tolist() == [ActionType.DualPoint, ActionType.Type, ActionType.GoHome,
                                      ActionType.TaskImpossible, ActionType.TaskImpossible]
    assert result.valid.tolist() == [True, True, True, False, False]


def test_default_size_matches_the_reference(tokenizer):
    model = ActionTypeClassifier.from_config(tokenizer=tokenizer)
    encoder = model.config.encoder
    assert (encoder.hidden, encoder.heads, encoder.layers, encoder.ffn) == (128, 4, 3, 512)
    batch = model.tokenize(random_texts(random.Random(0), 3))
    logits = model(batch.input_ids, batch.attention_mask)
    assert logits.shape == (3, len(ActionType))
    assert torch.allclose(model.probabilities(batch.input_ids, batch.attention_mask).sum(-1), torch.ones(3))


def test_tokens_line_up_with_the_policy_action_tokens(tokenizer):
    policy = AutoUIPolicy(AutoUIConfig(d_model=16, num_layers=1, num_decoder_layers=1, num_heads=2, d_kv=8, d_ff=32,
                                       image_feature_dim=4), tokenizer)
    model = ActionTypeClassifier(SMALL, tokenizer)
    texts = random_texts(random.Random(1), 5)
    assert torch.equal(model.tokenize(texts).input_ids, policy.tokenize_actions(texts)["input_ids"])
    assert torch.equal(model.tokenize(texts).attention_mask, policy.tokenize_actions(texts)["attention_mask"])
    assert model.null_token_id == policy.null_token_id


def test_learns_to_separate_action_types(tokenizer):
    torch.manual_seed(0)
    rng = random.Random(0)
    model = ActionTypeClassifier(SMALL, tokenizer)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(150):
        texts = random_texts(rng, 16)
        batch = model.tokenize(texts)
        loss = F.cross_entropy(model(batch.input_ids, batch.attention_mask), action_type_labels(texts).labels)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    held_out = random_texts(random.Random(99), 200)
    batch = model.tokenize(held_out)
    with torch.no_grad():
        predicted = model(batch.input_ids, batch.attention_mask).argmax(-1)
    accuracy = (predicted == action_type_labels(held_out).labels).float().mean().item()
    assert accuracy >= 0.95, accuracy


def test_null_tokens_change_the_prediction_input(tokenizer):
    model = ActionTypeClassifier(SMALL, tokenizer).eval()
    batch = model.tokenize([format_action(Action(ActionType.GoBack))])
    nulled = batch.input_ids.clone()
    nulled[0, 10:14] = model.null_token_id
    with torch.no_grad():
        original = model.probabilities(batch.input_ids, batch.attention_mask)
        counterfactual = model.probabilities(nulled, batch.attention_mask)
    assert not torch.allclose(original, counterfactual)


def test_save_and_load_round_trip(tokenizer, tmp_path: Path):
    model = ActionTypeClassifier(SMALL, tokenizer).eval()
    model.save_pretrained(tmp_path)
    loaded = ActionTypeClassifier.from_pretrained(tmp_path).eval()
    assert loaded.config == model.config
    batch = model.tokenize(random_texts(random.Random(2), 4))
    with torch.no_grad():
        assert torch.equal(loaded(batch.input_ids, batch.attention_mask), model(batch.input_ids, batch.attention_mask))
    with pytest.raises(CheckpointError, match="does not exist"):
        ActionTypeClassifier.from_pretrained(tmp_path / "missing")
