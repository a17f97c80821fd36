"""DigiRL's critics: shapes, the double critic's value, learning a toy separable set, files, text encoders."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from transformers import RobertaConfig, RobertaModel

from coso.actions import build_prompt
from coso.errors import CheckpointError, ConfigError
from coso.models.critics import CriticConfig, StepCritic, TrajectoryCritic
from coso.models.text_encoder import SmallEncoderConfig, TextEncoderSpec, build_text_encoder
from coso.models.tokenizer import TokenizerConfig
from coso.training.tokenizer import build_default_tokenizer

torch.set_num_threads(1)

SUCCESS_TASKS = ["Open the calculator app", "Turn on wifi", "Open the camera"]
FAILURE_TASKS = ['Go to newegg.com, search for "macbook air"', "What's the weather like in Chicago?",
                 "Install the Pandora app"]
TINY = CriticConfig(
    text_encoder=TextEncoderSpec(builtin=SmallEncoderConfig(hidden=32, heads=2, layers=1, ffn=64, dropout=0.0)),
    image_feature_dim=6, head_hidden=32,
)


@pytest.fixture(scope="module")
def tokenizer():
    return build_default_tokenizer(TokenizerConfig(vocab_size=600, corpus_actions=300, corpus_tasks=5),
                                   extra_texts=SUCCESS_TASKS + FAILURE_TASKS)


def toy_set() -> tuple[list[str], torch.Tensor, torch.Tensor]:
    """Prompts of two task groups, image features whose mean follows the group, and 1[success] targets."""
    generator = torch.Generator().manual_seed(0)
    prompts = [build_prompt(t) for t in SUCCESS_TASKS + FAILURE_TASKS] * 2
    targets = torch.tensor(([1] * 3 + [0] * 3) * 2)
    features = torch.randn(12, 12, generator=generator) + (targets[:, None] * 2.0 - 1.0)
    return prompts, features, targets


def test_step_critic_shapes_and_pessimistic_value(tokenizer):
    critic = StepCritic.from_config(TINY, tokenizer).eval()
    prompts, features, _ = toy_set()
    first, second = critic(prompts[:5], features[:5])
    assert first.shape == second.shape == (5, 2)
    assert not torch.allclose(first, second)  # two independently initialised heads
    value = critic.value(prompts[:5], features[:5])
    expected = torch.minimum(first.softmax(-1)[:, 1], second.softmax(-1)[:, 1])
    assert value.shape == (5,) and torch.allclose(value, expected)
    single = critic(prompts[:1], features[:1])
    assert single[0].shape == (1, 2)


def test_trajectory_critic_shapes(tokenizer):
    critic = TrajectoryCritic.from_config(TINY, tokenizer)
    prompts, features, _ = toy_set()
    logits = critic(prompts[:4], features[:4])
    assert logits.shape == (4, 2)
    assert torch.all((critic.value(prompts[:4], features[:4]) >= 0) & (critic.value(prompts[:4], features[:4]) <= 1))


@pytest.mark.parametrize("critic_class", [StepCritic, TrajectoryCritic])
def test_a_few_steps_fit_a_separable_toy_set(tokenizer, critic_class):
    torch.manual_seed(0)
    critic = critic_class.from_config(TINY, tokenizer)
    prompts, features, targets = toy_set()
    optimiser = torch.optim.Adam(critic.parameters(), lr=3e-3)

    def loss_value() -> torch.Tensor:
        outputs = critic(prompts, features)
        heads = outputs if isinstance(outputs, tuple) else (outputs,)
        return sum(F.cross_entropy(logits, targets) for logits in heads) / len(heads)

    initial = loss_value().item()
    for _ in range(25):
        loss = loss_value()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    final = loss_value().item()
    assert final < 0.5 * initial and final < 0.3
    predicted = critic(prompts, features)
    predicted = predicted[0] if isinstance(predicted, tuple) else predicted
    assert torch.equal(predicted.argmax(-1), targets)


def test_save_and_load_round_trip(tokenizer, tmp_path: Path):
    prompts, features, _ = toy_set()
    for critic_class in (StepCritic, TrajectoryCritic):
        critic = critic_class.from_config(dataclasses.replace(TINY, init_seed=3), tokenizer).eval()
        directory = tmp_path / critic_class.__name__
        critic.save_pretrained(directory)
        loaded = critic_class.from_pretrained(directory).eval()
        assert loaded.config == critic.config
        with torch.no_grad():
            assert torch.equal(loaded.value(prompts, features), critic.value(prompts, features))


def tiny_roberta_dir(directory: Path, tokenizer) -> Path:
    """A local roberta-style checkpoint (random weights) that AutoModel can read, as roberta-base would be."""
    config = RobertaConfig(vocab_size=len(tokenizer), hidden_size=24, num_hidden_layers=1, num_attention_heads=2,
                           intermediate_size=48, max_position_embeddings=600, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    RobertaModel(config).save_pretrained(str(directory))
    tokenizer.save_pretrained(str(directory))
    return directory


def test_pretrained_text_encoder_from_a_local_directory(tokenizer, tmp_path: Path):
    source = tiny_roberta_dir(tmp_path / "roberta", tokenizer)
    config = dataclasses.replace(TINY, text_encoder=TextEncoderSpec(kind="roberta", path=str(source), pooling="cls"))
    critic = StepCritic.from_config(config).eval()
    assert critic.text_encoder.output_dim == 24
    prompts, features, _ = toy_set()
    first, second = critic(prompts, features)
    assert first.shape == second.shape == (12, 2)
    critic.save_pretrained(tmp_path / "saved")
    shutil.rmtree(source)  # loading needs only the saved directory
    loaded = StepCritic.from_pretrained(tmp_path / "saved").eval()
    with torch.no_grad():
        assert torch.equal(loaded.value(prompts, features), critic.value(prompts, features))


def test_mean_pooling_ignores_padding(tokenizer):
    encoder = build_text_encoder(TINY.text_encoder, tokenizer).eval()
    short, long = build_prompt("Turn on wifi"), build_prompt(FAILURE_TASKS[0])
    with torch.no_grad():
        alone = encoder.encode([short])
        padded = encoder.encode([short, long])[0:1]
    assert torch.allclose(alone, padded, atol=1e-5)


def test_frozen_text_encoder_and_bad_inputs(tokenizer, tmp_path: Path):
    critic = StepCritic.from_config(dataclasses.replace(TINY, freeze_text_encoder=True), tokenizer)
    assert not any(p.requires_grad for p in critic.text_encoder.parameters())
    assert all(p.requires_grad for p in critic.heads.parameters())
    prompts, features, _ = toy_set()
    with pytest.raises(ConfigError, match="image_feature_dim"):
        critic(prompts, features[:, :7])
    with pytest.raises(ConfigError, match="unknown"):
        StepCritic.from_config(dataclasses.replace(TINY, text_encoder=TextEncoderSpec(kind="bert-huge")), tokenizer)
    with pytest.raises(ConfigError, match="pooling"):
        StepCritic.from_config(dataclasses.replace(TINY, text_encoder=TextEncoderSpec(pooling="max")), tokenizer)
    with pytest.raises(CheckpointError, match="does not exist"):
        StepCritic.from_config(dataclasses.replace(
            TINY, text_encoder=TextEncoderSpec(kind="pretrained", path=str(tmp_path / "none"))))
    with pytest.raises(CheckpointError, match="does not exist"):
        TrajectoryCritic.from_pretrained(tmp_path / "missing")


def test_builtin_encoder_truncates_to_its_position_table(tokenizer):
    spec = dataclasses.replace(TINY.text_encoder, builtin=dataclasses.replace(TINY.text_encoder.builtin, max_positions=16))
    encoder = build_text_encoder(spec, tokenizer)
    long_prompt = build_prompt(" and then ".join(SUCCESS_TASKS + FAILURE_TASKS))
    assert len(tokenizer(long_prompt)["input_ids"]) > 16
    assert encoder.encode([long_prompt, "short"]).shape == (2, 32)


def test_small_encoder_inference_path_equals_torch_layers() -> None:
    """Eval mode runs the layers through plain ops; it must match torch's own layers, padding included."""
    from coso.models.text_encoder import SmallEncoderConfig, SmallTransformerEncoder

    torch.manual_seed(0)
    encoder = SmallTransformerEncoder(SmallEncoderConfig(hidden=32, heads=2, layers=2, ffn=64), 50, 0).eval()
    ids = torch.randint(1, 50, (4, 9))
    mask = torch.ones(4, 9, dtype=torch.long)
    mask[1, 5:] = 0
    mask[3, :] = 0  # a row with nothing to attend to stays finite
    with torch.no_grad():
        fast = encoder(ids, mask)
        states = encoder.embedding_norm(encoder.token_embedding(ids) + encoder.position_embedding(torch.arange(9)))
        reference = encoder.layers(states, src_key_padding_mask=~mask.bool())
    attended = mask.bool()
    assert torch.allclose(fast[attended], reference[attended], atol=1e-5)
    assert torch.isfinite(fast).all()
    encoder.train()  # training keeps torch's layers (with dropout)
    assert encoder(ids, mask).requires_grad
