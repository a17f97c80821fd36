"""Build, save and load the networks of a run from its config (policy, critics, causal classifier)."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from pathlib import Path

import torch

from coso.config import RunConfig
from coso.config_mapping import dataclass_from_mapping
from coso.env.factory import build_grammar, domain_of
from coso.errors import CheckpointError
from coso.models.autoui import AutoUIConfig, AutoUIPolicy, load_autoui_base
from coso.models.causal import ActionTypeClassifier, ActionTypeClassifierConfig
from coso.models.critics import CriticConfig, StepCritic, TrajectoryCritic
from coso.models.hf_vlm import HFVLMConfig, HFVLMPolicy, hf_vlm_config
from coso.models.policy import Policy, load_policy, saved_policy_class
from coso.models.q_head import QHead, QHeadConfig
from coso.models.text_encoder import SmallEncoderConfig, TextEncoderSpec
from coso.models.tokenizer import TokenizerConfig, ensure_null_token
from coso.training.tokenizer import build_default_tokenizer
from coso.training.trainer import Models

MODEL_DIRS = {"policy": "policy", "step_critic": "step_critic", "trajectory_critic": "trajectory_critic",
              "causal": "causal"}
# AFSFT's Q head and its Polyak target: saved when the run has them, loaded when the checkpoint does
OPTIONAL_MODEL_DIRS = {"q_head": "q_head", "q_target": "q_target"}


def _policy_config(config: RunConfig) -> AutoUIConfig:
    """The built-in policy's config from agent.model; a mistyped or unknown key is a ConfigError."""
    agent = config.agent
    tokenizer = TokenizerConfig(vocab_size=agent.tokenizer_vocab_size, word_spaces=agent.tokenizer_word_spaces)
    return dataclass_from_mapping(AutoUIConfig, agent.model, "agent.model",
                                  image_feature_dim=config.env.image_feature_dim, tokenizer=tokenizer,
                                  lora_rank=agent.lora_rank, init_seed=config.seed)


def _autoui_policy(config: RunConfig) -> AutoUIPolicy:
    agent = config.agent
    if agent.policy_path:
        policy = load_autoui_base(agent.policy_path)
        ensure_null_token(policy.tokenizer)
        return policy
    policy_config = _policy_config(config)
    domain_texts = domain_of(config.env).corpus(config.env)  # the domain's prompts and actions ([]: the phone)
    return AutoUIPolicy.from_config(policy_config, build_default_tokenizer(policy_config.tokenizer, domain_texts))


def _hf_vlm_policy(config: RunConfig) -> HFVLMPolicy:
    """A local Hugging Face VLM (agent.policy_path) with agent.hf_vlm's LoRA settings; never downloads."""
    return HFVLMPolicy.from_base(_hf_vlm_settings(config))


def _hf_vlm_settings(config: RunConfig) -> HFVLMConfig:
    env = config.env
    return hf_vlm_config(config.agent.hf_vlm, base_path=config.agent.policy_path,
                         screen_width=env.screen_pixels_width, screen_height=env.screen_pixels_height)


# agent.architecture -> builder
POLICY_BUILDERS: dict[str, Callable[[RunConfig], Policy]] = {"autoui": _autoui_policy, "hf_vlm": _hf_vlm_policy}


def _policy(config: RunConfig) -> Policy:
    return POLICY_BUILDERS[str(config.agent.architecture)](config)


def check_model_settings(config: RunConfig) -> None:
    """Build (without any weights) the model configs of agent.model and agent.critic, so mistakes show up first."""
    if str(config.agent.architecture) == "hf_vlm":
        _hf_vlm_settings(config)
    elif not config.agent.policy_path:
        _policy_config(config)
    _critic_config(config)


def _critic_config(config: RunConfig) -> CriticConfig:
    agent = config.agent
    values = dict(agent.critic)
    encoder = dataclass_from_mapping(SmallEncoderConfig, values.pop("encoder", {}), "agent.critic.encoder")
    spec = TextEncoderSpec(kind=agent.critic_text_encoder, path=agent.critic_encoder_path, builtin=encoder)
    return dataclass_from_mapping(CriticConfig, values, "agent.critic", text_encoder=spec,
                                  image_feature_dim=config.env.image_feature_dim, init_seed=config.seed)


def build_models(config: RunConfig) -> Models:
    """Fresh networks for a run: the policy (built in or Auto-UI-Base from a local path) and its companions."""
    policy = _policy(config)
    critic_config = _critic_config(config)
    causal_config = ActionTypeClassifierConfig(
        encoder=SmallEncoderConfig(hidden=config.causal.hidden_size, heads=config.causal.num_heads,
                                   layers=config.causal.num_layers, ffn=config.causal.ffn_size, max_positions=512),
        num_classes=len(build_grammar(config.env).action_classes),  # the domain's action classes
        init_seed=config.seed,
    )
    models = Models(
        policy=policy,
        step_critic=StepCritic.from_config(critic_config, policy.tokenizer),
        trajectory_critic=TrajectoryCritic.from_config(critic_config, policy.tokenizer),
        causal=ActionTypeClassifier.from_config(causal_config, policy.tokenizer),
    )
    return with_q_heads(models, config)


def with_q_heads(models: Models, config: RunConfig) -> Models:
    """``models`` with AFSFT's Q head and its target when the run trains AFSFT and they are missing (a fresh
    start, or load_path's checkpoint of another algorithm): a zero-initialised head (Q = 0 everywhere until the
    TD loss moves it, so the untrained critic's advantages are all 0) and an identical target."""
    if config.algorithm.name != "afsft" or models.q_head is not None:
        return models
    policy = models.policy
    with torch.random.fork_rng(devices=[]), torch.no_grad():  # draws nothing from the run's RNGs
        head = QHead(policy.hidden_size, policy.vocab_size, popart_rate=config.algorithm.afsft.popart_rate)
        head.linear.weight.zero_()
        head.linear.bias.zero_()
    return dataclasses.replace(models, q_head=head, q_target=copy.deepcopy(head).requires_grad_(False))


def save_models(models: Models, directory: Path) -> None:
    """Write every network with save_pretrained into sub-directories of ``directory``."""
    for attribute, name in MODEL_DIRS.items():
        getattr(models, attribute).save_pretrained(Path(directory) / name)
    for attribute, name in OPTIONAL_MODEL_DIRS.items():
        if getattr(models, attribute) is not None:
            getattr(models, attribute).save_pretrained(Path(directory) / name)


def load_models(directory: Path) -> Models:
    """Networks written by ``save_models``; a missing part is a CheckpointError naming it."""
    directory = Path(directory)
    missing = [name for name in MODEL_DIRS.values() if not (directory / name).is_dir()]
    if missing:
        raise CheckpointError(f"checkpoint {directory} is missing the model directories {missing}; "
                              "it is incomplete (point load_path at a run directory written by coso training)")
    return Models(
        policy=load_policy(directory / "policy"),
        step_critic=StepCritic.from_pretrained(directory / "step_critic"),
        trajectory_critic=TrajectoryCritic.from_pretrained(directory / "trajectory_critic"),
        causal=ActionTypeClassifier.from_pretrained(directory / "causal"),
        **{attribute: QHead.from_pretrained(directory / name) for attribute, name in OPTIONAL_MODEL_DIRS.items()
           if (directory / name).is_dir()},
    )


def check_saved_models(directory: Path) -> None:
    """Read every saved model's config and weights header (no tensors): a damaged file is a Checkpoint/ConfigError."""
    from coso.models.serialization import check_weights_file, load_config

    directory = Path(directory)
    if saved_policy_class(directory / "policy") is HFVLMPolicy:
        HFVLMPolicy.check_saved(directory / "policy")
    saved = {"policy": (AutoUIPolicy.CONFIG_NAME, AutoUIConfig),
             "step_critic": (StepCritic.CONFIG_NAME, CriticConfig),
             "trajectory_critic": (TrajectoryCritic.CONFIG_NAME, CriticConfig),
             "causal": (ActionTypeClassifier.CONFIG_NAME, ActionTypeClassifierConfig),
             **{name: (QHead.CONFIG_NAME, QHeadConfig) for name in OPTIONAL_MODEL_DIRS.values()}}
    for name, (file_name, config_class) in saved.items():
        vlm_policy = name == "policy" and saved_policy_class(directory / name) is HFVLMPolicy
        if (directory / name).is_dir() and not vlm_policy:
            load_config(directory / name, file_name, config_class)
            check_weights_file(directory / name / "model.safetensors")
