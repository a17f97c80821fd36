"""Build, save and load the networks of a run from its config (policy, critics, causal classifier)."""

from __future__ import annotations

from pathlib import Path

from coso.config import RunConfig
from coso.config_mapping import dataclass_from_mapping
from coso.env.factory import build_grammar, domain_of
from coso.errors import CheckpointError
from coso.models.autoui import AutoUIConfig, AutoUIPolicy, load_autoui_base
from coso.models.causal import ActionTypeClassifier, ActionTypeClassifierConfig
from coso.models.critics import CriticConfig, StepCritic, TrajectoryCritic
from coso.models.text_encoder import SmallEncoderConfig, TextEncoderSpec
from coso.models.tokenizer import TokenizerConfig, ensure_null_token
from coso.training.tokenizer import build_default_tokenizer
from coso.training.trainer import Models

MODEL_DIRS = {"policy": "policy", "step_critic": "step_critic", "trajectory_critic": "trajectory_critic",
              "causal": "causal"}


def _policy_config(config: RunConfig) -> AutoUIConfig:
    """The built-in policy's config from agent.model; a mistyped or unknown key is a ConfigError."""
    agent = config.agent
    tokenizer = TokenizerConfig(vocab_size=agent.tokenizer_vocab_size, word_spaces=agent.tokenizer_word_spaces)
    return dataclass_from_mapping(AutoUIConfig, agent.model, "agent.model",
                                  image_feature_dim=config.env.image_feature_dim, tokenizer=tokenizer,
                                  lora_rank=agent.lora_rank, init_seed=config.seed)


def _policy(config: RunConfig) -> AutoUIPolicy:
    agent = config.agent
    if agent.policy_path:
        policy = load_autoui_base(agent.policy_path)
        ensure_null_token(policy.tokenizer)
        return policy
    policy_config = _policy_config(config)
    domain_texts = domain_of(config.env).corpus(config.env)  # the domain's prompts and actions ([]: the phone)
    return AutoUIPolicy.from_config(policy_config, build_default_tokenizer(policy_config.tokenizer, domain_texts))


def check_model_settings(config: RunConfig) -> None:
    """Build (without any weights) the model configs of agent.model and agent.critic, so mistakes show up first."""
    if not config.agent.policy_path:
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
    return Models(
        policy=policy,
        step_critic=StepCritic.from_config(critic_config, policy.tokenizer),
        trajectory_critic=TrajectoryCritic.from_config(critic_config, policy.tokenizer),
        causal=ActionTypeClassifier.from_config(causal_config, policy.tokenizer),
    )


def save_models(models: Models, directory: Path) -> None:
    """Write every network with save_pretrained into sub-directories of ``directory``."""
    for attribute, name in MODEL_DIRS.items():
        getattr(models, attribute).save_pretrained(Path(directory) / name)


def load_models(directory: Path) -> Models:
    """Networks written by ``save_models``; a missing part is a CheckpointError naming it."""
    directory = Path(directory)
    missing = [name for name in MODEL_DIRS.values() if not (directory / name).is_dir()]
    if missing:
        raise CheckpointError(f"checkpoint {directory} is missing the model directories {missing}; "
                              "it is incomplete (point load_path at a run directory written by coso training)")
    return Models(
        policy=AutoUIPolicy.from_pretrained(directory / "policy"),
        step_critic=StepCritic.from_pretrained(directory / "step_critic"),
        trajectory_critic=TrajectoryCritic.from_pretrained(directory / "trajectory_critic"),
        causal=ActionTypeClassifier.from_pretrained(directory / "causal"),
    )


def check_saved_models(directory: Path) -> None:
    """Read every saved model's config and weights header (no tensors): a damaged file is a Checkpoint/ConfigError."""
    from coso.models.serialization import check_weights_file, load_config

    directory = Path(directory)
    saved = {"policy": (AutoUIPolicy.CONFIG_NAME, AutoUIConfig),
             "step_critic": (StepCritic.CONFIG_NAME, CriticConfig),
             "trajectory_critic": (TrajectoryCritic.CONFIG_NAME, CriticConfig),
             "causal": (ActionTypeClassifier.CONFIG_NAME, ActionTypeClassifierConfig)}
    for name, (file_name, config_class) in saved.items():
        if (directory / name).is_dir():
            load_config(directory / name, file_name, config_class)
            check_weights_file(directory / name / "model.safetensors")
