"""The AutoUI policy: fusion, batched generation, teacher-forced token statistics, files and LoRA."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from transformers import T5ForConditionalGeneration

from coso.actions import Action, ActionType, build_prompt, format_action
from coso.errors import CheckpointError, ConfigError
from coso.models.autoui import AutoUIConfig, AutoUIPolicy, load_autoui_base, map_autoui_state_dict
from coso.models.tokenizer import TokenizerConfig
from coso.training.tokenizer import build_default_tokenizer

torch.set_num_threads(1)

TASKS = [
    'Go to newegg.com, search for "macbook air"',
    "What's the weather like in Chicago?",
    "Open the calculator app and then go back to the home screen",
]
TINY = AutoUIConfig(d_model=32, num_layers=2, num_decoder_layers=2, num_heads=2, d_kv=16, d_ff=64,
                    image_feature_dim=8, init_seed=1)
FEATURE_WIDTH = TINY.num_screens * TINY.image_feature_dim


@pytest.fixture(scope="module")
def tokenizer():
    return build_default_tokenizer(TokenizerConfig(vocab_size=700, corpus_actions=600, corpus_tasks=5),
                                   extra_texts=TASKS)


@pytest.fixture(scope="module")
def policy(tokenizer) -> AutoUIPolicy:
    return AutoUIPolicy(TINY, tokenizer).eval()


def batch(size: int = 3) -> tuple[list[str], torch.Tensor, list[str]]:
    """Prompts of different lengths, features and actions of different lengths (so padding happens)."""
    actions = [format_action(Action.tap(0.25, 0.75)), format_action(Action(ActionType.GoHome)),
               format_action(Action.type_text("macbook air pro 13 inch"))]
    prompts = [build_prompt(TASKS[0]), build_prompt(TASKS[1], actions[0]), build_prompt(TASKS[2], actions[2])]
    features = torch.randn(3, FEATURE_WIDTH, generator=torch.Generator().manual_seed(0))
    return prompts[:size], features[:size], actions[:size]


def manual_token_stats(policy: AutoUIPolicy, prompt: str, features: torch.Tensor, action: str):
    """log pi and entropy of one example, with the fusion written out by hand (no batching, no padding)."""
    tok = policy.tokenizer
    prompt_ids = torch.tensor([tok(prompt.removesuffix("</s>"))["input_ids"]])
    labels = torch.tensor([tok(action)["input_ids"]])
    text = policy.t5.get_encoder()(input_ids=prompt_ids).last_hidden_state[0]  # [S, d]
    fusion = policy.fusion
    screens = features.view(TINY.num_screens, TINY.image_feature_dim)
    image = screens @ fusion.image_proj.weight.T + fusion.image_proj.bias  # [2, d]
    w_q, w_k, w_v = fusion.attention.in_proj_weight.chunk(3)
    b_q, b_k, b_v = fusion.attention.in_proj_bias.chunk(3)
    query, key, value = text @ w_q.T + b_q, image @ w_k.T + b_k, image @ w_v.T + b_v
    weights = torch.softmax(query @ key.T / math.sqrt(TINY.d_model), dim=-1)
    attended = (weights @ value) @ fusion.attention.out_proj.weight.T + fusion.attention.out_proj.bias
    gate = torch.sigmoid(torch.cat([text, attended], -1) @ fusion.gate.weight.T + fusion.gate.bias)
    fused = ((1 - gate) * text + gate * attended)[None]
    decoder_input = torch.cat([torch.zeros_like(labels[:, :1]), labels[:, :-1]], dim=1)
    logits = policy.t5(encoder_outputs=(fused,), decoder_input_ids=decoder_input).logits[0]
    log_softmax = torch.log_softmax(logits, -1)
    return log_softmax.gather(-1, labels[0][:, None])[:, 0], -(log_softmax.exp() * log_softmax).sum(-1)


def test_token_stats_are_valid_and_padding_is_masked(policy):
    prompts, features, actions = batch()
    stats = policy.token_stats(prompts, features, actions)
    lengths = [len(policy.tokenizer(a)["input_ids"]) for a in actions]
    assert stats.log_probs.shape == stats.entropies.shape == stats.mask.shape == stats.token_ids.shape
    assert stats.mask.sum(1).tolist() == lengths  # EOS counted, padding not
    assert len(set(lengths)) == 3
    assert torch.all(stats.log_probs <= 0)
    assert torch.all(stats.entropies >= -1e-6) and torch.all(stats.entropies <= math.log(len(policy.tokenizer)) + 1e-5)
    padding = stats.mask == 0
    assert torch.all(stats.log_probs[padding] == 0) and torch.all(stats.entropies[padding] == 0)
    assert torch.all(stats.token_ids[padding] == policy.tokenizer.pad_token_id)
    assert torch.allclose(stats.sequence_log_probs(), stats.log_probs.sum(1))


def test_token_stats_equal_a_manual_unbatched_computation(policy):
    prompts, features, actions = batch()
    stats = policy.token_stats(prompts, features, actions)
    with torch.no_grad():
        for row in range(3):
            log_probs, entropies = manual_token_stats(policy, prompts[row], features[row], actions[row])
            length = len(log_probs)
            assert torch.allclose(stats.log_probs[row, :length], log_probs, atol=1e-5)
            assert torch.allclose(stats.entropies[row, :length], entropies, atol=1e-5)


def test_gradients_reach_the_fusion_weights(tokenizer):
    policy = AutoUIPolicy(TINY, tokenizer)
    prompts, features, actions = batch()
    stats = policy.token_stats(prompts, features, actions)
    (-(stats.log_probs.sum()) - stats.entropies.sum()).backward()
    for parameter in (policy.fusion.image_proj.weight, policy.fusion.attention.in_proj_weight,
                      policy.fusion.attention.out_proj.weight, policy.fusion.gate.weight, policy.t5.shared.weight):
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0


@pytest.mark.parametrize("size", [1, 3])
def test_fusion_shapes_and_gate_mix(policy, size):
    prompts, features, _ = batch(size)
    with torch.no_grad():
        fusion, mask = policy.fuse(prompts, features)
        text = policy.t5.get_encoder()(**policy.tokenize_prompts(prompts)).last_hidden_state
    length = mask.shape[1]
    assert fusion.fused.shape == fusion.gate.shape == fusion.attended.shape == (size, length, TINY.d_model)
    assert fusion.image_tokens.shape == (size, TINY.num_screens, TINY.d_model)
    assert fusion.attention_weights.shape == (size, length, TINY.num_screens)
    assert torch.allclose(fusion.attention_weights.sum(-1), torch.ones(size, length))
    assert torch.all((fusion.gate > 0) & (fusion.gate < 1))
    assert torch.allclose(fusion.fused, (1 - fusion.gate) * text + fusion.gate * fusion.attended, atol=1e-6)


def test_generate_is_seeded_batched_and_bounded(policy):
    prompts, features, _ = batch()
    sample = lambda seed: policy.generate(prompts, features, max_new_tokens=12,  # noqa: E731
                                          generator=torch.Generator().manual_seed(seed))
    first = sample(0)
    assert first == sample(0) and first != sample(1)
    assert all(isinstance(text, str) for text in first) and len(first) == 3
    tokens = policy.generate_tokens(prompts, features, max_new_tokens=12, generator=torch.Generator().manual_seed(0))
    assert tokens.shape[0] == 3 and tokens.shape[1] <= 12
    greedy = policy.generate(prompts, features, do_sample=False, max_new_tokens=12)
    one_by_one = [policy.generate(prompts[i:i + 1], features[i:i + 1], do_sample=False, max_new_tokens=12)[0]
                  for i in range(3)]
    assert greedy == one_by_one
    assert not policy.training  # generation restored the mode it found


def test_generate_stops_at_eos_and_learns_a_fixed_answer(tokenizer):
    """A few teacher-forced steps on one short text make greedy decoding write exactly that text, then stop."""
    torch.manual_seed(0)
    policy = AutoUIPolicy(TINY, tokenizer)
    prompts, features, _ = batch(2)
    target = '"action_type": "PRESS_BACK"'
    optimiser = torch.optim.Adam(policy.parameters(), lr=3e-3)
    for _ in range(40):
        loss = -policy.token_stats(prompts, features, [target, target]).sequence_log_probs().mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    assert policy.generate(prompts, features, do_sample=False, max_new_tokens=80) == [target, target]
    tokens = policy.generate_tokens(prompts, features, do_sample=False, max_new_tokens=80)
    assert tokens.shape[1] == len(tokenizer(target)["input_ids"])  # stopped right after EOS


def test_save_and_load_round_trip(policy, tmp_path: Path):
    prompts, features, actions = batch()
    policy.save_pretrained(tmp_path)
    loaded = AutoUIPolicy.from_pretrained(tmp_path).eval()
    assert loaded.config == policy.config
    with torch.no_grad():
        before, after = policy.token_stats(prompts, features, actions), loaded.token_stats(prompts, features, actions)
    assert torch.equal(before.log_probs, after.log_probs) and torch.equal(before.entropies, after.entropies)
    assert policy.generate(prompts, features, do_sample=False, max_new_tokens=10) == \
        loaded.generate(prompts, features, do_sample=False, max_new_tokens=10)
    assert not list(tmp_path.glob("*.tmp"))


def test_wrong_inputs_and_paths_give_clear_errors(policy, tmp_path: Path):
    prompts, features, actions = batch()
    with pytest.raises(ConfigError, match="image_feature_dim"):
        policy.token_stats(prompts, features[:, :5], actions)
    with pytest.raises(ConfigError, match="temperature"):
        policy.generate(prompts, features, temperature=0.0)
    with pytest.raises(CheckpointError, match="does not exist"):
        AutoUIPolicy.from_pretrained(tmp_path / "missing")
    with pytest.raises(CheckpointError, match="autoui_config.json"):
        AutoUIPolicy.from_pretrained(tmp_path)
    with pytest.raises(ConfigError, match="vocab_size"):
        AutoUIPolicy(dataclasses.replace(TINY, vocab_size=10), policy.tokenizer)


def fake_autoui_checkpoint(directory: Path, tokenizer, *, with_fusion: bool = True, prefix: str = "module.",
                           file_format: str = "bin", extra: dict | None = None) -> dict[str, torch.Tensor]:
    """A tiny checkpoint laid out like Auto-UI-Base: T5 keys + image_dense / mha_layer / gate_dense."""
    torch.manual_seed(5)
    t5 = T5ForConditionalGeneration(TINY.t5_config(tokenizer, vocab_size=len(tokenizer) + 8))
    t5.config.save_pretrained(str(directory))
    tokenizer.save_pretrained(str(directory))
    state = {key: value.clone() for key, value in t5.state_dict().items()}
    d, width = TINY.d_model, TINY.image_feature_dim
    if with_fusion:
        state.update({
            "image_dense.weight": torch.randn(d, width), "image_dense.bias": torch.randn(d),
            "mha_layer.in_proj_weight": torch.randn(3 * d, d), "mha_layer.in_proj_bias": torch.randn(3 * d),
            "mha_layer.out_proj.weight": torch.randn(d, d), "mha_layer.out_proj.bias": torch.randn(d),
            "gate_dense.weight": torch.randn(d, 2 * d), "gate_dense.bias": torch.randn(d),
        })
    state.update(extra or {})
    stored = {prefix + key: value for key, value in state.items()}
    if file_format == "bin":
        torch.save(stored, directory / "pytorch_model.bin")
    else:
        untied = {key: value.contiguous() for key, value in stored.items() if "embed_tokens" not in key}
        save_file(untied, str(directory / "model.safetensors"))
    return state


@pytest.mark.parametrize("file_format", ["bin", "safetensors"])
def test_load_autoui_base_maps_fusion_and_t5_weights(tokenizer, tmp_path: Path, file_format):
    state = fake_autoui_checkpoint(tmp_path, tokenizer, file_format=file_format)
    policy = load_autoui_base(tmp_path)
    assert policy.config.image_feature_dim == TINY.image_feature_dim and policy.config.d_model == TINY.d_model
    assert torch.equal(policy.fusion.image_proj.weight, state["image_dense.weight"])
    assert torch.equal(policy.fusion.attention.in_proj_weight, state["mha_layer.in_proj_weight"])
    assert torch.equal(policy.fusion.attention.out_proj.bias, state["mha_layer.out_proj.bias"])
    assert torch.equal(policy.fusion.gate.weight, state["gate_dense.weight"])
    assert torch.equal(policy.t5.shared.weight, state["shared.weight"])
    key = "decoder.block.1.layer.2.DenseReluDense.wo.weight"
    assert torch.equal(policy.t5.state_dict()[key], state[key])
    prompts, features, _ = batch(2)
    assert len(policy.generate(prompts, features, max_new_tokens=4, generator=torch.Generator().manual_seed(0))) == 2


def test_load_autoui_base_reports_bad_checkpoints(tokenizer, tmp_path: Path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_autoui_base(tmp_path / "no-such-dir")
    plain = tmp_path / "plain"
    plain.mkdir()
    fake_autoui_checkpoint(plain, tokenizer, with_fusion=False)
    with pytest.raises(CheckpointError, match="image_dense"):
        load_autoui_base(plain)
    odd = tmp_path / "odd"
    odd.mkdir()
    fake_autoui_checkpoint(odd, tokenizer, extra={"classifier_head.weight": torch.zeros(2)})
    with pytest.raises(CheckpointError, match="classifier_head.weight"):
        load_autoui_base(odd)
    assert load_autoui_base(odd, strict=False).config.image_feature_dim == TINY.image_feature_dim


def test_map_autoui_state_dict_handles_prefixes_and_encoder_nested_fusion():
    tensor = torch.zeros(1)
    mapped = map_autoui_state_dict({
        "module.encoder.image_dense.weight": tensor, "model.mha_layer.out_proj.bias": tensor,
        "gate_dense.bias": tensor, "shared.weight": tensor, "module.lm_head.weight": tensor, "step_count": tensor,
    })
    assert set(mapped.weights) == {"fusion.image_proj.weight", "fusion.attention.out_proj.bias", "fusion.gate.bias",
                                   "t5.shared.weight", "t5.lm_head.weight"}
    assert mapped.ignored == ["step_count"]


def test_lora_trains_only_adapter_weights(tokenizer, tmp_path: Path):
    policy = AutoUIPolicy(dataclasses.replace(TINY, lora_rank=4), tokenizer)
    trainable = [name for name, p in policy.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in name for name in trainable)
    before = {name: p.detach().clone() for name, p in policy.named_parameters()}
    optimiser = torch.optim.Adam([p for p in policy.parameters() if p.requires_grad], lr=1e-2)
    prompts, features, actions = batch()
    for _ in range(2):
        loss = -policy.token_stats(prompts, features, actions).sequence_log_probs().mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    changed = {name for name, p in policy.named_parameters() if not torch.equal(p, before[name])}
    assert changed and all("lora_" in name for name in changed)
    policy.save_pretrained(tmp_path)
    loaded = AutoUIPolicy.from_pretrained(tmp_path)
    with torch.no_grad():
        assert torch.equal(loaded.token_stats(prompts, features, actions).log_probs,
                           policy.token_stats(prompts, features, actions).log_probs)
