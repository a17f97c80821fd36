"""The AutoUI policy: a T5 encoder-decoder whose encoder states are fused with the screen features.

Fusion follows AutoUI: the image features are projected to ``d_model``, the text encoder's states attend
to them with single-head attention (query = text states, key/value = the projected image tokens), and a
sigmoid gate ``g = sigmoid(W [h; a])`` mixes ``h' = (1 - g) * h + g * a``; the decoder reads ``h'``.

The policy takes DigiRL's stacked ``[previous, current]`` screen features ``[B, 2 * D]`` and views them as
two image tokens of width ``D`` that share one projection ``Linear(D, d_model)``: the attention then picks
between the screens per text position, and the projection has exactly the shape of Auto-UI-Base's
``image_dense`` (``768 x 1408``), so the released checkpoint loads without surgery.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import json
import logging
import math
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedTokenizerBase, T5Config, T5ForConditionalGeneration
from transformers.modeling_outputs import BaseModelOutput

from coso.algorithms.coso import log_probs_entropy
from coso.errors import CheckpointError, ConfigError, unsafe_load_reason
from coso.models.constrained import GrammarConstraint
from coso.models.serialization import (
    SavedModel,
    preview_names,
    require_directory,
)
from coso.models.tokenizer import (
    TokenizerConfig,
    ensure_null_token,
    load_tokenizer,
    null_token_id,
    require_tokenizer,
)

logger = logging.getLogger(__name__)

FEED_FORWARD_KINDS = ("relu", "gated-gelu", "gelu", "gated-relu")
# the KV cache's keyword in T5's forward and its output: ``cache`` from transformers 5.24 (``past_key_values`` is
# deprecated there), ``past_key_values`` before
T5_CACHE_ARGUMENT = "cache" if "cache" in inspect.signature(T5ForConditionalGeneration.forward).parameters \
    else "past_key_values"


@dataclass(frozen=True)
class AutoUIConfig:
    """Sizes of the AutoUI policy; the defaults are the CPU size, ``base()`` is Auto-UI-Base (t5-base)."""

    d_model: int = 256
    num_layers: int = 4
    num_decoder_layers: int = 4
    num_heads: int = 4
    d_kv: int = 64
    d_ff: int = 1024
    feed_forward_proj: str = "relu"
    image_feature_dim: int = 256  # D, one screen; the policy reads num_screens * D
    num_screens: int = 2
    vocab_size: int = 0  # 0: the tokenizer's size
    dropout: float = 0.0
    relative_attention_num_buckets: int = 32
    relative_attention_max_distance: int = 128
    layer_norm_epsilon: float = 1e-6
    tie_word_embeddings: bool = True
    max_prompt_tokens: int = 512
    max_action_tokens: int = 256
    init_seed: int = 0
    lora_rank: int = 0  # > 0: train LoRA adapters only (needs peft)
    lora_alpha: float = 16.0
    lora_dropout: float = 0.0
    lora_target_modules: tuple[str, ...] = ("q", "v")
    # a pointer-generator copy head beside the LM head (CopyHead): the built-in small policy can then write
    # the goal's words (sites, queries) by pointing at them; off for Auto-UI-Base, which has none
    copy_head: bool = False
    # the copy head's span continuation (CopyHead): a learned bonus for pointing at the goal token that
    # follows the last token written, so a query is copied in order instead of looping or skipping words
    copy_continuation: bool = False
    # the copy head's selective read (CopyNet): the decoder's input embedding also gets a projection of the
    # encoder state of the goal token that follows the last token written, so the decoder sees what comes
    # next in the goal (e.g. the quote that ends the query); needs copy_continuation
    copy_read: bool = False
    # what the continuation (and the read) key on: "last_token", the identity of the token written last
    # (ambiguous where the goal repeats it: "usb-a to usb-b"), or "longest_match", the goal positions whose
    # preceding goal text matches the longest suffix of the written text (CopyNet's location-aware read)
    copy_continuation_key: str = "last_token"
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)

    def __post_init__(self) -> None:
        sizes = {name: getattr(self, name) for name in (
            "d_model", "num_layers", "num_decoder_layers", "num_heads", "d_kv", "d_ff", "image_feature_dim",
            "num_screens", "max_prompt_tokens", "max_action_tokens")}
        bad = {name: value for name, value in sizes.items() if int(value) < 1}
        if bad:
            raise ConfigError(f"agent (AutoUIConfig): these sizes must be >= 1: {bad}")
        if self.feed_forward_proj not in FEED_FORWARD_KINDS:
            raise ConfigError(
                f"agent.feed_forward_proj={self.feed_forward_proj!r} is not one of {FEED_FORWARD_KINDS}"
            )
        if not 0.0 <= self.dropout < 1.0 or not 0.0 <= self.lora_dropout < 1.0:
            raise ConfigError(
                f"agent: dropout and lora_dropout must lie in [0, 1), got {self.dropout}, {self.lora_dropout}"
            )
        if self.copy_read and not (self.copy_head and self.copy_continuation):
            raise ConfigError("agent.model.copy_read=true needs copy_head=true and copy_continuation=true: the "
                              "selective read follows the copy head's continuation")
        if self.copy_continuation_key not in CONTINUATION_KEYS:
            raise ConfigError(f"agent.model.copy_continuation_key={self.copy_continuation_key!r} is not one of "
                              f"{sorted(CONTINUATION_KEYS)}")
        if self.copy_continuation_key != "last_token" and not self.copy_continuation:
            raise ConfigError(f"agent.model.copy_continuation_key={self.copy_continuation_key!r} needs "
                              "copy_continuation=true: it chooses what the continuation keys on")
        if self.lora_rank < 0 or self.vocab_size < 0:
            raise ConfigError(f"agent: lora_rank and vocab_size must be >= 0, got {self.lora_rank}, {self.vocab_size}")

    @classmethod
    def base(cls, **overrides: object) -> AutoUIConfig:
        """Auto-UI-Base's sizes (t5-base: 768 wide, 12 + 12 layers, 12 heads, d_ff 3072, vocab 32128, 1408-d images)."""
        values: dict[str, object] = dict(
            d_model=768, num_layers=12, num_decoder_layers=12, num_heads=12, d_kv=64, d_ff=3072,
            image_feature_dim=1408, vocab_size=32128, dropout=0.1,
        )
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

    def t5_config(self, tokenizer: PreTrainedTokenizerBase, vocab_size: int) -> T5Config:
        """The transformers T5Config of the text backbone, with the tokenizer's pad/eos ids."""
        # tie_word_embeddings and decoder_start_token_id go to PreTrainedConfig at run time (T5Config's
        # signature does not list them)
        return T5Config(  # type: ignore[call-arg]
            vocab_size=vocab_size,
            d_model=self.d_model,
            d_kv=self.d_kv,
            d_ff=self.d_ff,
            num_layers=self.num_layers,
            num_decoder_layers=self.num_decoder_layers,
            num_heads=self.num_heads,
            relative_attention_num_buckets=self.relative_attention_num_buckets,
            relative_attention_max_distance=self.relative_attention_max_distance,
            dropout_rate=self.dropout,
            layer_norm_epsilon=self.layer_norm_epsilon,
            feed_forward_proj=self.feed_forward_proj,
            tie_word_embeddings=self.tie_word_embeddings,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            decoder_start_token_id=tokenizer.pad_token_id,
        )


@dataclass
class FusionOutputs:
    """What the image fusion computed: the fused states the decoder reads and the parts that made them."""

    fused: torch.Tensor  # [B, S, d_model]
    gate: torch.Tensor  # [B, S, d_model], in (0, 1)
    attended: torch.Tensor  # [B, S, d_model], the image summary each text position attended to
    image_tokens: torch.Tensor  # [B, num_screens, d_model]
    attention_weights: torch.Tensor  # [B, S, num_screens]


class ImageFusion(nn.Module):
    """AutoUI's gated single-head cross-attention from the text encoder states to the screen features."""

    def __init__(self, image_feature_dim: int, d_model: int, num_screens: int) -> None:
        super().__init__()
        self.image_feature_dim = image_feature_dim
        self.num_screens = num_screens
        self.image_proj = nn.Linear(image_feature_dim, d_model)
        self.attention = nn.MultiheadAttention(d_model, num_heads=1, batch_first=True)
        self.gate = nn.Linear(2 * d_model, d_model)

    def forward(self, text_states: torch.Tensor, image_features: torch.Tensor) -> FusionOutputs:
        """Fuse ``text_states [B, S, d]`` with stacked screen features ``[B, num_screens * D]``."""
        batch = text_states.shape[0]
        screens = image_features.to(self.image_proj.weight.dtype)
        screens = screens.reshape(batch, self.num_screens, self.image_feature_dim)
        image_tokens = self.image_proj(screens)
        attended, weights = self.attention(text_states, image_tokens, image_tokens, need_weights=True)
        gate = torch.sigmoid(self.gate(torch.cat([text_states, attended], dim=-1)))
        fused = (1.0 - gate) * text_states + gate * attended
        return FusionOutputs(fused, gate, attended, image_tokens, weights)


@dataclass
class TokenStats:
    """Teacher-forced statistics of action tokens: per-token log pi, full-vocabulary entropy, and validity."""

    log_probs: torch.Tensor  # [B, T], 0 at padding
    entropies: torch.Tensor  # [B, T], 0 at padding
    mask: torch.Tensor  # [B, T] float, 1 for real tokens (EOS included), 0 for padding
    token_ids: torch.Tensor  # [B, T] long, the action tokens (pad id at padding)
    # [B, T, V] log pi over the whole vocabulary at each position (the KL anchor reads it); None if not kept
    vocab_log_probs: torch.Tensor | None = None
    # [B, T, H] the decoder's last hidden states, the LM head's input (AFSFT's Q head reads them); None unless asked
    hidden_states: torch.Tensor | None = None

    def sequence_log_probs(self) -> torch.Tensor:
        """log pi(y | s) of each whole action: the sum of its token log-probabilities, ``[B]``."""
        return (self.log_probs * self.mask).sum(dim=-1)


@dataclass
class GoalView:
    """What a copy head reads from the prompt tokens alone, computed once per encoding (not per decoding step)."""

    pointable: torch.Tensor  # [B, S] bool: positions the pointer may choose
    previous_source: torch.Tensor | None  # [B, S]: each token's last non-whitespace predecessor (continuation)
    previous_position: torch.Tensor | None = None  # [B, S] long: that predecessor's position, -1 for none


@dataclass
class WrittenContext:
    """What the copy head's continuation knows of the text written so far: which goal tokens come next.

    Built per decoder pass; ``state`` is the key's state after the pass's last position, so a KV-cached
    decoder carries it from one step to the next."""

    follows: torch.Tensor  # [B, T, S] bool: goal token s comes next after what was written up to position t
    # last_token: [B] long, the last non-whitespace token written (-1 for none);
    # longest_match: [B, S] long, the suffix-match lengths
    state: torch.Tensor


@dataclass
class EncodedObservations:
    """Fused encoder states of a batch of observations, ready for the decoder."""

    hidden: torch.Tensor  # [B, S, d_model]
    attention_mask: torch.Tensor  # [B, S]
    input_ids: torch.Tensor | None = None  # [B, S], the prompt tokens (what a copy head points at)
    goal: GoalView | None = None  # the copy head's view of the prompt (policies with a copy head)


def _single_token_id(tokenizer: PreTrainedTokenizerBase, word: str) -> int | None:
    """The id of ``word`` when the tokenizer writes it as exactly one token, else None."""
    ids = tokenizer(word, add_special_tokens=False)["input_ids"]
    return int(ids[0]) if len(ids) == 1 else None


def whitespace_token_ids(tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """Ids of the tokens that write only whitespace (the copy head's continuation skips them)."""
    ids = range(len(tokenizer))
    pieces = tokenizer.batch_decode([[i] for i in ids], clean_up_tokenization_spaces=False)
    return [i for i, piece in zip(ids, pieces) if piece and not piece.strip()]


def last_content_positions(content: torch.Tensor, *, inclusive: bool) -> torch.Tensor:
    """For each position t of ``content`` [B, T] (bool), the last position p <= t (``inclusive``) or < t
    with ``content[p]``; -1 where there is none."""
    positions = torch.arange(content.shape[1], device=content.device).expand_as(content)
    latest = torch.where(content, positions, torch.full_like(positions, -1)).cummax(dim=1).values
    if not inclusive:
        latest = torch.cat([torch.full_like(latest[:, :1], -1), latest[:, :-1]], dim=1)
    return latest


def last_content_ids(token_ids: torch.Tensor, skip_ids: torch.Tensor, before: torch.Tensor,
                     *, inclusive: bool) -> torch.Tensor:
    """For each position t of ``token_ids`` [B, T], the last id not in ``skip_ids`` among positions <= t
    (``inclusive``) or < t; ``before`` [B] where there is none (e.g. what earlier decoding steps wrote)."""
    latest = last_content_positions(~torch.isin(token_ids, skip_ids), inclusive=inclusive)
    gathered = token_ids.gather(1, latest.clamp_min(0))
    return torch.where(latest >= 0, gathered, before[:, None].expand_as(gathered))


def last_token_context(goal: GoalView, source: torch.Tensor, decoder_input_ids: torch.Tensor,
                       skip_ids: torch.Tensor, previous: WrittenContext | None) -> WrittenContext:
    """The ``last_token`` key: goal token x_s comes next where its predecessor is the token written last."""
    assert goal.previous_source is not None, "the continuation's GoalView has the predecessors"
    before = previous.state if previous is not None else torch.full_like(decoder_input_ids[:, 0], -1)
    last = last_content_ids(decoder_input_ids, skip_ids, before, inclusive=True)
    follows = (goal.previous_source[:, None, :] == last[:, :, None]) & (last[:, :, None] >= 0)
    return WrittenContext(follows, last[:, -1])


def longest_match_context(goal: GoalView, source: torch.Tensor, decoder_input_ids: torch.Tensor,
                          skip_ids: torch.Tensor, previous: WrittenContext | None) -> WrittenContext:
    """The ``longest_match`` key: goal token x_s comes next where the goal text before it (whitespace aside)
    ends with the longest suffix of the written text that the goal holds anywhere.

    match[j] is the length of the common suffix of the written tokens and the goal's tokens up to j
    (match[j] = [x_j = written last] * (1 + match[prev(j)]), updated once per written non-whitespace token),
    so in "usb-a to usb-b" the "-" after a written `"usb` is the first one, and after a written `to usb` the
    second. Where one goal token holds the longest match this is CopyNet's location-aware selective read
    (Gu et al., 2016) without its learned weights; with no repeated token it equals ``last_token``."""
    assert goal.previous_position is not None, "the continuation's GoalView has the predecessors"
    match = previous.state if previous is not None else torch.zeros_like(source)
    has_previous = goal.previous_position >= 0
    previous_position = goal.previous_position.clamp_min(0)
    written = ~torch.isin(decoder_input_ids, skip_ids)
    follows = []
    for t in range(decoder_input_ids.shape[1]):
        token = decoder_input_ids[:, t]
        extended = torch.where(has_previous, match.gather(1, previous_position), 0) + 1
        hit = (source == token[:, None]) & goal.pointable
        match = torch.where(written[:, t, None], torch.where(hit, extended, 0), match)
        best = match.max(dim=1, keepdim=True).values
        before = torch.where(has_previous, match.gather(1, previous_position), 0)
        follows.append((before == best) & (best > 0))
    return WrittenContext(torch.stack(follows, dim=1), match)


# what the copy head's continuation keys on (AutoUIConfig.copy_continuation_key)
CONTINUATION_KEYS: dict[str, Callable[..., WrittenContext]] = {
    "last_token": last_token_context,
    "longest_match": longest_match_context,
}


class CopyHead(nn.Module):
    """Pointer-generator copying (See et al., 2017) beside the LM head.

    The next-token distribution mixes the LM head's softmax with a pointer distribution over the prompt's
    tokens: ``p(v) = (1 - g) softmax(logits)(v) + g sum_j a_j [x_j = v]``, where ``a`` is one attention
    from the decoder state to the fused encoder states and ``g = sigmoid(w . h)``. Returns log p, so
    callers use it wherever they used log_softmax(logits) (losses, entropies, sampling, masking).

    It points only at the goal (the tokens after the prompt's ``Goal`` marker, when the tokenizer has it
    as one token): what an agent copies is a site or a query, never the previous action's coordinates.

    With ``read`` (``selective_read``) the decoder's next input embedding gets W_r times the mean fused
    encoder state of the goal tokens x_j with prev(x_j) = last written: CopyNet's selective read, which
    tells the decoder which goal token comes next (a word of the query, or the quote that ends it).

    With ``continuation`` the attention scores get ``beta * [x_j comes next]``, where "comes next" is the
    ``continuation_key``'s rule (``CONTINUATION_KEYS``): by default prev(x_j) = last written, prev(x_j)
    being the goal's last non-whitespace token before x_j and "last written" the decoder's last
    non-whitespace input token: the location-aware selective read of CopyNet (Gu et al., 2016) reduced to
    one learned scalar, so a multi-word query is copied word after word. Whitespace tokens are then
    written by the LM head only (they would otherwise all share one continuation bonus).
    """

    special_ids: torch.Tensor  # buffers, registered in __init__
    skip_ids: torch.Tensor

    def __init__(self, d_model: int, special_ids: Sequence[int], goal_token_id: int | None = None,
                 whitespace_ids: Sequence[int] = (), continuation: bool = False, read: bool = False,
                 continuation_key: str = "last_token") -> None:
        super().__init__()
        if continuation_key not in CONTINUATION_KEYS:
            raise ConfigError(f"CopyHead: continuation_key={continuation_key!r} "
                              f"is not one of {sorted(CONTINUATION_KEYS)}")
        self.continuation_key = continuation_key
        self.query = nn.Linear(d_model, d_model, bias=False)
        self.key = nn.Linear(d_model, d_model, bias=False)
        self.gate = nn.Linear(d_model, 1)
        self.goal_token_id = goal_token_id
        self.continuation = nn.Parameter(torch.tensor(2.0)) if continuation else None
        self.read = nn.Linear(d_model, d_model, bias=False) if read else None
        if self.read is not None:
            nn.init.zeros_(self.read.weight)  # starts as the policy without the read
        self.register_buffer("special_ids", torch.tensor(sorted(set(special_ids)), dtype=torch.long),
                             persistent=False)
        skipped = sorted(set(whitespace_ids) | set(special_ids)) if continuation else []
        self.register_buffer("skip_ids", torch.tensor(skipped, dtype=torch.long), persistent=False)

    def forward(self, decoder_states: torch.Tensor, logits: torch.Tensor, encoded: EncodedObservations,
                written: WrittenContext | None = None) -> torch.Tensor:
        """log p ``[B, T, V]`` from decoder states ``[B, T, d]``, LM logits ``[B, T, V]`` and the encoder side.

        ``written``: ``written_context`` of the decoder's inputs; needed only with ``continuation``.
        """
        source, goal = encoded.input_ids, self._goal(encoded)
        assert source is not None  # _goal checked it
        scores = torch.einsum("btd,bsd->bts", self.query(decoder_states).float(), self.key(encoded.hidden).float())
        scores = scores / math.sqrt(decoder_states.shape[-1])
        if self.continuation is not None:
            if written is None:
                raise ValueError("CopyHead(continuation=True) needs written, "
                                 "the written_context of the decoder's inputs")
            scores = scores + self.continuation.float() * written.follows.float()
        scores = scores.masked_fill(~goal.pointable[:, None, :], float("-inf"))
        attention = torch.softmax(scores, dim=-1).nan_to_num(0.0)  # a prompt of special tokens only points nowhere
        pointer = torch.zeros_like(logits, dtype=torch.float32)
        pointer.scatter_add_(-1, source[:, None, :].expand(-1, logits.shape[1], -1), attention)
        gate = torch.sigmoid(self.gate(decoder_states).float())
        mixed = (1.0 - gate) * torch.softmax(logits.float(), dim=-1) + gate * pointer
        return torch.log(mixed.clamp_min(1e-30))

    def goal_view(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> GoalView:
        """The pointable positions (the goal's non-special tokens; whitespace too is skipped with the
        continuation) and, with the continuation, each token's predecessor."""
        pointable = attention_mask.bool() & ~torch.isin(input_ids, self.special_ids.to(input_ids.device))
        if self.goal_token_id is not None:
            after_goal = torch.cumsum((input_ids == self.goal_token_id).long(), dim=1) > 0
            has_goal = after_goal.any(dim=1, keepdim=True)
            pointable &= after_goal | ~has_goal
        if self.continuation is None:
            return GoalView(pointable, None)
        content = ~torch.isin(input_ids, self.skip_ids)
        previous_position = last_content_positions(content, inclusive=False)
        previous_source = torch.where(previous_position >= 0, input_ids.gather(1, previous_position.clamp_min(0)),
                                      torch.full_like(input_ids, -1))
        return GoalView(pointable & content, previous_source, previous_position)

    def _goal(self, encoded: EncodedObservations) -> GoalView:
        """The encoding's goal view (AutoUIPolicy.encode builds it)."""
        if encoded.input_ids is None or encoded.goal is None:
            raise ValueError("CopyHead needs the prompt token ids and their GoalView (AutoUIPolicy.encode builds both)")
        return encoded.goal

    def written_context(self, encoded: EncodedObservations, decoder_input_ids: torch.Tensor,
                        previous: WrittenContext | None = None) -> WrittenContext:
        """Which goal tokens come next at each of ``decoder_input_ids`` [B, T] (the continuation key's rule);
        ``previous``: the context of the inputs before these (KV-cached decoding), None at the start."""
        if self.continuation is None:
            raise ValueError("CopyHead.written_context needs a head built with continuation=True")
        return CONTINUATION_KEYS[self.continuation_key](self._goal(encoded), encoded.input_ids, decoder_input_ids,
                                                        self.skip_ids, previous)

    def selective_read(self, encoded: EncodedObservations, written: WrittenContext) -> torch.Tensor:
        """[B, T, d]: W_r times the mean encoder state of the goal tokens that come next at each position
        (zero where none does)."""
        if self.read is None:
            raise ValueError("CopyHead.selective_read needs a head built with read=True")
        goal = self._goal(encoded)
        follows = (written.follows & goal.pointable[:, None, :]).to(encoded.hidden.dtype)
        weights = follows / follows.sum(dim=-1, keepdim=True).clamp_min(1.0)
        return self.read(torch.einsum("bts,bsd->btd", weights, encoded.hidden))


def _greedy_token(logits: torch.Tensor, temperature: float, generator: torch.Generator | None) -> torch.Tensor:
    """The most likely next token of each row."""
    return logits.argmax(dim=-1)


def _sampled_token(logits: torch.Tensor, temperature: float, generator: torch.Generator | None) -> torch.Tensor:
    """A next token drawn from softmax(logits / temperature), on the generator's device when one is given."""
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    sampling_device = generator.device if generator is not None else probs.device
    drawn = torch.multinomial(probs.to(sampling_device), 1, generator=generator)
    return drawn.squeeze(-1).to(logits.device)


def _append_completions(tokens: torch.Tensor, states: list, constraint: GrammarConstraint,
                        pad_id: int) -> torch.Tensor:
    """Close the rows the token budget cut off with the grammar's shortest completion (then EOS)."""
    rows = [row[row != pad_id].tolist() for row in tokens]
    for index, state in enumerate(states):
        if state is not None:
            rows[index] = rows[index] + constraint.completion_ids(state)
    width = max(len(row) for row in rows)
    return torch.tensor([row + [pad_id] * (width - len(row)) for row in rows], dtype=tokens.dtype,
                        device=tokens.device)


TokenChooser = Callable[[torch.Tensor, float, "torch.Generator | None"], torch.Tensor]
TOKEN_CHOOSERS: dict[bool, TokenChooser] = {False: _greedy_token, True: _sampled_token}  # keyed by do_sample


@contextlib.contextmanager
def module_inputs(module: nn.Module, enabled: bool = True) -> Iterator[list[torch.Tensor]]:
    """Inside the block, the first input of every call of ``module`` is appended to the yielded list (if enabled)."""
    kept: list[torch.Tensor] = []
    hook = module.register_forward_pre_hook(lambda _, inputs: kept.append(inputs[0])) if enabled else None
    try:
        yield kept
    finally:
        if hook is not None:
            hook.remove()


@contextlib.contextmanager
def evaluation_mode(module: nn.Module) -> Iterator[None]:
    """Run a block with ``module`` in eval mode and no autograd, restoring its training flag afterwards."""
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        module.train(was_training)


def _check_batch(config: AutoUIConfig, prompts: Sequence[str], image_features: torch.Tensor) -> None:
    """Clear errors for a prompt/feature mismatch, the most common wiring mistake."""
    expected = config.num_screens * config.image_feature_dim
    if image_features.dim() != 2 or image_features.shape[1] != expected:
        raise ConfigError(
            f"AutoUIPolicy: image_features has shape {tuple(image_features.shape)}, expected [B, {expected}] "
            f"({config.num_screens} screens x image_feature_dim={config.image_feature_dim}); "
            "set the agent's image_feature_dim to the image encoder's feature_dim"
        )
    if image_features.shape[0] != len(prompts):
        raise ValueError(f"AutoUIPolicy: {len(prompts)} prompts but {image_features.shape[0]} image feature rows")


def _grammar_masked(logits: torch.Tensor, constraint: GrammarConstraint, states: list) -> torch.Tensor:
    """``logits`` [B, V] with every token the grammar forbids in each row's state set to -inf."""
    allowed = constraint.mask(states).to(logits.device)
    if allowed.shape[1] < logits.shape[-1]:  # model rows past the tokenizer are never written
        allowed = F.pad(allowed, (0, logits.shape[-1] - allowed.shape[1]), value=False)
    return logits.masked_fill(~allowed, float("-inf"))


class AutoUIPolicy(SavedModel):
    """AutoUI: T5 with gated image fusion; writes AutoUI-grammar actions from (prompt, stacked screen features)."""

    CONFIG_NAME = "autoui_config.json"
    CONFIG_CLASS = AutoUIConfig

    def __init__(self, config: AutoUIConfig, tokenizer: PreTrainedTokenizerBase) -> None:
        super().__init__()
        vocab_size = config.vocab_size or len(tokenizer)
        if vocab_size < len(tokenizer):
            raise ConfigError(
                f"agent.vocab_size={config.vocab_size} is smaller than the tokenizer ({len(tokenizer)} tokens); "
                "set it to 0 to use the tokenizer's size"
            )
        null_token_id(tokenizer)
        self.config = dataclasses.replace(config, vocab_size=vocab_size)
        self.tokenizer = tokenizer
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.init_seed)
            self.t5 = T5ForConditionalGeneration(config.t5_config(tokenizer, vocab_size))
            self.fusion = ImageFusion(config.image_feature_dim, config.d_model, config.num_screens)
            self.copy = (CopyHead(config.d_model, tokenizer.all_special_ids, _single_token_id(tokenizer, "Goal"),
                                  whitespace_token_ids(tokenizer), continuation=config.copy_continuation,
                                  read=config.copy_read, continuation_key=config.copy_continuation_key)
                         if config.copy_head else None)
        self._decoder_states: torch.Tensor | None = None
        if config.copy_head:  # the LM head's input is the decoder state the copy head reads
            self.t5.get_output_embeddings().register_forward_pre_hook(self._keep_decoder_states)
        if config.lora_rank > 0:
            self._attach_lora()

    # ------------------------------------------------------------------------------------------ building

    @classmethod
    def from_config(cls, config: AutoUIConfig | None = None,
                    tokenizer: PreTrainedTokenizerBase | None = None) -> AutoUIPolicy:
        """The built-in policy with random weights over ``tokenizer`` (a ConfigError when none is given)."""
        return cls(config or AutoUIConfig(), require_tokenizer(tokenizer, "AutoUIPolicy.from_config"))

    def _attach_lora(self) -> None:
        """Wrap the T5 in peft LoRA adapters and freeze everything else (fusion included)."""
        try:
            from peft import LoraConfig, get_peft_model
        except ImportError as error:
            raise ConfigError("agent.lora_rank > 0 needs peft: pip install 'coso[lora]'") from error
        lora = LoraConfig(
            r=self.config.lora_rank,
            lora_alpha=self.config.lora_alpha,  # type: ignore[arg-type]  # peft says int; it scales by alpha / r
            lora_dropout=self.config.lora_dropout,
            target_modules=list(self.config.lora_target_modules),
            bias="none",
        )
        # the peft wrapper forwards the T5's methods (get_encoder, embeddings, forward) to the wrapped model
        self.t5 = get_peft_model(self.t5, lora)  # type: ignore[assignment]
        for name, parameter in self.named_parameters():
            parameter.requires_grad_("lora_" in name)

    def _keep_decoder_states(self, module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        """Forward pre-hook on the LM head: remember its input for the copy head."""
        self._decoder_states = inputs[0]

    def written_context(self, decoder_input_ids: torch.Tensor, encoded: EncodedObservations,
                        previous: WrittenContext | None = None) -> WrittenContext | None:
        """What the copy head's continuation reads of the decoder inputs [B, T] (which goal tokens come next),
        or None when the copy head has no continuation. ``previous``: the context returned for the inputs
        before these (incremental decoding), None at the start."""
        if self.copy is None or self.copy.continuation is None:
            return None
        return self.copy.written_context(encoded, decoder_input_ids, previous)

    def decoder_inputs(self, decoder_input_ids: torch.Tensor, encoded: EncodedObservations,
                       written: WrittenContext | None) -> dict[str, torch.Tensor]:
        """The T5 decoder's input: the ids, or their embeddings plus the copy head's selective read."""
        if self.copy is None or self.copy.read is None or written is None:
            return {"decoder_input_ids": decoder_input_ids}
        embeddings = self.t5.get_input_embeddings()(decoder_input_ids)
        read = self.copy.selective_read(encoded, written)
        return {"decoder_inputs_embeds": embeddings + read.to(embeddings.dtype)}

    def next_token_log_probs(self, logits: torch.Tensor, encoded: EncodedObservations,
                             decoder_input_ids: torch.Tensor, *, written: WrittenContext | None = None
                             ) -> torch.Tensor:
        """log p(next token) ``[B, T, V]`` for the LM head's ``logits`` of the last forward pass.

        The LM head's log-softmax, or the copy head's mixture when the policy has one. ``decoder_input_ids``
        ``[B, T]`` are that pass's decoder inputs (from the first one written); ``written`` their
        ``written_context`` when the caller already has it (incremental decoding must pass it).
        """
        if self.copy is None:
            return F.log_softmax(logits.float(), dim=-1)
        if written is None:
            written = self.written_context(decoder_input_ids, encoded)
        return self.copy(self._decoder_states, logits, encoded, written)

    @property
    def device(self) -> torch.device:
        """Where the weights live."""
        return self.fusion.image_proj.weight.device

    @property
    def null_token_id(self) -> int:
        """The ``<null>`` token id (counterfactual masking)."""
        return null_token_id(self.tokenizer)

    # ------------------------------------------------------------------------------------------ encoding

    def tokenize_prompts(self, prompts: Sequence[str]) -> dict[str, torch.Tensor]:
        """Prompt token ids and mask on the model's device; a literal trailing ``</s>`` is not doubled."""
        eos = self.tokenizer.eos_token
        texts = [prompt.removesuffix(eos) for prompt in prompts]
        batch = self.tokenizer(texts, padding=True, padding_side="right", truncation=True,
                               max_length=self.config.max_prompt_tokens, return_tensors="pt")
        return {name: batch[name].to(self.device) for name in ("input_ids", "attention_mask")}

    def tokenize_actions(self, actions: Sequence[str]) -> dict[str, torch.Tensor]:
        """Action token ids (EOS appended, right-padded with the pad id) and their mask, on the model's device."""
        batch = self.tokenizer(list(actions), padding=True, padding_side="right", truncation=True,
                               max_length=self.config.max_action_tokens, return_tensors="pt")
        return {name: batch[name].to(self.device) for name in ("input_ids", "attention_mask")}

    def fuse(self, prompts: Sequence[str], image_features: torch.Tensor) -> tuple[FusionOutputs, torch.Tensor]:
        """Run the text encoder and the image fusion; returns the fusion parts and the prompt mask."""
        fusion, tokens = self._fuse_tokens(prompts, image_features)
        return fusion, tokens["attention_mask"]

    def _fuse_tokens(self, prompts: Sequence[str], image_features: torch.Tensor
                     ) -> tuple[FusionOutputs, dict[str, torch.Tensor]]:
        _check_batch(self.config, prompts, image_features)
        tokens = self.tokenize_prompts(prompts)
        text_states = self.t5.get_encoder()(**tokens).last_hidden_state
        return self.fusion(text_states, image_features.to(self.device)), tokens

    def encode(self, prompts: Sequence[str], image_features: torch.Tensor) -> EncodedObservations:
        """Fused encoder states of the observations (what the decoder attends to)."""
        fusion, tokens = self._fuse_tokens(prompts, image_features)
        goal = (self.copy.goal_view(tokens["input_ids"], tokens["attention_mask"]) if self.copy is not None
                else None)
        return EncodedObservations(fusion.fused, tokens["attention_mask"], tokens["input_ids"], goal)

    # ------------------------------------------------------------------------------------------ acting

    def generate(self, prompts: Sequence[str], image_features: torch.Tensor, *, do_sample: bool = True,
                 temperature: float = 1.0, max_new_tokens: int = 128,
                 generator: torch.Generator | None = None,
                 constraint: GrammarConstraint | None = None) -> list[str]:
        """Write one action text per observation (batched, KV-cached); greedy when ``do_sample`` is False.

        With ``constraint`` (grammar-constrained decoding) every written text is a parseable action.
        """
        tokens = self.generate_tokens(prompts, image_features, do_sample=do_sample, temperature=temperature,
                                      max_new_tokens=max_new_tokens, generator=generator, constraint=constraint)
        return self.tokenizer.batch_decode(tokens.tolist(), skip_special_tokens=True,
                                           clean_up_tokenization_spaces=False)

    def generate_tokens(self, prompts: Sequence[str], image_features: torch.Tensor, *, do_sample: bool = True,
                        temperature: float = 1.0, max_new_tokens: int = 128,
                        generator: torch.Generator | None = None,
                        constraint: GrammarConstraint | None = None) -> torch.Tensor:
        """The written token ids ``[B, <= max_new_tokens]``: EOS ends a row, later positions hold the pad id.

        ``constraint`` masks every step's logits to the tokens that keep the text inside the action
        grammar; a constrained row still unfinished after ``max_new_tokens`` gets the grammar's closing
        tokens appended (so it may be longer than ``max_new_tokens``).
        """
        if do_sample and not temperature > 0.0:
            raise ConfigError(f"generate: temperature must be > 0 when sampling, got {temperature}")
        if max_new_tokens < 1:
            raise ConfigError(f"generate: max_new_tokens must be >= 1, got {max_new_tokens}")
        choose = TOKEN_CHOOSERS[bool(do_sample)]
        pad_id, eos_id = self.tokenizer.pad_token_id, self.tokenizer.eos_token_id
        with evaluation_mode(self):
            encoded = self.encode(prompts, image_features)
            encoder_outputs = BaseModelOutput(last_hidden_state=encoded.hidden)
            batch = encoded.hidden.shape[0]
            next_input = torch.full((batch, 1), pad_id, dtype=torch.long, device=self.device)
            finished = torch.zeros(batch, dtype=torch.bool, device=self.device)
            written: list[torch.Tensor] = []
            cache = None
            context: WrittenContext | None = None
            states: list[tuple | None] = [constraint.start() for _ in range(batch)] if constraint is not None else []
            for _ in range(max_new_tokens):
                context = self.written_context(next_input, encoded, context)
                step = self.t5(encoder_outputs=encoder_outputs, attention_mask=encoded.attention_mask,
                               **{T5_CACHE_ARGUMENT: cache}, use_cache=True,
                               **self.decoder_inputs(next_input, encoded, context))
                cache = getattr(step, T5_CACHE_ARGUMENT)
                logits = step.logits[:, -1, :]
                if self.copy is not None:  # log-probabilities are logits of the same distribution
                    logits = self.next_token_log_probs(step.logits, encoded, next_input, written=context)[:, -1, :]
                if constraint is not None:
                    logits = _grammar_masked(logits, constraint, states)
                token = choose(logits, temperature, generator)
                token = torch.where(finished, torch.full_like(token, pad_id), token)
                written.append(token)
                if constraint is not None:
                    states = constraint.advance(states, token.tolist())
                finished |= token == eos_id
                if bool(finished.all()):
                    break
                next_input = token[:, None]
        tokens = torch.stack(written, dim=1)
        if constraint is not None and not bool(finished.all()):
            tokens = _append_completions(tokens, states, constraint, pad_id)
        return tokens

    def token_stats(self, prompts: Sequence[str], image_features: torch.Tensor,
                    actions: Sequence[str], *, with_hidden: bool = False) -> TokenStats:
        """Teacher-forced log pi and entropy of every token of ``actions`` (EOS included); differentiable.
        ``with_hidden``: also the LM head's inputs (``TokenStats.hidden_states``, what AFSFT's Q head reads)."""
        if len(actions) != len(prompts):
            raise ValueError(f"token_stats: {len(prompts)} prompts but {len(actions)} actions")
        encoded = self.encode(prompts, image_features)
        targets = self.tokenize_actions(actions)
        labels, mask = targets["input_ids"], targets["attention_mask"].float()
        start = torch.full_like(labels[:, :1], self.tokenizer.pad_token_id)
        decoder_input_ids = torch.cat([start, labels[:, :-1]], dim=1)
        written = self.written_context(decoder_input_ids, encoded)
        with module_inputs(self.t5.get_output_embeddings(), with_hidden) as kept:
            logits = self.t5(encoder_outputs=BaseModelOutput(last_hidden_state=encoded.hidden),
                             attention_mask=encoded.attention_mask, use_cache=False,
                             **self.decoder_inputs(decoder_input_ids, encoded, written)).logits
        log_softmax = self.next_token_log_probs(logits, encoded, decoder_input_ids, written=written)
        log_probs = log_softmax.gather(-1, labels.unsqueeze(-1)).squeeze(-1) * mask
        entropies = log_probs_entropy(log_softmax) * mask
        hidden = kept[-1] if kept else None  # the LM head's input: the decoder's last state (T5: scaled)
        return TokenStats(log_probs, entropies, mask, labels, vocab_log_probs=log_softmax, hidden_states=hidden)

    hidden_size = property(lambda self: self.config.d_model, doc="Width of TokenStats.hidden_states.")
    vocab_size = property(lambda self: self.config.vocab_size, doc="Entries of TokenStats.vocab_log_probs.")

    def forward(self, prompts: Sequence[str], image_features: torch.Tensor, actions: Sequence[str], *,
                with_hidden: bool = False) -> TokenStats:
        """``token_stats`` (so DDP/accelerate wrappers see the training computation)."""
        return self.token_stats(prompts, image_features, actions, with_hidden=with_hidden)

    # ------------------------------------------------------------------------------------------ files

    def save_architecture(self, directory: Path) -> None:
        """The tokenizer (``save_pretrained`` adds config and weights)."""
        self.tokenizer.save_pretrained(str(directory))

    @classmethod
    def from_saved_config(cls, config: AutoUIConfig, directory: Path) -> AutoUIPolicy:
        """A policy with fresh weights over the saved tokenizer."""
        return cls(config, load_tokenizer(directory))


# ---------------------------------------------------------------------------------------------- Auto-UI-Base

# Auto-UI names its fusion layers image_dense / mha_layer / gate_dense (at the top level, or inside the
# encoder in MM-CoT-style code); everything under these roots is T5.
FUSION_NAME_MAP = {"image_dense": "fusion.image_proj", "mha_layer": "fusion.attention", "gate_dense": "fusion.gate"}
T5_ROOTS = ("shared", "encoder", "decoder", "lm_head")
WRAPPER_PREFIXES = ("base_model.model.", "module.", "model.", "policy.", "agent.")


@dataclass
class MappedCheckpoint:
    """A checkpoint's tensors renamed to this policy's parameter names, and the keys that matched nothing."""

    weights: dict[str, torch.Tensor]
    ignored: list[str]
    renamed: dict[str, str]  # checkpoint key -> policy key


def _strip_wrappers(key: str) -> str:
    """Remove training-wrapper prefixes (DDP's ``module.``, ``model.`` ...) from a checkpoint key."""
    while key.startswith(WRAPPER_PREFIXES):
        prefix = next(p for p in WRAPPER_PREFIXES if key.startswith(p))
        key = key[len(prefix):]
    return key


def map_autoui_state_dict(state: Mapping[str, torch.Tensor]) -> MappedCheckpoint:
    """Rename an Auto-UI checkpoint's keys to ``AutoUIPolicy`` names: fusion layers by name, T5 under ``t5.``."""
    weights: dict[str, torch.Tensor] = {}
    ignored: list[str] = []
    renamed: dict[str, str] = {}
    for key, tensor in state.items():
        name = _strip_wrappers(key)
        parts = name.split(".")
        fusion_at = next((index for index, part in enumerate(parts) if part in FUSION_NAME_MAP), None)
        if fusion_at is not None:
            target = ".".join([FUSION_NAME_MAP[parts[fusion_at]], *parts[fusion_at + 1:]])
        elif parts[0] in T5_ROOTS:
            target = "t5." + name
        else:
            ignored.append(key)
            continue
        weights[target] = tensor
        renamed[key] = target
    return MappedCheckpoint(weights, ignored, renamed)


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, OSError) as error:
        raise CheckpointError(f"{path} is not a readable safetensors file ({error}); re-download or re-save "
                              "the checkpoint") from None


def _read_torch_bin(path: Path) -> dict[str, torch.Tensor]:
    """A ``.bin`` state dict through torch's restricted (weights-only) unpickler."""
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as error:  # the restricted unpickler raises several types
        raise CheckpointError(f"{path}: not a weights-only torch state dict ({unsafe_load_reason(error)})") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: expected a state dict, found {type(state).__name__}")
    return dict(state.get("state_dict", state))


WEIGHT_READERS: dict[str, Callable[[Path], dict[str, torch.Tensor]]] = {
    ".safetensors": _read_safetensors,
    ".bin": _read_torch_bin,
    ".pt": _read_torch_bin,
    ".pth": _read_torch_bin,
}
SINGLE_FILE_NAMES = ("model.safetensors", "pytorch_model.bin")
SHARD_INDEX_NAMES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")


def _weight_files(directory: Path) -> list[Path]:
    """The checkpoint's weight files: a single file, the shards of an index, or the only weight file there."""
    for name in SINGLE_FILE_NAMES:
        if (directory / name).is_file():
            return [directory / name]
    for name in SHARD_INDEX_NAMES:
        if (directory / name).is_file():
            weight_map = json.loads((directory / name).read_text()).get("weight_map", {})
            return [directory / shard for shard in sorted(set(weight_map.values()))]
    candidates = sorted(p for p in directory.iterdir() if p.suffix in WEIGHT_READERS and p.is_file())
    if len(candidates) == 1:
        return candidates
    raise CheckpointError(
        f"Auto-UI checkpoint {str(directory)!r}: found {len(candidates)} weight files "
        f"({[p.name for p in candidates]}); expected model.safetensors, pytorch_model.bin or a shard index"
    )


def read_checkpoint_weights(directory: str | os.PathLike) -> dict[str, torch.Tensor]:
    """All tensors of a local checkpoint directory (safetensors or weights-only ``.bin``, sharded or not)."""
    path = require_directory(directory, what="Auto-UI checkpoint")
    state: dict[str, torch.Tensor] = {}
    for file in _weight_files(path):
        if not file.is_file():
            raise CheckpointError(f"Auto-UI checkpoint: shard {file} listed in the index is missing")
        state.update(WEIGHT_READERS[file.suffix](file))
    return state


T5_CONFIG_FIELDS = {  # AutoUIConfig field -> T5 config.json key
    "d_model": "d_model", "num_layers": "num_layers", "num_decoder_layers": "num_decoder_layers",
    "num_heads": "num_heads", "d_kv": "d_kv", "d_ff": "d_ff", "feed_forward_proj": "feed_forward_proj",
    "vocab_size": "vocab_size", "dropout": "dropout_rate", "layer_norm_epsilon": "layer_norm_epsilon",
    "relative_attention_num_buckets": "relative_attention_num_buckets",
    "relative_attention_max_distance": "relative_attention_max_distance",
    "tie_word_embeddings": "tie_word_embeddings",
}


def _config_from_checkpoint(directory: Path, mapped: MappedCheckpoint, num_screens: int) -> AutoUIConfig:
    """AutoUIConfig from the checkpoint's T5 config.json and the width of its image projection."""
    config_path = directory / "config.json"
    if not config_path.is_file():
        raise CheckpointError(
            f"Auto-UI checkpoint {str(directory)!r} has no config.json (the T5 config it was saved with)"
        )
    values = json.loads(config_path.read_text())
    t5_values = {field_name: values[key] for field_name, key in T5_CONFIG_FIELDS.items() if key in values}
    t5_values.setdefault("tie_word_embeddings", True)  # T5's default when the file omits it
    projection = mapped.weights.get("fusion.image_proj.weight")
    if projection is None:
        raise CheckpointError(
            f"Auto-UI checkpoint {str(directory)!r} has no image_dense.weight: it is a plain T5, not Auto-UI "
            "(its fusion layers image_dense / mha_layer / gate_dense are missing)"
        )
    return AutoUIConfig(image_feature_dim=int(projection.shape[1]), num_screens=num_screens, **t5_values)


def _tied_names(module: nn.Module) -> dict[str, set[str]]:
    """For each parameter name, every name that refers to the same tensor (tied embeddings)."""
    by_tensor: dict[int, set[str]] = {}
    for name, parameter in module.named_parameters(remove_duplicate=False):
        by_tensor.setdefault(id(parameter), set()).add(name)
    return {name: names for names in by_tensor.values() for name in names}


def load_autoui_base(local_dir: str | os.PathLike, *, tokenizer: PreTrainedTokenizerBase | None = None,
                     num_screens: int = 2, lora_rank: int = 0, strict: bool = True) -> AutoUIPolicy:
    """Auto-UI-Base (T5 + fusion weights) from a local directory; never downloads.

    The directory needs config.json, the weights (model.safetensors or pytorch_model.bin, read weights-only)
    and a tokenizer (or pass ``tokenizer``). Missing or unexpected keys raise a CheckpointError listing them
    (``strict=False`` logs them instead).
    """
    directory = require_directory(local_dir, what="load_autoui_base")
    mapped = map_autoui_state_dict(read_checkpoint_weights(directory))
    config = _config_from_checkpoint(directory, mapped, num_screens)
    tokenizer = tokenizer or _load_checkpoint_tokenizer(directory)
    ensure_null_token(tokenizer)
    policy = AutoUIPolicy(config, tokenizer)
    try:
        missing, unexpected = policy.load_state_dict(mapped.weights, strict=False)
    except RuntimeError as error:
        raise CheckpointError(f"Auto-UI checkpoint {str(directory)!r}: tensor shapes do not fit: {error}") from error
    tied = _tied_names(policy)
    loaded = set(mapped.weights)
    really_missing = [name for name in missing if not (tied.get(name, {name}) & loaded)]
    problems = really_missing or unexpected or mapped.ignored
    report = (f"missing {preview_names(really_missing)}, unexpected {preview_names(list(unexpected))}, "
              f"unrecognised {preview_names(mapped.ignored)}")
    if problems and strict:
        raise CheckpointError(f"Auto-UI checkpoint {str(directory)!r} does not match AutoUIPolicy: {report}")
    if problems:
        logger.warning("Auto-UI checkpoint %s loaded with mismatches: %s", directory, report)
    if lora_rank > 0:
        policy.config = dataclasses.replace(policy.config, lora_rank=lora_rank)
        policy._attach_lora()
    return policy


def _load_checkpoint_tokenizer(directory: Path) -> PreTrainedTokenizerBase:
    """The checkpoint's own tokenizer from local files, with a clear error when it cannot be read."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
    except (OSError, ValueError, ImportError) as error:
        raise CheckpointError(
            f"Auto-UI checkpoint {str(directory)!r}: could not load its tokenizer ({error}); add tokenizer.json "
            "(a T5 fast tokenizer) to the directory, install sentencepiece for spiece.model, or pass tokenizer="
        ) from error
