"""The composition root of the in-process tokenizer: the task generator's sentences feed the models' BPE corpus."""

from __future__ import annotations

from collections.abc import Iterable

from transformers import PreTrainedTokenizerFast

from coso.env.task_generator import corpus_tasks
from coso.models.tokenizer import TaskCorpus, TokenizerConfig, build_tokenizer


def default_task_corpus(config: TokenizerConfig) -> TaskCorpus:
    """``config.corpus_tasks`` generated sentences per task set (seed ``corpus_seed``) and their typed strings."""
    texts, typed = corpus_tasks(config.corpus_tasks, config.corpus_seed)
    return TaskCorpus(tuple(texts), tuple(typed))


def build_default_tokenizer(config: TokenizerConfig = TokenizerConfig(),
                            extra_texts: Iterable[str] = ()) -> PreTrainedTokenizerFast:
    """The built-in tokenizer: ``build_tokenizer`` on the default task corpus (deterministic for a config)."""
    return build_tokenizer(config, default_task_corpus(config), extra_texts)
