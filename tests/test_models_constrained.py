"""Grammar-constrained decoding: the automaton accepts exactly the bounded action grammar, and constrained
generation never writes an unparseable action, even from random weights at a high temperature."""

from __future__ import annotations

import random

import pytest
import torch

from coso.actions import Action, ActionType, format_action, parse_action
from coso.errors import ConfigError
from coso.agents.autoui import AutoUIAgent
from coso.env.base import Observation
from coso.models.autoui import AutoUIConfig, AutoUIPolicy
from coso.models.constrained import AutoUIGrammar, GrammarConstraint
from coso.models.tokenizer import TokenizerConfig, random_action, random_plan
from coso.training.tokenizer import build_default_tokenizer

torch.set_num_threads(1)

TINY = AutoUIConfig(d_model=32, num_layers=1, num_decoder_layers=1, num_heads=2, d_kv=16, d_ff=64,
                    image_feature_dim=8, init_seed=3)


@pytest.fixture(scope="module")
def tokenizer():
    return build_default_tokenizer(TokenizerConfig(vocab_size=600, corpus_actions=400, corpus_tasks=5),
                                   extra_texts=['Go to bestbuy.com, search for "usb c hub"'])


@pytest.fixture(scope="module")
def constraint(tokenizer) -> GrammarConstraint:
    return GrammarConstraint(tokenizer)


@pytest.mark.parametrize("decimals", [1, 2, 4])
def test_grammar_accepts_every_formatted_action(decimals: int) -> None:
    grammar = AutoUIGrammar()
    rng = random.Random(decimals)
    for _ in range(300):
        action = random_action(rng, ["macbook air", "target.com", "it's 5 o'clock"])
        text = format_action(action, random_plan(rng, action), decimals=decimals)
        assert grammar.accepts(grammar.advance(grammar.start(), text)), text


@pytest.mark.parametrize("text", [
    'Action Plan: [TYPE] ; Action Decision: "action_type": "DUAL_POINT", "touch_point": "[0.5, 0.5, 0.5]"',
    'Action Plan: [TYPE] ; Action Decision: "action_type": "DUAL_POINT", "touch_point": "[-1.0, 0.5]"',
    'Action Plan: [TYPE] ; Action Decision: "action_type": "DUAL_POINT", "touch_point": "[1.5',
    'Action Plan: [TYPE] ; Action Decision: "action_type": "DUAL_POINT", "touch_point": "[0.87777',
    'Action Plan: [TYPO]',
    'Action Plan: [TYPE] ; Action Decision: "action_type": "SWIPE"',
])
def test_grammar_rejects_what_the_parser_refuses(text: str) -> None:
    grammar = AutoUIGrammar()
    assert grammar.advance(grammar.start(), text) is None


def test_grammar_completion_closes_any_prefix() -> None:
    grammar = AutoUIGrammar()
    full = format_action(Action.tap(0.25, 0.75), [ActionType.DualPoint, ActionType.TaskComplete], decimals=2)
    for cut in range(len(full) + 1):
        state = grammar.advance(grammar.start(), full[:cut])
        assert state is not None
        closed = full[:cut] + grammar.completion(state)
        assert grammar.accepts(grammar.advance(grammar.start(), closed)), closed
        assert parse_action(closed).valid, closed


def test_constraint_masks_only_grammar_tokens(tokenizer, constraint: GrammarConstraint) -> None:
    start_mask = constraint.mask([constraint.start()])[0]
    allowed = [tokenizer.decode([i]) for i in torch.nonzero(start_mask).flatten().tolist()]
    assert allowed and all("Action Plan: [".startswith(text) or text.startswith("Action") for text in allowed)
    assert not start_mask[tokenizer.eos_token_id]


@pytest.mark.parametrize("temperature,max_new_tokens", [(1.0, 128), (4.0, 128), (4.0, 12)])
def test_constrained_generation_always_parses(tokenizer, constraint, temperature: float, max_new_tokens: int) -> None:
    policy = AutoUIPolicy(TINY, tokenizer).eval()
    generator = torch.Generator().manual_seed(0)
    prompts = ['Previous Actions: None Goal: Go to bestbuy.com, search for "usb c hub"</s>'] * 12
    features = torch.randn(12, 16, generator=generator)
    free = policy.generate(prompts, features, temperature=temperature, max_new_tokens=max_new_tokens,
                           generator=torch.Generator().manual_seed(1))
    texts = policy.generate(prompts, features, temperature=temperature, max_new_tokens=max_new_tokens,
                            generator=torch.Generator().manual_seed(1), constraint=constraint)
    assert not any(parse_action(text).valid for text in free)  # random weights: unconstrained text is noise
    assert all(parse_action(text).valid for text in texts), [t for t in texts if not parse_action(t).valid]
    greedy = policy.generate(prompts[:2], features[:2], do_sample=False, constraint=constraint)
    assert all(parse_action(text).valid for text in greedy)


def test_agent_option_turns_the_constraint_on(tokenizer) -> None:
    import numpy as np

    policy = AutoUIPolicy(TINY, tokenizer).eval()
    observation = Observation(task="Open settings", screenshot=None, image_features=np.zeros(16, dtype=np.float32))
    agent = AutoUIAgent(policy, temperature=2.0, max_new_tokens=96, constrained=True,
                        generator=torch.Generator().manual_seed(0))
    texts = agent.act([observation] * 6, [None] * 6)
    assert all(parse_action(text).valid for text in texts)
    assert AutoUIAgent(policy, temperature=1.0, max_new_tokens=8).constraint is None


def test_exact_decimals_fix_how_many_digits_a_coordinate_has() -> None:
    grammar = AutoUIGrammar(exact_decimals=2)
    tap = format_action(Action.tap(0.62, 0.88), decimals=2)
    assert grammar.accepts(grammar.advance(grammar.start(), tap))
    prefix = 'Action Plan: [DUAL_POINT] ; Action Decision: "action_type": "DUAL_POINT", "touch_point": "[0.8'
    assert grammar.advance(grammar.start(), prefix + ", ") is None  # one digit is too few
    assert grammar.advance(grammar.start(), prefix + "88") is None  # three are too many
    assert grammar.advance(grammar.start(), prefix + "8, ") is not None
    closed = prefix + grammar.completion(grammar.advance(grammar.start(), prefix))
    assert parse_action(closed).valid and '"[0.80, 0.00]"' in closed
    home = format_action(Action(ActionType.GoHome), decimals=2)  # the -1.0 placeholder stays as it is
    assert grammar.accepts(grammar.advance(grammar.start(), home))


def _type_action(text: str) -> str:
    return format_action(Action(ActionType.Type, typed_text=text), decimals=2)


def test_require_typed_text_refuses_an_empty_type_and_nothing_else() -> None:
    free, strict = AutoUIGrammar(exact_decimals=2), AutoUIGrammar(exact_decimals=2, require_typed_text=True)
    empty_type, typed = _type_action(""), _type_action("usb c hub")
    assert free.accepts(free.advance(free.start(), empty_type))
    assert strict.advance(strict.start(), empty_type) is None
    assert strict.accepts(strict.advance(strict.start(), typed))
    for action in (Action.tap(0.62, 0.88), Action(ActionType.GoHome), Action(ActionType.Enter)):
        text = format_action(action, decimals=2)  # typed_text "" stays right for every other type
        assert strict.accepts(strict.advance(strict.start(), text)), text
    open_text = empty_type[: empty_type.rindex('"')]  # cut just before the closing quote of the empty text
    closed = open_text + strict.completion(strict.advance(strict.start(), open_text))
    assert parse_action(closed).valid and parse_action(closed).action.typed_text


def test_require_typed_text_needs_room_for_one_character() -> None:
    with pytest.raises(ConfigError, match="require_typed_text"):
        AutoUIGrammar(max_text_chars=0, require_typed_text=True)


def test_constrained_sampling_never_types_nothing_under_require_typed_text(tokenizer) -> None:
    policy = AutoUIPolicy(TINY, tokenizer).eval()
    prompts = ['Previous Actions: None Goal: Go to bestbuy.com, search for "usb c hub"</s>'] * 48
    features = torch.randn(48, 16, generator=torch.Generator().manual_seed(2))

    def typed_texts(require: bool) -> list[str]:
        grammar = AutoUIGrammar(exact_decimals=2, require_typed_text=require)
        texts = policy.generate(prompts, features, temperature=3.0, max_new_tokens=128,
                                generator=torch.Generator().manual_seed(5),
                                constraint=GrammarConstraint(tokenizer, grammar))
        actions = [parse_action(text).action for text in texts]
        assert all(action is not None for action in actions)
        return [action.typed_text for action in actions if action.type == ActionType.Type]

    assert "" in typed_texts(False)  # the case exists without the rule: random weights often close at once
    required = typed_texts(True)
    assert required and "" not in required
