"""coso.models: the in-process tokenizer, the AutoUI policy, a Hugging Face VLM policy, DigiRL's critics and CoSo's
causal classifier."""

from coso.models.autoui import (
    AutoUIConfig,
    AutoUIPolicy,
    FusionOutputs,
    ImageFusion,
    TokenStats,
    load_autoui_base,
    map_autoui_state_dict,
)
from coso.models.causal import (
    ActionTypeClassifier,
    ActionTypeClassifierConfig,
    ActionTypeLabels,
    action_type_labels,
)
from coso.models.critics import CriticConfig, StepCritic, TrajectoryCritic
from coso.models.hf_vlm import HFVLMConfig, HFVLMPolicy
from coso.models.policy import Policy, load_policy
from coso.models.text_encoder import SmallEncoderConfig, TextEncoderSpec, build_text_encoder
from coso.models.tokenizer import (
    NULL_TOKEN,
    TaskCorpus,
    TokenizerConfig,
    build_tokenizer,
    default_corpus,
    ensure_null_token,
    load_tokenizer,
    null_token_id,
    train_tokenizer,
)

__all__ = [
    "AutoUIConfig", "AutoUIPolicy", "FusionOutputs", "ImageFusion", "TokenStats", "load_autoui_base",
    "map_autoui_state_dict", "ActionTypeClassifier", "ActionTypeClassifierConfig", "ActionTypeLabels",
    "action_type_labels", "CriticConfig", "StepCritic", "TrajectoryCritic", "SmallEncoderConfig",
    "TextEncoderSpec", "build_text_encoder", "NULL_TOKEN", "TaskCorpus", "TokenizerConfig", "build_tokenizer",
    "default_corpus", "ensure_null_token", "load_tokenizer", "null_token_id", "train_tokenizer", "HFVLMConfig",
    "HFVLMPolicy", "Policy", "load_policy",
]
