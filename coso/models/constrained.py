"""Grammar-constrained decoding: a logits mask that only lets the policy write parseable AutoUI actions.

``AutoUIGrammar`` is a character-level prefix automaton of the text ``coso.actions.format_action``
writes::

    Action Plan: [T,T,...] ; Action Decision: "action_type": "T", "touch_point": "[y, x]", "lift_point": "[y, x]", "typed_text": "..."

with bounded fields (at most ``max_plan`` plan entries, at most ``max_decimals`` digits after a point's
decimal point, at most ``max_text_chars`` typed characters, no escapes), so every accepted text parses with
``coso.actions.parse_action``. A DUAL_POINT's coordinates must lie in [0, 1]; other types may also
write the reference's ``-1.0`` placeholder. With ``exact_decimals`` every in-screen coordinate has exactly
that many digits (the demonstrator's ``env.point_decimals``): the policy then chooses digits, never how
many, which removes its commonest failure (``0.8`` or ``0.8888`` for ``0.88``).

``GrammarConstraint`` lifts the automaton to the tokenizer's vocabulary: for each automaton state it
computes once which token ids keep the text inside the grammar (a token is allowed when every character
of its decoded text is accepted; EOS only where the action is complete) and caches the mask and the
successor states. Generation masks the logits with it and advances each row's state with the chosen
token. A row that reaches ``max_new_tokens`` unfinished is completed with the grammar's shortest closing
text, so the written action always parses.

What the trainers use is unchanged: actions are stored as text and re-scored teacher-forced under the
model's full (unconstrained) distribution, so the log-probs and entropies in the losses are the policy's
own, and the constraint only shapes which texts rollouts produce (see docs/learning-dynamics.md).
"""  # noqa: E501 (the grammar above is one line of model output, verbatim)

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import PreTrainedTokenizerBase

from coso.actions import POINT_DECIMALS, ActionType
from coso.errors import ConfigError

PLAN_NAMES = tuple(action_type.autoui_name for action_type in ActionType)
ACTION_NAMES = PLAN_NAMES
DUAL_POINT_NAME = ActionType.DualPoint.autoui_name
TYPE_NAME = ActionType.Type.autoui_name

# The fixed text between the fields, in order (format_action's spelling).
_PLAN_OPEN = "Action Plan: ["
_DECISION_OPEN = ' ; Action Decision: "action_type": "'
_TOUCH_OPEN = '", "touch_point": "['
_POINT_SEPARATOR = ", "
_LIFT_OPEN = ']", "lift_point": "['
_TEXT_OPEN = ']", "typed_text": "'

# Segment kinds of the grammar, in the order they are written.
_LITERAL, _PLAN, _CHOICE, _NUMBER, _STRING, _END = range(6)
_SEGMENTS: tuple[tuple[int, str], ...] = (
    (_LITERAL, _PLAN_OPEN),
    (_PLAN, ""),  # names separated by ",", closed by "]"
    (_LITERAL, _DECISION_OPEN),
    (_CHOICE, ""),  # the action type name
    (_LITERAL, _TOUCH_OPEN),
    (_NUMBER, ""),
    (_LITERAL, _POINT_SEPARATOR),
    (_NUMBER, ""),
    (_LITERAL, _LIFT_OPEN),
    (_NUMBER, ""),
    (_LITERAL, _POINT_SEPARATOR),
    (_NUMBER, ""),
    (_LITERAL, _TEXT_OPEN),
    (_STRING, ""),  # typed characters, closed by '"'
    (_END, ""),
)

# An automaton state: (segment index, progress inside the segment, the chosen action type's name, "" before it).
# Progress is an int offset for literals and strings, a text prefix for names and numbers, and
# (entries so far, current name prefix) for the plan.
State = tuple


@dataclass(frozen=True)
class AutoUIGrammar:
    """The character-level prefix automaton of one bounded AutoUI action text."""

    max_plan: int = 8
    max_decimals: int = POINT_DECIMALS
    max_text_chars: int = 48
    exact_decimals: int | None = None  # None: 1 to max_decimals digits
    # a TYPE action types at least one character: an empty TYPE changes nothing on the screen, so a policy
    # that writes it once writes it again on the same screen until the episode's horizon
    require_typed_text: bool = False

    def __post_init__(self) -> None:
        if self.max_plan < 1 or self.max_decimals < 1 or self.max_text_chars < 0:
            raise ConfigError(
                f"constrained decoding: max_plan and max_decimals must be >= 1 and max_text_chars >= 0, got "
                f"{self.max_plan}, {self.max_decimals}, {self.max_text_chars}"
            )
        if self.exact_decimals is not None and not 1 <= self.exact_decimals <= self.max_decimals:
            raise ConfigError(f"constrained decoding: exact_decimals={self.exact_decimals} must lie in "
                              f"[1, {self.max_decimals}]")
        if self.require_typed_text and self.max_text_chars < 1:
            raise ConfigError("constrained decoding: require_typed_text needs max_text_chars >= 1")

    def start(self) -> State:
        """The state before any character."""
        return (0, 0, "")

    # ------------------------------------------------------------------------------------------ transitions

    def advance(self, state: State | None, text: str) -> State | None:
        """The state after ``text``, or None when ``text`` leaves the grammar."""
        for char in text:
            if state is None:
                return None
            state = self._step(state, char)
        return state

    def _initial(self, index: int, chosen: str) -> State:
        kind = _SEGMENTS[index][0]
        progress: object = {_LITERAL: 0, _STRING: 0, _PLAN: (0, ""), _END: 0}.get(kind, "")
        return (index, progress, chosen)

    def _step(self, state: State, char: str) -> State | None:
        index, progress, chosen = state
        kind, literal = _SEGMENTS[index]
        dual = chosen == DUAL_POINT_NAME
        next_progress = self._within(kind, literal, progress, chosen, char)
        if next_progress is not None:
            if kind == _STRING and next_progress == -1:  # the closing quote ends the string
                return self._initial(index + 1, chosen)
            if kind == _PLAN and next_progress == "closed":
                return self._initial(index + 1, chosen)
            return (index, next_progress, chosen)
        if self._complete(kind, literal, progress, dual):
            if kind == _CHOICE:
                chosen = progress
            return self._step(self._initial(index + 1, chosen), char)
        return None

    def _within(self, kind: int, literal: str, progress, chosen: str, char: str):
        """The progress after ``char`` inside the current segment, or None when the segment cannot take it."""
        if kind == _LITERAL:
            return progress + 1 if progress < len(literal) and literal[progress] == char else None
        if kind == _CHOICE:
            prefix = progress + char
            return prefix if any(name.startswith(prefix) for name in ACTION_NAMES) else None
        if kind == _PLAN:
            count, prefix = progress
            if prefix in PLAN_NAMES and char == "]":
                return "closed"
            if prefix in PLAN_NAMES and char == "," and count + 1 < self.max_plan:
                return (count + 1, "")
            extended = prefix + char
            return (count, extended) if any(name.startswith(extended) for name in PLAN_NAMES) else None
        if kind == _NUMBER:
            prefix = progress + char
            return prefix if self._number_prefix(prefix, chosen == DUAL_POINT_NAME) else None
        if kind == _STRING:
            if char == '"':
                return None if self._needs_text(progress, chosen) else -1
            if char == "\\" or ord(char) < 0x20 or progress >= self.max_text_chars:
                return None
            return progress + 1
        return None  # _END takes no character

    def _needs_text(self, written: int, chosen: str) -> bool:
        """True when the typed text may not close yet: a TYPE with nothing typed under ``require_typed_text``."""
        return self.require_typed_text and chosen == TYPE_NAME and written == 0

    def _number_prefix(self, prefix: str, dual: bool) -> bool:
        """True when ``prefix`` starts a coordinate.

        That is 0.d… or 1.0… (at most max_decimals digits), or -1.0 off DUAL_POINT.
        """
        if not dual and "-1.0".startswith(prefix):
            return True
        head, dot, digits = prefix[:1], prefix[1:2], prefix[2:]
        if head not in ("0", "1") or (len(prefix) > 1 and dot != ".") or len(digits) > self._most_decimals:
            return False
        allowed = "0" if head == "1" else "0123456789"
        return all(digit in allowed for digit in digits)

    def _complete(self, kind: int, literal: str, progress, dual: bool) -> bool:
        """True when the current segment may end here (its next character belongs to the next segment)."""
        if kind == _LITERAL:
            return progress == len(literal)
        if kind == _CHOICE:
            return progress in ACTION_NAMES
        if kind == _NUMBER:
            if progress == "-1.0":
                return not dual
            least = self.exact_decimals or 1
            return len(progress) >= 2 + least and progress[1] == "." and self._number_prefix(progress, dual)
        return False

    # ------------------------------------------------------------------------------------------ ends

    def accepts(self, state: State | None) -> bool:
        """True when the text so far is a whole action (only the end of sequence may follow)."""
        return state is not None and _SEGMENTS[state[0]][0] == _END

    def completion(self, state: State) -> str:
        """The shortest text that closes an unfinished action from ``state`` (for rows out of token budget)."""
        pieces: list[str] = []
        index, progress, chosen = state
        dual = chosen == DUAL_POINT_NAME
        while _SEGMENTS[index][0] != _END:
            kind, literal = _SEGMENTS[index]
            if kind == _LITERAL:
                pieces.append(literal[progress:])
            elif kind == _PLAN:
                count, prefix = progress
                name = prefix if prefix in PLAN_NAMES else next(n for n in PLAN_NAMES if n.startswith(prefix))
                pieces.append(name[len(prefix):] + "]")
            elif kind == _CHOICE:
                name = progress if progress in ACTION_NAMES else next(n for n in ACTION_NAMES if n.startswith(progress))
                pieces.append(name[len(progress):])
                chosen, dual = name, name == DUAL_POINT_NAME
            elif kind == _NUMBER:
                pieces.append(self._close_number(progress, dual))
            elif kind == _STRING:
                pieces.append(("x" if self._needs_text(progress, chosen) else "") + '"')
            index += 1
            progress = self._initial(index, chosen)[1]
        return "".join(pieces)

    @property
    def _most_decimals(self) -> int:
        return self.exact_decimals or self.max_decimals

    def _close_number(self, prefix: str, dual: bool) -> str:
        """The rest of the shortest coordinate that starts with ``prefix``."""
        if prefix.startswith("-"):
            return "-1.0"[len(prefix):]
        least = self.exact_decimals or 1
        whole = (prefix or "0") + ("" if len(prefix) > 1 else ".")
        return whole[len(prefix):] + "0" * max(0, 2 + least - len(whole))


class GrammarConstraint:
    """The grammar lifted to a tokenizer: allowed-token masks and successor states, cached per state."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, grammar: AutoUIGrammar | None = None) -> None:
        self.grammar = grammar or AutoUIGrammar()
        self.tokenizer = tokenizer
        self.eos_id = int(tokenizer.eos_token_id)
        self.vocab_size = len(tokenizer)
        special = set(tokenizer.all_special_ids)
        self._texts: list[tuple[int, str]] = []
        for token_id in range(self.vocab_size):
            if token_id in special:
                continue
            # one id sequence decodes to one str (the stubs return the batch overload's union)
            text: str = tokenizer.decode(  # type: ignore[assignment]
                [token_id], skip_special_tokens=False, clean_up_tokenization_spaces=False)
            if text and "\ufffd" not in text:  # whole characters only: a partial UTF-8 byte never concatenates safely
                self._texts.append((token_id, text))
        self._cache: dict[State, tuple[torch.Tensor, dict[int, State]]] = {}

    def start(self) -> State:
        """The state of a row before its first token."""
        return self.grammar.start()

    def _entry(self, state: State) -> tuple[torch.Tensor, dict[int, State]]:
        cached = self._cache.get(state)
        if cached is None:
            mask = torch.zeros(self.vocab_size, dtype=torch.bool)
            successors: dict[int, State] = {}
            if self.grammar.accepts(state):
                mask[self.eos_id] = True
            else:
                for token_id, text in self._texts:
                    after = self.grammar.advance(state, text)
                    if after is not None:
                        mask[token_id] = True
                        successors[token_id] = after
            if not bool(mask.any()):  # cannot happen for a byte-level vocabulary; a clear error if it does
                raise ConfigError(
                    f"constrained decoding: no token of the tokenizer continues the grammar from state {state}; "
                    "the vocabulary lacks single characters (use a byte-level tokenizer)"
                )
            cached = (mask, successors)
            self._cache[state] = cached
        return cached

    def mask(self, states: Sequence[State | None]) -> torch.Tensor:
        """Allowed next tokens ``[len(states), vocab]``; a finished row (None) allows everything (it is padded)."""
        rows = [self._entry(state)[0] if state is not None else torch.ones(self.vocab_size, dtype=torch.bool)
                for state in states]
        return torch.stack(rows)

    def advance(self, states: Sequence[State | None], tokens: Sequence[int]) -> list[State | None]:
        """Each row's state after its chosen token (None once the row wrote EOS or was already finished)."""
        advanced: list[State | None] = []
        for state, token in zip(states, tokens):
            if state is None or token == self.eos_id:
                advanced.append(None)
                continue
            advanced.append(self._entry(state)[1][int(token)])
        return advanced

    def completion_ids(self, state: State) -> list[int]:
        """Token ids of the grammar's shortest closing text from ``state``, EOS included."""
        text = self.grammar.completion(state)
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"] if text else []
        return list(ids) + [self.eos_id]
