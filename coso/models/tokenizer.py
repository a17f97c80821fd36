"""The in-process tokenizer: a small byte-level BPE trained in a second on AutoUI-grammar text, no download.

The policy, the built-in critic encoders and the causal classifier all share it, so that the causal
model's counterfactual token weights line up with the policy's action tokens. Special tokens:
``<pad>`` (id 0, also T5's decoder start), ``</s>`` (end of sequence, appended to every encoded text as
T5 does), ``<unk>`` and ``<null>``, the token that replaces action tokens in counterfactual inputs.

Pre-tokenisation keeps the grammar compact: words keep their underscores (``STATUS_TASK_COMPLETE`` can be
one token), every digit is its own token (a coordinate is ``0 . 1 9 4 1``) and punctuation runs such as
``": "[`` can merge, so one formatted action is about 40-80 tokens.
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerBase, PreTrainedTokenizerFast

from coso.actions import Action, ActionType, build_prompt, format_action
from coso.errors import CheckpointError, ConfigError

PAD_TOKEN = "<pad>"
EOS_TOKEN = "</s>"
UNK_TOKEN = "<unk>"
NULL_TOKEN = "<null>"
SPECIAL_TOKENS = (PAD_TOKEN, EOS_TOKEN, UNK_TOKEN, NULL_TOKEN)  # ids 0, 1, 2, 3 in a trained tokenizer

# Number words get their own tokens (tasks say "set an alarm for seven", "the second result").
_NUMBER_WORDS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred thousand "
    "first second third fourth fifth last"
)

# One pre-token is: a word with its leading space (letters and underscores), one digit (with its leading
# space), a run of punctuation (with its leading space), or whitespace.
_PRETOKEN_PATTERN = r" ?[\p{L}_]+| ?\p{N}| ?[^\s\p{L}\p{N}_]+|\s+"
# The same, but a word never carries the space before it (the space is a token of its own): a word is then
# one token id wherever it stands, so copying the goal's words into typed_text is an identity map.
_PRETOKEN_PATTERN_SEPARATE_SPACES = r"[\p{L}_]+| ?\p{N}| ?[^\s\p{L}\p{N}_]+|\s+"
PRETOKEN_PATTERNS = {"attached": _PRETOKEN_PATTERN, "separate": _PRETOKEN_PATTERN_SEPARATE_SPACES}


@dataclass(frozen=True)
class TokenizerConfig:
    """How the in-process tokenizer is trained: vocabulary size, merge threshold and the default corpus."""

    vocab_size: int = 2048
    min_frequency: int = 2
    model_max_length: int = 512
    corpus_seed: int = 0
    corpus_actions: int = 3000
    corpus_tasks: int = 600  # task sentences per task set for the default corpus (drawn by the composition root)
    # "attached": a word's token includes its leading space (GPT-2 style, the default); "separate": words are
    # the same token after a space, a quote or at the start (the goal's words and the typed text share ids)
    word_spaces: str = "attached"

    def __post_init__(self) -> None:
        if self.vocab_size < len(SPECIAL_TOKENS) + 256:
            raise ConfigError(
                f"tokenizer.vocab_size={self.vocab_size} is too small: a byte-level BPE needs at least "
                f"{len(SPECIAL_TOKENS) + 256} (256 bytes + the special tokens); use about 2048"
            )
        if self.word_spaces not in PRETOKEN_PATTERNS:
            raise ConfigError(
                f"tokenizer.word_spaces={self.word_spaces!r} is not one of {sorted(PRETOKEN_PATTERNS)}"
            )
        if self.min_frequency < 1 or self.model_max_length < 8:
            raise ConfigError(
                f"tokenizer: min_frequency must be >= 1 and model_max_length >= 8, "
                f"got {self.min_frequency} and {self.model_max_length}"
            )


@dataclass(frozen=True)
class TaskCorpus:
    """The task part of the default corpus: task sentences and the strings an agent types for them."""

    texts: tuple[str, ...] = ()
    typed: tuple[str, ...] = ()


def random_action(rng: random.Random, typed_texts: Sequence[str]) -> Action:
    """A random action of a uniformly drawn type: taps and swipes anywhere, text drawn from ``typed_texts``."""
    action_type = rng.choice(list(ActionType))
    if action_type == ActionType.DualPoint:
        touch = (rng.random(), rng.random())
        lift = touch if rng.random() < 0.7 else (rng.random(), rng.random())
        return Action(action_type, touch, lift)
    if action_type == ActionType.Type:
        return Action.type_text(rng.choice(typed_texts))
    return Action(action_type)


def random_plan(rng: random.Random, action: Action) -> list[ActionType]:
    """An Action Plan preamble: the action's own type followed by 0-3 random types, as AutoUI writes them."""
    return [action.type] + [rng.choice(list(ActionType)) for _ in range(rng.randint(0, 3))]


def _typed_text_candidates(task_texts: Sequence[str]) -> list[str]:
    """Strings an agent types, from free sentences: quoted queries and 1-3 word spans."""
    quoted = [m for text in task_texts for m in re.findall(r'"([^"]+)"', text)]
    spans = []
    for text in task_texts:
        words = re.findall(r"[\w'.-]+", text.lower())
        for start in range(0, len(words), 2):
            spans.append(" ".join(words[start:start + 3]))
    return quoted + spans


def default_corpus(tasks: TaskCorpus, seed: int = 0, n_actions: int = 3000,
                   extra_texts: Iterable[str] = ()) -> Iterator[str]:
    """AutoUI-grammar training text: task sentences, formatted random actions, and prompts built from both.

    Task sentences are ``tasks.texts`` (the composition root draws them from the task generator) plus
    ``extra_texts`` (e.g. real AitW task lists); every action type appears, with random plans, taps,
    swipes, and typed text drawn from ``tasks.typed`` and from the extra sentences.
    """
    rng = random.Random(seed)
    extra = [str(text) for text in extra_texts]
    task_texts = list(tasks.texts) + extra
    typed_texts = list(tasks.typed) + _typed_text_candidates(extra)
    typed_texts = typed_texts or ["search"]
    yield from task_texts
    for _ in range(4):
        yield _NUMBER_WORDS
        yield _NUMBER_WORDS.title()
    previous: str | None = None
    for index in range(n_actions):
        action = random_action(rng, typed_texts)
        text = format_action(action, random_plan(rng, action))
        yield text
        task = task_texts[index % len(task_texts)] if task_texts else ""
        yield build_prompt(task, previous)
        previous = None if action.ends_episode else text


def _backend_tokenizer(config: TokenizerConfig) -> tuple[Tokenizer, trainers.BpeTrainer]:
    """An untrained byte-level BPE with this project's pre-tokenisation, and its trainer."""
    tokenizer = Tokenizer(models.BPE(unk_token=UNK_TOKEN))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(PRETOKEN_PATTERNS[config.word_spaces]), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=config.vocab_size,
        min_frequency=config.min_frequency,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    return tokenizer, trainer


def train_tokenizer(texts: Iterable[str], config: TokenizerConfig = TokenizerConfig()) -> PreTrainedTokenizerFast:
    """Train the byte-level BPE on ``texts`` and wrap it as a transformers fast tokenizer."""
    backend, trainer = _backend_tokenizer(config)
    backend.train_from_iterator(texts, trainer)
    eos_id = backend.token_to_id(EOS_TOKEN)
    backend.post_processor = processors.TemplateProcessing(
        single=f"$A {EOS_TOKEN}", pair=f"$A {EOS_TOKEN} $B {EOS_TOKEN}", special_tokens=[(EOS_TOKEN, eos_id)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token=PAD_TOKEN,
        eos_token=EOS_TOKEN,
        unk_token=UNK_TOKEN,
        extra_special_tokens=[NULL_TOKEN],
        model_max_length=config.model_max_length,
        clean_up_tokenization_spaces=False,
        padding_side="right",
    )


def build_tokenizer(config: TokenizerConfig, tasks: TaskCorpus,
                    extra_texts: Iterable[str] = ()) -> PreTrainedTokenizerFast:
    """``train_tokenizer`` on ``default_corpus`` of ``tasks`` (deterministic for a config and a corpus)."""
    return train_tokenizer(default_corpus(tasks, config.corpus_seed, config.corpus_actions, extra_texts), config)


def require_tokenizer(tokenizer: PreTrainedTokenizerBase | None, what: str) -> PreTrainedTokenizerBase:
    """``tokenizer``, or a ConfigError saying that ``what`` needs one (models never train the default)."""
    if tokenizer is None:
        raise ConfigError(
            f"{what} needs a tokenizer: pass the policy's, or build the in-process one with "
            "coso.training.tokenizer.build_default_tokenizer(config.tokenizer)"
        )
    return tokenizer


def load_tokenizer(directory: str | os.PathLike) -> PreTrainedTokenizerBase:
    """A tokenizer saved with ``save_pretrained``, from a local directory only; it must have a ``<null>`` token."""
    if not os.path.isdir(directory):
        raise CheckpointError(f"tokenizer: directory {str(directory)!r} does not exist (check the path)")
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
    except (OSError, ValueError) as error:
        raise CheckpointError(
            f"tokenizer: could not load a tokenizer from {str(directory)!r} ({error}); "
            "the directory needs tokenizer.json and tokenizer_config.json written by save_pretrained"
        ) from error
    null_token_id(tokenizer)
    return tokenizer


def null_token_id(tokenizer: PreTrainedTokenizerBase) -> int:
    """The id of ``<null>``, the counterfactual mask token; a ConfigError when the tokenizer has none."""
    token_id = tokenizer.convert_tokens_to_ids(NULL_TOKEN)
    if token_id is None or token_id == tokenizer.unk_token_id:
        raise ConfigError(
            f"the tokenizer has no {NULL_TOKEN} token; call coso.models.tokenizer.ensure_null_token(tokenizer) "
            "on tokenizers that were not trained by coso (for example a T5 checkpoint's)"
        )
    return int(token_id)  # type: ignore[arg-type]  # one token converts to one id (stubs: the list overload's union)


def ensure_null_token(tokenizer: PreTrainedTokenizerBase) -> int:
    """Add ``<null>`` as a special token where it is missing (e.g. a T5 tokenizer) and return its id."""
    if NULL_TOKEN not in tokenizer.get_vocab():
        tokenizer.add_special_tokens({"extra_special_tokens": [NULL_TOKEN]}, replace_extra_special_tokens=False)
    return null_token_id(tokenizer)
