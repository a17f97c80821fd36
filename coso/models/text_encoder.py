"""Text encoders that turn prompts or action texts into one vector each: the critics' and the causal model's trunk.

Two kinds, chosen by name from a registry:

- ``"builtin"``: a small BERT-style transformer (learned positions, post-norm layers, GELU) over the
  in-process tokenizer, built from config with random weights; nothing is downloaded.
- ``"pretrained"``: a transformers encoder (roberta-base, as DigiRL's critic uses) loaded from a local
  directory with ``AutoModel``, never from the hub.

Both pool the token states into one vector: ``"mean"`` over non-pad tokens or ``"cls"`` (the first token).
"""

from __future__ import annotations

import abc
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from coso.errors import CheckpointError, ConfigError
from coso.models.serialization import require_directory
from coso.models.tokenizer import TokenizerConfig, load_tokenizer, require_tokenizer


def mean_pool(states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average of the token states over non-pad positions, ``[B, T, H] -> [B, H]`` (all-pad rows give 0)."""
    weights = attention_mask.to(states.dtype).unsqueeze(-1)
    return (states * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


def cls_pool(states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The first token's state (BERT/RoBERTa's ``<s>``/``[CLS]``), ``[B, T, H] -> [B, H]``."""
    return states[:, 0]


POOLINGS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {"mean": mean_pool, "cls": cls_pool}


def get_pooling(name: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The pooling function registered as ``name``."""
    if name not in POOLINGS:
        raise ConfigError(f"text encoder pooling {name!r} is unknown; choose one of {sorted(POOLINGS)}")
    return POOLINGS[name]


@dataclass(frozen=True)
class SmallEncoderConfig:
    """Sizes of the built-in BERT-style encoder."""

    hidden: int = 128
    heads: int = 4
    layers: int = 3
    ffn: int = 512
    max_positions: int = 512
    dropout: float = 0.1

    def __post_init__(self) -> None:
        if min(self.hidden, self.heads, self.layers, self.ffn, self.max_positions) < 1:
            raise ConfigError(f"small text encoder: all sizes must be >= 1, got {self}")
        if self.hidden % self.heads:
            raise ConfigError(f"small text encoder: hidden={self.hidden} must be divisible by heads={self.heads}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"small text encoder: dropout must lie in [0, 1), got {self.dropout}")


class SmallTransformerEncoder(nn.Module):
    """A BERT-style encoder from token ids to per-token states: embeddings + positions + transformer layers."""

    def __init__(self, config: SmallEncoderConfig, vocab_size: int, pad_token_id: int) -> None:
        super().__init__()
        self.config = config
        self.token_embedding = nn.Embedding(vocab_size, config.hidden, padding_idx=pad_token_id)
        self.position_embedding = nn.Embedding(config.max_positions, config.hidden)
        self.embedding_norm = nn.LayerNorm(config.hidden)
        self.dropout = nn.Dropout(config.dropout)
        layer = nn.TransformerEncoderLayer(
            config.hidden, config.heads, config.ffn, config.dropout, activation="gelu", batch_first=True
        )
        self.layers = nn.TransformerEncoder(layer, config.layers, enable_nested_tensor=False)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Token states ``[B, T, hidden]``; padded positions are excluded from attention."""
        length = input_ids.shape[1]
        if length > self.config.max_positions:
            raise ConfigError(
                f"small text encoder: a sequence of {length} tokens exceeds max_positions="
                f"{self.config.max_positions}; truncate the input or raise max_positions"
            )
        positions = torch.arange(length, device=input_ids.device)
        states = self.embedding_norm(self.token_embedding(input_ids) + self.position_embedding(positions))
        if not self.training:  # no dropout: the same layers through plain ops, ~1.8x faster on CPU at small sizes
            return _post_norm_layers(self.layers.layers, states, attention_mask)
        return self.layers(self.dropout(states), src_key_padding_mask=~attention_mask.bool())


def _post_norm_layers(layers: nn.ModuleList, states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Inference through post-norm GELU ``nn.TransformerEncoderLayer``s with scaled-dot-product attention.

    Equal (to float rounding) to calling the layers in eval mode; torch's fused encoder-layer kernel spends
    most of its time outside the matrix products when the model is this small. A row with no attended token
    attends everywhere instead of producing NaN (its states are then ignored by the pooling).
    """
    keep = attention_mask.bool()
    keep = keep | ~keep.any(dim=1, keepdim=True)
    bias = torch.zeros(keep.shape, dtype=states.dtype, device=states.device).masked_fill(~keep, float("-inf"))
    bias = bias[:, None, None, :]
    batch, length, hidden = states.shape
    for layer in cast(Iterable[nn.TransformerEncoderLayer], layers):
        heads = layer.self_attn.num_heads
        qkv = nn.functional.linear(states, layer.self_attn.in_proj_weight, layer.self_attn.in_proj_bias)
        query, key, value = qkv.view(batch, length, 3, heads, hidden // heads).permute(2, 0, 3, 1, 4)
        attended = nn.functional.scaled_dot_product_attention(query, key, value, attn_mask=bias)
        attended = attended.transpose(1, 2).reshape(batch, length, hidden)
        states = layer.norm1(states + layer.self_attn.out_proj(attended))
        states = layer.norm2(states + layer.linear2(nn.functional.gelu(layer.linear1(states))))
    return states


@dataclass(frozen=True)
class TextEncoderSpec:
    """Which text encoder to build: ``kind`` from the registry, its local ``path``, pooling and built-in sizes."""

    kind: str = "builtin"
    path: str = ""  # a local roberta-base (or other AutoModel) directory for kind "pretrained"
    pooling: str = "mean"
    builtin: SmallEncoderConfig = field(default_factory=lambda: SmallEncoderConfig(layers=2))
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    max_length: int = 512


class TextEncoder(nn.Module, abc.ABC):
    """Texts -> one pooled vector each; ``output_dim`` is the vector width."""

    output_dim: int
    tokenizer: PreTrainedTokenizerBase

    def __init__(self, spec: TextEncoderSpec, tokenizer: PreTrainedTokenizerBase) -> None:
        super().__init__()
        self.spec = spec
        self.tokenizer = tokenizer
        self.pool = get_pooling(spec.pooling)
        self.max_tokens = spec.max_length  # texts are truncated to this many tokens

    @abc.abstractmethod
    def token_states(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Per-token states ``[B, T, output_dim]``."""

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Pooled vectors ``[B, output_dim]`` from token ids."""
        return self.pool(self.token_states(input_ids, attention_mask), attention_mask)

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        """Pooled vectors ``[B, output_dim]`` of raw texts (tokenised here, on the encoder's device)."""
        device = next(self.parameters()).device
        batch = self.tokenizer(list(texts), padding=True, padding_side="right", truncation=True,
                               max_length=self.max_tokens, return_tensors="pt")
        return self(batch["input_ids"].to(device), batch["attention_mask"].to(device))

    def save_architecture(self, directory: Path) -> None:
        """Write what rebuilding this encoder needs besides its weights (tokenizer, model config)."""
        self.tokenizer.save_pretrained(str(directory))


class BuiltinTextEncoder(TextEncoder):
    """The small built-in BERT-style encoder over the in-process tokenizer."""

    def __init__(self, spec: TextEncoderSpec, tokenizer: PreTrainedTokenizerBase) -> None:
        super().__init__(spec, tokenizer)
        self.encoder = SmallTransformerEncoder(spec.builtin, len(tokenizer), tokenizer.pad_token_id)
        self.output_dim = spec.builtin.hidden
        self.max_tokens = min(spec.max_length, spec.builtin.max_positions)

    def token_states(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Per-token states of the small transformer."""
        return self.encoder(input_ids, attention_mask)


class PretrainedTextEncoder(TextEncoder):
    """A transformers encoder (e.g. roberta-base) read from local files; ``model`` is its ``AutoModel``."""

    def __init__(self, spec: TextEncoderSpec, tokenizer: PreTrainedTokenizerBase, model: PreTrainedModel) -> None:
        super().__init__(spec, tokenizer)
        self.model = model
        self.output_dim = int(model.config.hidden_size)

    def token_states(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The model's last hidden states."""
        return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    def save_architecture(self, directory: Path) -> None:
        """Write the tokenizer and the model's config, so loading needs no access to the original path."""
        super().save_architecture(directory)
        self.model.config.save_pretrained(str(directory))


def _build_builtin(spec: TextEncoderSpec, tokenizer: PreTrainedTokenizerBase | None) -> TextEncoder:
    return BuiltinTextEncoder(spec, require_tokenizer(tokenizer, "the built-in text encoder"))


def _restore_builtin(spec: TextEncoderSpec, directory: Path) -> TextEncoder:
    return BuiltinTextEncoder(spec, load_tokenizer(directory))


def _pretrained_parts(path: str, what: str) -> tuple[PreTrainedTokenizerBase, AutoConfig]:
    """Tokenizer and config of a local transformers model directory, with clear errors."""
    if not path:
        raise ConfigError(
            f"{what}: text encoder kind 'pretrained' needs path= a local model directory (e.g. roberta-base)"
        )
    require_directory(path, what=what)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        config = AutoConfig.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError) as error:
        raise CheckpointError(f"{what}: cannot read a tokenizer and config.json from {path!r}: {error}") from error
    return tokenizer, config


def _build_pretrained(spec: TextEncoderSpec, tokenizer: PreTrainedTokenizerBase | None) -> TextEncoder:
    model_tokenizer, _ = _pretrained_parts(spec.path, "pretrained text encoder")
    try:
        model = AutoModel.from_pretrained(spec.path, local_files_only=True)
    except (OSError, ValueError) as error:
        raise CheckpointError(f"pretrained text encoder: cannot load weights from {spec.path!r}: {error}") from error
    return PretrainedTextEncoder(spec, model_tokenizer, model)


def _restore_pretrained(spec: TextEncoderSpec, directory: Path) -> TextEncoder:
    tokenizer, config = _pretrained_parts(str(directory), "saved pretrained text encoder")
    return PretrainedTextEncoder(spec, tokenizer, AutoModel.from_config(config))


@dataclass(frozen=True)
class TextEncoderKind:
    """How to build an encoder kind fresh (``build``) and from a saved directory before its weights (``restore``)."""

    build: Callable[[TextEncoderSpec, PreTrainedTokenizerBase | None], TextEncoder]
    restore: Callable[[TextEncoderSpec, Path], TextEncoder]


_BUILTIN = TextEncoderKind(_build_builtin, _restore_builtin)
_PRETRAINED = TextEncoderKind(_build_pretrained, _restore_pretrained)
TEXT_ENCODERS: dict[str, TextEncoderKind] = {
    "builtin": _BUILTIN,
    "small": _BUILTIN,  # the run config's spelling
    "pretrained": _PRETRAINED,
    "roberta": _PRETRAINED,  # DigiRL's roberta-base, from a local directory
}


def _kind(spec: TextEncoderSpec) -> TextEncoderKind:
    if spec.kind not in TEXT_ENCODERS:
        raise ConfigError(f"text encoder kind {spec.kind!r} is unknown; choose one of {sorted(TEXT_ENCODERS)}")
    get_pooling(spec.pooling)
    return TEXT_ENCODERS[spec.kind]


def build_text_encoder(spec: TextEncoderSpec, tokenizer: PreTrainedTokenizerBase | None = None) -> TextEncoder:
    """A fresh text encoder of ``spec.kind``; the built-in one uses ``tokenizer`` (default: the in-process one)."""
    return _kind(spec).build(spec, tokenizer)


def restore_text_encoder(spec: TextEncoderSpec, directory: str | os.PathLike) -> TextEncoder:
    """An encoder with the architecture saved by ``save_architecture`` in ``directory`` (weights not loaded)."""
    return _kind(spec).restore(spec, require_directory(directory, what="text encoder"))
