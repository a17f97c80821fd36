"""The in-process tokenizer: training, special tokens, compactness on the AutoUI grammar, save/reload."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from coso.actions import Action, ActionType, build_prompt, format_action, parse_action
from coso.env.task_generator import generate_tasks
from coso.errors import CheckpointError, ConfigError
from coso.models.tokenizer import (
    NULL_TOKEN,
    TokenizerConfig,
    default_corpus,
    ensure_null_token,
    load_tokenizer,
    null_token_id,
    random_action,
)
from coso.training.tokenizer import build_default_tokenizer, default_task_corpus

TASKS = [
    'Go to newegg.com, search for "macbook air", and select the first entry',
    'Go to bestbuy.com, search for "logitech g910"',
    "What's the weather like in Chicago?",
    "Open the calculator app",
    "Turn off wifi",
    "Set an alarm for seven thirty",
]
CONFIG = TokenizerConfig(vocab_size=1024, corpus_actions=1500, corpus_tasks=20)


@pytest.fixture(scope="module")
def tokenizer() -> PreTrainedTokenizerFast:
    return build_default_tokenizer(CONFIG, extra_texts=TASKS)


def every_type_actions() -> list[Action]:
    """One action of each type, with a tap, a swipe and typed text."""
    return [
        Action(ActionType.Idle), Action.tap(0.1941, 0.6172), Action.swipe((0.5, 0.8), (0.5, 0.2)),
        Action.type_text("macbook air"), Action(ActionType.GoBack), Action(ActionType.GoHome),
        Action(ActionType.Enter), Action(ActionType.TaskComplete), Action(ActionType.TaskImpossible),
    ]


def test_special_tokens_have_fixed_ids(tokenizer):
    assert (tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id) == (0, 1, 2)
    assert null_token_id(tokenizer) == 3
    assert tokenizer.convert_ids_to_tokens(3) == NULL_TOKEN
    assert 256 + 4 < len(tokenizer) <= CONFIG.vocab_size


def test_encoding_appends_eos_and_decodes_back_exactly(tokenizer):
    for action in every_type_actions():
        text = format_action(action)
        ids = tokenizer(text)["input_ids"]
        assert ids[-1] == tokenizer.eos_token_id and ids.count(tokenizer.eos_token_id) == 1
        decoded = tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)
        assert decoded == text
        assert parse_action(decoded).action == action


def test_action_text_is_compact(tokenizer):
    rng = random.Random(7)
    lengths = [len(tokenizer(format_action(random_action(rng, ["macbook air"])))["input_ids"]) for _ in range(300)]
    assert 30 <= min(lengths) and max(lengths) <= 80, (min(lengths), max(lengths))
    grammar_words = ("STATUS_TASK_COMPLETE", "DUAL_POINT", "touch_point", "lift_point", "typed_text", "action_type")
    for grammar_word in grammar_words:
        assert len(tokenizer(grammar_word, add_special_tokens=False)["input_ids"]) == 1, grammar_word
    coordinate = tokenizer("0.1941", add_special_tokens=False)["input_ids"]
    assert tokenizer.convert_ids_to_tokens(coordinate) == ["0", ".", "1", "9", "4", "1"]


def test_null_token_is_never_split_and_survives_in_text(tokenizer):
    ids = tokenizer(f"Action {NULL_TOKEN} Plan", add_special_tokens=False)["input_ids"]
    assert ids.count(null_token_id(tokenizer)) == 1


def test_default_corpus_is_deterministic_and_covers_every_action_type():
    tasks = default_task_corpus(TokenizerConfig(corpus_seed=3, corpus_tasks=5))
    first = list(default_corpus(tasks, seed=3, n_actions=400, extra_texts=TASKS))
    second = list(default_corpus(tasks, seed=3, n_actions=400, extra_texts=TASKS))
    other = list(default_corpus(default_task_corpus(TokenizerConfig(corpus_seed=4, corpus_tasks=5)), seed=4,
                                n_actions=400, extra_texts=TASKS))
    assert first == second and first != other
    types = {parse_action(text).action.type for text in first if parse_action(text).valid}
    assert types == set(ActionType)
    prompts = [text for text in first if text.startswith("Previous Actions:")]
    assert prompts and all(text.endswith("</s>") for text in prompts)
    assert any(text.startswith("Previous Actions: None Goal: ") for text in prompts)
    generated = [task.text for task_set in ("general", "webshop") for task in generate_tasks(5, 3, task_set)]
    sentences = set(generated) | set(TASKS)
    assert set(generated) <= set(first) and set(TASKS) <= set(first)
    assert all(text.split(" Goal: ", 1)[1].removesuffix("</s>") in sentences for text in prompts)


def test_save_and_reload_round_trip(tokenizer, tmp_path: Path):
    tokenizer.save_pretrained(str(tmp_path))
    reloaded = load_tokenizer(tmp_path)
    also = PreTrainedTokenizerFast.from_pretrained(str(tmp_path))
    texts = [format_action(a) for a in every_type_actions()] + [build_prompt(t) for t in TASKS]
    for candidate in (reloaded, also):
        assert candidate(texts)["input_ids"] == tokenizer(texts)["input_ids"]
        assert null_token_id(candidate) == null_token_id(tokenizer)
        assert candidate.pad_token_id == tokenizer.pad_token_id and len(candidate) == len(tokenizer)


def test_training_is_deterministic():
    small = TokenizerConfig(vocab_size=600, corpus_actions=300, corpus_tasks=5)
    one = build_default_tokenizer(small, extra_texts=TASKS)
    two = build_default_tokenizer(small, extra_texts=TASKS)
    assert one.get_vocab() == two.get_vocab()


def test_ensure_null_token_adds_it_to_a_foreign_tokenizer():
    backend = Tokenizer(models.WordLevel({"<pad>": 0, "</s>": 1, "<unk>": 2, "hello": 3}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    foreign = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
    with pytest.raises(ConfigError, match="ensure_null_token"):
        null_token_id(foreign)
    token_id = ensure_null_token(foreign)
    assert token_id == 4 and ensure_null_token(foreign) == 4
    assert foreign(f"hello {NULL_TOKEN}", add_special_tokens=False)["input_ids"] == [3, 4]


def test_bad_config_and_missing_directory_give_clear_errors(tmp_path: Path):
    with pytest.raises(ConfigError, match="vocab_size"):
        TokenizerConfig(vocab_size=100)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_tokenizer(tmp_path / "nowhere")


def test_separate_word_spaces_give_a_goal_word_and_its_typed_copy_the_same_id() -> None:
    separate = build_default_tokenizer(TokenizerConfig(vocab_size=1024, corpus_actions=1500, corpus_tasks=20,
                                                       word_spaces="separate"), extra_texts=TASKS)
    attached = build_default_tokenizer(CONFIG, extra_texts=TASKS)
    goal = "Go to bestbuy.com, search for logitech"
    typed = format_action(Action.type_text("bestbuy.com"), decimals=2)

    def ids_of(tokenizer, text: str, word: str) -> set[int]:
        tokens = tokenizer(text, add_special_tokens=False)["input_ids"]
        return {i for i in tokens if tokenizer.decode([i]).strip() == word}

    assert ids_of(separate, goal, "bestbuy") == ids_of(separate, typed, "bestbuy") != set()
    assert ids_of(attached, goal, "bestbuy") != ids_of(attached, typed, "bestbuy")
    for text in (goal, typed, build_prompt(goal, typed)):  # lossless either way
        assert separate.decode(separate(text, add_special_tokens=False)["input_ids"]) == text


def test_unknown_word_spaces_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="word_spaces"):
        TokenizerConfig(word_spaces="glued")
