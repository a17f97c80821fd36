"""CoSo's causal model: a small BERT-style classifier from an action text's tokens to its action type.

It reads the policy's own token ids (same tokenizer, EOS included), so the counterfactual weights computed
by replacing tokens with ``<null>`` line up one-to-one with the policy's action tokens. Labels come from the
domain's action grammar (``coso.actions.ActionGrammar``; the phone's parses AutoUI text and gives unparseable
texts ``TaskImpossible``, as the reference maps them), and ``num_classes`` is its number of action classes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from transformers import PreTrainedTokenizerBase

from coso.actions import AUTOUI_GRAMMAR, NUM_ACTION_TYPES, ActionGrammar, ActionType
from coso.errors import ConfigError
from coso.models.serialization import SavedModel
from coso.models.text_encoder import SmallEncoderConfig, SmallTransformerEncoder, mean_pool
from coso.models.tokenizer import TokenizerConfig, load_tokenizer, null_token_id, require_tokenizer

UNPARSEABLE_LABEL = ActionType.TaskImpossible


@dataclass
class ActionTypeLabels:
    """Action-type labels of texts (``[B]`` long) and which texts parsed (``[B]`` bool)."""

    labels: torch.Tensor
    valid: torch.Tensor


def action_type_labels(texts: Sequence[str], grammar: ActionGrammar = AUTOUI_GRAMMAR) -> ActionTypeLabels:
    """Classify each text with the domain's grammar: its action class, or the grammar's unparseable class (with
    ``valid`` False) when it does not parse (the phone's: TaskImpossible)."""
    classes = [grammar.classify(text) for text in texts]
    labels = [label if label is not None else int(grammar.unparseable_class) for label in classes]
    valid = torch.tensor([label is not None for label in classes], dtype=torch.bool)
    return ActionTypeLabels(torch.tensor(labels, dtype=torch.long), valid)


@dataclass(frozen=True)
class ActionTypeClassifierConfig:
    """The causal model's sizes: the reference's hidden 128, 4 heads, 3 layers, FFN 512."""

    encoder: SmallEncoderConfig = field(default_factory=lambda: SmallEncoderConfig(max_positions=256))
    num_classes: int = NUM_ACTION_TYPES
    init_seed: int = 0
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)

    def __post_init__(self) -> None:
        if self.num_classes < 2:
            raise ConfigError(f"causal model: num_classes must be >= 2, got {self.num_classes}")


@dataclass
class TokenBatch:
    """Token ids and attention mask of a batch of texts, ``[B, T]`` each."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor


class ActionTypeClassifier(SavedModel):
    """P(action type | action tokens): embeddings -> transformer -> mean pool over non-pad tokens -> logits."""

    CONFIG_NAME = "causal_config.json"
    CONFIG_CLASS = ActionTypeClassifierConfig

    def __init__(self, config: ActionTypeClassifierConfig, tokenizer: PreTrainedTokenizerBase) -> None:
        super().__init__()
        null_token_id(tokenizer)
        self.config = config
        self.tokenizer = tokenizer
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.init_seed)
            self.encoder = SmallTransformerEncoder(config.encoder, len(tokenizer), tokenizer.pad_token_id)
            self.classifier = nn.Linear(config.encoder.hidden, config.num_classes)

    @classmethod
    def from_config(cls, config: ActionTypeClassifierConfig | None = None,
                    tokenizer: PreTrainedTokenizerBase | None = None) -> ActionTypeClassifier:
        """A fresh classifier over ``tokenizer`` (pass the policy's; a ConfigError when none is given)."""
        config = config or ActionTypeClassifierConfig()
        return cls(config, require_tokenizer(tokenizer, "ActionTypeClassifier.from_config"))

    @property
    def null_token_id(self) -> int:
        """The ``<null>`` id used to blank tokens in counterfactual inputs."""
        return null_token_id(self.tokenizer)

    @property
    def device(self) -> torch.device:
        """Where the weights live."""
        return self.classifier.weight.device

    def tokenize(self, texts: Sequence[str]) -> TokenBatch:
        """Token ids as the policy scores them (EOS appended, right-padded), truncated to max_positions."""
        batch = self.tokenizer(list(texts), padding=True, padding_side="right", truncation=True,
                               max_length=self.config.encoder.max_positions, return_tensors="pt")
        return TokenBatch(batch["input_ids"].to(self.device), batch["attention_mask"].to(self.device))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Action-type logits ``[B, num_classes]``."""
        states = self.encoder(input_ids, attention_mask)
        return self.classifier(mean_pool(states, attention_mask))

    def probabilities(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Action-type probabilities ``[B, num_classes]``."""
        return self(input_ids, attention_mask).softmax(dim=-1)

    def save_architecture(self, directory: Path) -> None:
        """The tokenizer (``save_pretrained`` adds config and weights)."""
        self.tokenizer.save_pretrained(str(directory))

    @classmethod
    def from_saved_config(cls, config: ActionTypeClassifierConfig, directory: Path) -> ActionTypeClassifier:
        """A classifier with fresh weights over the saved tokenizer."""
        return cls(config, load_tokenizer(directory))
