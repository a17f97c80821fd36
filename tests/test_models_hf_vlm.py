"""The Hugging Face VLM policy on tiny random-weight checkpoints of each family, built in-process (no download):
scoring, generation, LoRA, save/load, and short off2on runs and eval_only on the simulated phone."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import tiny_vlm
from coso.actions import parse_action
from coso.env.features import ScreenPixelEncoder, stack_features
from coso.errors import CheckpointError, ConfigError
from coso.models.hf_vlm import HFVLMConfig, HFVLMPolicy, screens_from_features
from coso.models.policy import load_policy

WIDTH, HEIGHT = 12, 20
FEATURES = WIDTH * HEIGHT * 3
PROMPTS = ["Previous Actions: Goal: open the clock app", "Goal: search for usb"]
ACTIONS = ['Action Plan: [PRESS_HOME] ; Action Decision: "action_type": "PRESS_HOME"', "x"]


def _needs_torchvision(family: str) -> None:
    """Qwen-VL processors save and load a video processor, which transformers builds only with torchvision."""
    if family in tiny_vlm.QWEN_CLASSES and not tiny_vlm.has_torchvision():
        pytest.skip("transformers saves and loads Qwen-VL processors only with torchvision, which coso does not install "
                    "(docs/hf_vlm.md); "
                    "test_qwen_families_in_memory covers their models")


@pytest.fixture(scope="module")
def bases(tmp_path_factory) -> dict[str, Path]:
    """One tiny checkpoint directory per family that this environment can load."""
    root = tmp_path_factory.mktemp("vlm_bases")
    built = {}
    for family, build in tiny_vlm.FAMILIES.items():
        try:
            _needs_torchvision(family)
        except pytest.skip.Exception:
            continue
        built[family] = build(root / family)
    return built


def _features(seed: int, rows: int = 2) -> torch.Tensor:
    """Stacked screen_pixels features of random screens."""
    encoder = ScreenPixelEncoder(FEATURES, WIDTH, HEIGHT)
    rng = np.random.default_rng(seed)
    screens = [Image.fromarray(rng.integers(0, 256, (40, 24, 3), dtype=np.uint8)) for _ in range(rows)]
    current = encoder.encode(screens)
    return torch.from_numpy(stack_features(current, current))


def _policy(base: Path, **overrides) -> HFVLMPolicy:
    values = dict(base_path=str(base), screen_width=WIDTH, screen_height=HEIGHT, lora_rank=4)
    values.update(overrides)
    return HFVLMPolicy.from_base(HFVLMConfig(**values))


def test_screen_pixels_round_trip() -> None:
    """The policy reads back exactly the screen the encoder stored (at the encoder's size)."""
    encoder = ScreenPixelEncoder(FEATURES, WIDTH, HEIGHT)
    screen = Image.fromarray(np.random.default_rng(0).integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8))
    features = torch.from_numpy(stack_features(None, encoder.encode([screen])))
    (restored,) = screens_from_features(features, WIDTH, HEIGHT)
    assert np.array_equal(np.asarray(restored), np.asarray(screen))
    with pytest.raises(ConfigError, match="image_feature_dim=720"):
        ScreenPixelEncoder(256, WIDTH, HEIGHT)
    with pytest.raises(ConfigError, match="screen_pixels"):
        screens_from_features(torch.zeros(1, 512), WIDTH, HEIGHT)


def test_config_checks() -> None:
    with pytest.raises(ConfigError, match="lora_rank"):
        HFVLMConfig(lora_rank=-1)
    with pytest.raises(ConfigError, match="dtype"):
        HFVLMConfig(dtype="float64")
    assert HFVLMConfig().torch_dtype() == (torch.bfloat16 if torch.cuda.is_available() else torch.float32)
    assert (HFVLMConfig().lora_rank, HFVLMConfig().lora_alpha, HFVLMConfig().lora_dropout) == (8, 16.0, 0.05)


@pytest.mark.parametrize("family", sorted(tiny_vlm.FAMILIES))
def test_scores_generates_trains_and_reloads(family: str, bases, tmp_path: Path) -> None:
    _needs_torchvision(family)
    policy = _policy(bases[family])
    features = _features(0)
    trainable = [name for name, p in policy.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in name for name in trainable)

    stats = policy.token_stats(PROMPTS, features, ACTIONS)
    lengths = [len(ids) for ids in policy.action_ids(ACTIONS)]
    assert stats.mask.sum(dim=1).tolist() == lengths  # the action's tokens and EOS
    assert stats.token_ids[0, lengths[0] - 1] == policy.tokenizer.eos_token_id
    assert stats.hidden_states is None
    hidden = policy.token_stats(PROMPTS, features, ACTIONS, with_hidden=True).hidden_states
    assert hidden is not None and hidden.shape == (2, max(lengths), policy.hidden_size)
    assert bool((stats.log_probs <= 0).all()) and bool((stats.entropies >= 0).all())
    # a row scored alone equals the same row in a batch (right padding keeps every position's index)
    alone = policy.token_stats(PROMPTS[1:], features[1:], ACTIONS[1:])
    torch.testing.assert_close(alone.log_probs[0, : lengths[1]], stats.log_probs[1, : lengths[1]],
                               rtol=1e-4, atol=1e-4)
    # the per-token log-probs are those of the next-token distribution: exp sums to 1 over the vocabulary
    torch.testing.assert_close(stats.vocab_log_probs.exp().sum(-1)[stats.mask.bool()],
                               torch.ones(int(stats.mask.sum())), rtol=1e-4, atol=1e-4)

    # one optimiser step on the adapters moves the log-likelihood of the actions up
    optimizer = torch.optim.Adam([p for p in policy.parameters() if p.requires_grad], lr=1e-2)
    before = float(stats.sequence_log_probs().detach().sum())
    for _ in range(3):
        loss = -policy(PROMPTS, features, ACTIONS).sequence_log_probs().sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    policy.eval()  # LoRA dropout off: the comparisons below are exact
    trained = policy.token_stats(PROMPTS, features, ACTIONS)
    assert float(trained.sequence_log_probs().detach().sum()) > before

    # sampling repeats under the same generator; any text comes back and the parser takes it
    texts = policy.generate(PROMPTS, features, max_new_tokens=6, generator=torch.Generator().manual_seed(3))
    again = policy.generate(PROMPTS, features, max_new_tokens=6, generator=torch.Generator().manual_seed(3))
    assert texts == again and len(texts) == 2
    assert all(parse_action(text) is not None for text in texts)

    # LoRA checkpoints hold the adapters only, and load back to the same scores
    policy.save_pretrained(tmp_path / "policy")
    assert (tmp_path / "policy" / "adapter" / "adapter_model.safetensors").is_file()
    assert not (tmp_path / "policy" / "model.safetensors").exists()
    loaded = load_policy(tmp_path / "policy").eval()
    assert isinstance(loaded, HFVLMPolicy)
    torch.testing.assert_close(loaded.token_stats(PROMPTS, features, ACTIONS).log_probs, trained.log_probs.detach())


@pytest.mark.parametrize("family", sorted(tiny_vlm.QWEN_CLASSES))
def test_qwen_families_in_memory(family: str) -> None:
    """Qwen2-VL, Qwen2.5-VL and Qwen3-VL (multimodal rotary positions) score and write through the policy, with
    or without torchvision (their processor is built in memory here, never saved)."""
    from coso.models.hf_vlm import _attach_lora

    processor, model_class, model_config = tiny_vlm.qwen_parts(family)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = model_class(model_config)
    config = HFVLMConfig(screen_width=WIDTH, screen_height=HEIGHT, lora_rank=4)
    policy = HFVLMPolicy(config, _attach_lora(model, config), processor).eval()
    features = _features(5)
    assert "<|vision_start|><|image_pad|><|vision_end|>" in policy.prompt_texts(PROMPTS[:1])[0]
    stats = policy.token_stats(PROMPTS, features, ACTIONS)
    lengths = [len(ids) for ids in policy.action_ids(ACTIONS)]
    assert stats.mask.sum(dim=1).tolist() == lengths
    alone = policy.token_stats(PROMPTS[1:], features[1:], ACTIONS[1:])
    torch.testing.assert_close(alone.log_probs[0, : lengths[1]], stats.log_probs[1, : lengths[1]],
                               rtol=1e-4, atol=1e-4)
    stats.sequence_log_probs().sum().backward()
    assert any(p.grad is not None and bool(p.grad.abs().sum() > 0) for name, p in policy.named_parameters()
               if "lora_A" in name or "lora_B" in name)
    texts = policy.generate(PROMPTS, features, max_new_tokens=5, generator=torch.Generator().manual_seed(1))
    assert texts == policy.generate(PROMPTS, features, max_new_tokens=5, generator=torch.Generator().manual_seed(1))


def test_constrained_generation_always_parses(bases) -> None:
    from coso.agents.autoui import grammar_constraint

    family = "idefics3"
    policy = _policy(bases[family])
    constraint = grammar_constraint(policy.tokenizer, point_decimals=2)
    texts = policy.generate(PROMPTS, _features(1), max_new_tokens=12, constraint=constraint,
                            generator=torch.Generator().manual_seed(0))
    assert all(parse_action(text).valid for text in texts), texts


def test_sampling_ignores_the_checkpoints_truncation_settings(bases) -> None:
    """A checkpoint's generation_config may truncate sampling (top_k 1, a low top_p): rollouts still sample the
    full softmax, whose log-probs the losses read, so different seeds write different texts."""
    policy = _policy(bases["paligemma"])
    policy.model.generation_config.update(top_k=1, top_p=0.001, repetition_penalty=2.0)
    features = _features(4, rows=1)
    texts = {policy.generate(PROMPTS[:1], features, max_new_tokens=4, generator=torch.Generator().manual_seed(seed))[0]
             for seed in range(6)}
    assert len(texts) > 1
    greedy = {policy.generate(PROMPTS[:1], features, do_sample=False, max_new_tokens=4)[0] for _ in range(2)}
    assert len(greedy) == 1


def test_full_fine_tuning_saves_the_whole_model(bases, tmp_path: Path) -> None:
    policy = _policy(bases["paligemma"], lora_rank=0)
    assert all(p.requires_grad for p in policy.parameters())
    policy.save_pretrained(tmp_path / "full")
    assert (tmp_path / "full" / "model.safetensors").is_file()
    loaded = HFVLMPolicy.from_pretrained(tmp_path / "full")
    features = _features(2)
    torch.testing.assert_close(loaded.token_stats(PROMPTS, features, ACTIONS).log_probs,
                               policy.token_stats(PROMPTS, features, ACTIONS).log_probs)


def test_missing_base_is_a_checkpoint_error(bases, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="agent.policy_path"):
        _policy(tmp_path / "nowhere")
    policy = _policy(bases["paligemma"])
    config_file = tmp_path / "moved" / HFVLMPolicy.CONFIG_NAME
    policy.save_pretrained(tmp_path / "moved")
    values = json.loads(config_file.read_text())
    config_file.write_text(json.dumps(dict(values, base_path=str(tmp_path / "gone"))))
    with pytest.raises(CheckpointError, match="restore the base checkpoint"):
        HFVLMPolicy.from_pretrained(tmp_path / "moved")


# ---------------------------------------------------------------------------------------------- runs

SMOKE = ["scale=smoke", "agent=hf_vlm", "logging.progress=false", "agent.max_new_tokens=24", "train.eval_episodes=2",
         f"env.screen_pixels_width={WIDTH}", f"env.screen_pixels_height={HEIGHT}", f"env.image_feature_dim={FEATURES}",
         "train.offline_episodes=4", "train.sft_episodes=4", "train.online_iterations=1", "train.rollout_size=2",
         "causal.pretrain_calls=1", "env.max_steps_webshop=3", "env.max_steps_general=3", "train.eval_initial=false"]
RUNS = {"qwen2_vl": "digirl_off2on", "qwen2_5_vl": "coso_off2on", "qwen3_vl": "afsft_off2on",
        "paligemma": "coso_off2on", "idefics3": "filteredbc_off2on"}


@pytest.mark.slow
@pytest.mark.parametrize("family", sorted(tiny_vlm.FAMILIES))
def test_off2on_run_and_eval_only(family: str, bases, tmp_path: Path) -> None:
    """A short off2on on the simulated phone with each family (each algorithm over the families), then
    eval_only on the checkpoint it wrote (LoRA adapters saved and loaded)."""
    _needs_torchvision(family)
    from test_training_runs import run_in_process

    run_dir = tmp_path / "run"
    base = [*SMOKE, f"agent.policy_path={bases[family]}"]
    summary = run_in_process(RUNS[family], [*base, f"save_path={run_dir}"])
    assert summary["online_iterations"] == 1 and summary["env_steps"] > 0
    assert {"offline", "final"} <= set(summary["eval_success_rate"])
    policy_dir = run_dir / "checkpoint" / "models" / "policy"
    assert (policy_dir / "adapter" / "adapter_model.safetensors").is_file()
    assert (policy_dir / HFVLMPolicy.CONFIG_NAME).is_file()

    evaluated = run_in_process("eval_only", [*base, f"load_path={run_dir}", f"save_path={tmp_path / 'eval'}"])
    assert evaluated["run"] == "eval" and evaluated["episodes"] == 2
    assert 0.0 <= evaluated["eval_success_rate"]["eval"] <= 1.0


@pytest.mark.slow
def test_afsft_trains_the_vlm(bases, tmp_path: Path) -> None:
    """AFSFT's Q head sits on the VLM's hidden states (token_stats with_hidden) and trains beside its adapters."""
    from test_training_runs import run_in_process

    summary = run_in_process("afsft_off2on", [*SMOKE, f"agent.policy_path={bases['idefics3']}",
                                              f"save_path={tmp_path / 'run'}"])
    assert summary["online_iterations"] == 1 and summary["env_steps"] > 0
    models = tmp_path / "run" / "checkpoint" / "models"
    assert (models / "policy" / "adapter" / "adapter_model.safetensors").is_file()
    assert (models / "q_head").is_dir() and (models / "q_target").is_dir()
