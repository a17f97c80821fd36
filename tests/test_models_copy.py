"""The policy's copy head: pointer-generator mixing and the span continuation (CopyNet's selective read)."""

from __future__ import annotations

import pytest
import torch

from coso.errors import ConfigError
from coso.models.autoui import AutoUIConfig, AutoUIPolicy, last_content_ids, whitespace_token_ids
from coso.models.tokenizer import TokenizerConfig
from coso.training.tokenizer import build_default_tokenizer

PROMPT = 'Previous Actions: Goal: Go to walmart.com, search for "macbook pro 15 inch"'


def _policy(continuation: bool, read: bool = False, key: str = "last_token") -> AutoUIPolicy:
    config = AutoUIConfig(d_model=32, d_ff=64, num_layers=1, num_decoder_layers=1, num_heads=2, d_kv=16,
                          image_feature_dim=8, copy_head=True, copy_continuation=continuation, copy_read=read,
                          copy_continuation_key=key, tokenizer=TokenizerConfig(word_spaces="separate"))
    return AutoUIPolicy.from_config(config, build_default_tokenizer(config.tokenizer))


def _features(policy: AutoUIPolicy, batch: int) -> torch.Tensor:
    return torch.randn(batch, policy.config.num_screens * policy.config.image_feature_dim,
                       generator=torch.Generator().manual_seed(0))


def test_last_content_ids_skips_whitespace_and_carries_the_earlier_token() -> None:
    ids = torch.tensor([[5, 1, 6, 1, 1, 7]])
    skip = torch.tensor([1])
    before = torch.tensor([9])
    assert last_content_ids(ids, skip, before, inclusive=True).tolist() == [[5, 5, 6, 6, 6, 7]]
    assert last_content_ids(ids, skip, before, inclusive=False).tolist() == [[9, 5, 5, 6, 6, 6]]
    assert last_content_ids(torch.tensor([[1, 1]]), skip, before, inclusive=True).tolist() == [[9, 9]]


def test_whitespace_ids_write_only_whitespace() -> None:
    tokenizer = _policy(False).tokenizer
    ids = whitespace_token_ids(tokenizer)
    assert tokenizer(" ", add_special_tokens=False)["input_ids"][0] in ids
    assert all(not tokenizer.decode([i], clean_up_tokenization_spaces=False).strip() for i in ids)


def test_copy_mixture_is_a_distribution_with_and_without_continuation() -> None:
    for continuation in (False, True):
        policy = _policy(continuation)
        stats = policy.token_stats([PROMPT], _features(policy, 1), ['"typed_text": "macbook pro"'])
        assert torch.isfinite(stats.log_probs).all() and (stats.log_probs <= 0).all()
        assert (stats.entropies >= 0).all()


def _log_probs_after(policy: AutoUIPolicy, prompts: list[str], features: torch.Tensor,
                     inputs: torch.Tensor) -> torch.Tensor:
    """Teacher-forced next-token log-probs [B, T, V] for decoder inputs [B, T]."""
    from transformers.modeling_outputs import BaseModelOutput

    policy.eval()
    with torch.no_grad():
        encoded = policy.encode(prompts, features)
        written = policy.written_context(inputs, encoded)
        logits = policy.t5(encoder_outputs=BaseModelOutput(last_hidden_state=encoded.hidden),
                           attention_mask=encoded.attention_mask, use_cache=False,
                           **policy.decoder_inputs(inputs, encoded, written)).logits
        return policy.next_token_log_probs(logits, encoded, inputs, written=written)


def test_strong_continuation_points_at_the_goal_word_after_the_last_written() -> None:
    """With the gate on the pointer, plain attention uniform and a large continuation bonus, the next token
    is the goal's word after the last written one, whitespace written in between or not."""
    policy = _policy(True)
    with torch.no_grad():
        policy.copy.gate.bias.fill_(30.0)
        policy.copy.gate.weight.zero_()
        policy.copy.continuation.fill_(100.0)
        policy.copy.query.weight.zero_()
    tokenizer = policy.tokenizer
    word = {piece: tokenizer(piece, add_special_tokens=False)["input_ids"][0] for piece in ("macbook", "pro", " ")}
    pad = tokenizer.pad_token_id
    inputs = torch.tensor([[pad, word["macbook"], word[" "], word["pro"]]])
    predicted = _log_probs_after(policy, [PROMPT], _features(policy, 1), inputs).argmax(-1)[0].tolist()
    pieces = [tokenizer.decode([i], clean_up_tokenization_spaces=False) for i in predicted[1:]]
    after_pro = tokenizer.decode([tokenizer(" 15", add_special_tokens=False)["input_ids"][0]],
                                 clean_up_tokenization_spaces=False)
    assert pieces == ["pro", "pro", after_pro]


def test_without_continuation_the_pointer_ignores_what_was_written() -> None:
    policy = _policy(False)
    with torch.no_grad():
        policy.copy.gate.bias.fill_(30.0)
        policy.copy.gate.weight.zero_()
        policy.copy.query.weight.zero_()
    tokenizer = policy.tokenizer
    pad, macbook = tokenizer.pad_token_id, tokenizer("macbook", add_special_tokens=False)["input_ids"][0]
    log_probs = _log_probs_after(policy, [PROMPT], _features(policy, 1), torch.tensor([[pad, macbook]]))
    assert torch.allclose(log_probs[0, 0], log_probs[0, 1], atol=1e-5)  # uniform pointer, whatever came before


@pytest.mark.parametrize("read,key", [(False, "last_token"), (True, "last_token"), (True, "longest_match")])
def test_incremental_decoding_and_teacher_forcing_agree_under_continuation(read: bool, key: str) -> None:
    """The KV-cached decoder tracks what was written (and its selective read) as token_stats does:
    greedy tokens are the teacher-forced argmax at every position."""
    policy = _policy(True, read, key)
    with torch.no_grad():
        policy.copy.gate.bias.fill_(1.0)
        policy.copy.continuation.fill_(5.0)
        if read:
            policy.copy.read.weight.normal_(0.0, 1.0, generator=torch.Generator().manual_seed(1))
    features = _features(policy, 2)
    prompts = [PROMPT, 'Goal: Go to ebay.com, search for "usb-a to usb-b"']
    tokens = policy.generate_tokens(prompts, features, do_sample=False, max_new_tokens=10)
    texts = policy.tokenizer.batch_decode(tokens.tolist(), skip_special_tokens=True, clean_up_tokenization_spaces=False)
    start = torch.full_like(tokens[:, :1], policy.tokenizer.pad_token_id)
    log_probs = _log_probs_after(policy, prompts, features, torch.cat([start, tokens[:, :-1]], dim=1))
    for row in range(2):
        written = tokens[row]
        length = int((written != policy.tokenizer.pad_token_id).sum())
        assert log_probs[row, :length].argmax(-1).tolist() == written[:length].tolist(), texts[row]


def test_selective_read_is_the_state_of_the_goal_token_after_the_last_written() -> None:
    policy = _policy(True, read=True)
    with torch.no_grad():
        policy.copy.read.weight.copy_(torch.eye(policy.config.d_model))
    tokenizer = policy.tokenizer
    ids = {piece: tokenizer(piece, add_special_tokens=False)["input_ids"][0] for piece in ("macbook", "pro")}
    inputs = torch.tensor([[tokenizer.pad_token_id, ids["macbook"], ids["pro"]]])
    with torch.no_grad():
        encoded = policy.encode([PROMPT], _features(policy, 1))
        read = policy.copy.selective_read(encoded, policy.written_context(inputs, encoded))
    source = encoded.input_ids[0].tolist()
    assert torch.allclose(read[0, 0], torch.zeros_like(read[0, 0]))  # nothing written yet
    assert torch.allclose(read[0, 1], encoded.hidden[0, source.index(ids["pro"])], atol=1e-6)
    spaces = set(whitespace_token_ids(tokenizer))
    after_pro = next(j for j in range(source.index(ids["pro"]) + 1, len(source)) if source[j] not in spaces)
    assert torch.allclose(read[0, 2], encoded.hidden[0, after_pro], atol=1e-6)


def test_untrained_read_leaves_the_policy_unchanged_and_needs_the_continuation() -> None:
    plain, reading = _policy(True), _policy(True, read=True)
    features = _features(plain, 1)
    action = ['"typed_text": "macbook pro 15 inch"']
    with torch.no_grad():
        assert torch.equal(plain.token_stats([PROMPT], features, action).log_probs,
                           reading.token_stats([PROMPT], features, action).log_probs)
    with pytest.raises(ConfigError, match="copy_read"):
        AutoUIConfig(copy_head=True, copy_continuation=False, copy_read=True)


REPEATED = 'Previous Actions: Goal: Go to ebay.com, search for "usb-a to usb-b"'


def _next_goal_tokens(policy: AutoUIPolicy, prompt: str, written: str) -> list[list[str]]:
    """For each decoder position of ``written`` (after the start token), the goal tokens the continuation
    says come next."""
    tokenizer = policy.tokenizer
    ids = tokenizer(written, add_special_tokens=False)["input_ids"]
    inputs = torch.tensor([[tokenizer.pad_token_id] + ids])
    with torch.no_grad():
        encoded = policy.encode([prompt], _features(policy, 1))
        context = policy.written_context(inputs, encoded)
    source = encoded.input_ids[0].tolist()
    return [[tokenizer.decode([source[s]], clean_up_tokenization_spaces=False)
             for s in torch.nonzero(row).flatten().tolist()]
            for row in (context.follows & encoded.goal.pointable[:, None, :])[0, 1:]]


def test_longest_match_tells_repeated_goal_tokens_apart() -> None:
    """In "usb-a to usb-b" the last written "-" is followed by "a" or "b" depending on the text before it;
    the last_token key names both."""
    text = ' "usb-a to usb-b"'
    by_token = _next_goal_tokens(_policy(True, key="last_token"), REPEATED, text)
    by_match = _next_goal_tokens(_policy(True, key="longest_match"), REPEATED, text)
    tokenizer = _policy(True).tokenizer
    pieces = [tokenizer.decode([i]) for i in tokenizer(text, add_special_tokens=False)["input_ids"]]
    dashes = [i for i, piece in enumerate(pieces) if piece == "-"]
    assert len(dashes) == 2
    assert sorted(by_token[dashes[0]]) == ["a", "b"] and sorted(by_token[dashes[1]]) == ["a", "b"]
    assert by_match[dashes[0]] == ["a"] and by_match[dashes[1]] == ["b"]
    usbs = [i for i, piece in enumerate(pieces) if piece == "usb"]
    assert by_match[usbs[0]] == ["-"] and by_match[usbs[1]] == ["-"]  # one dash each, not both


def test_longest_match_equals_last_token_without_repeats() -> None:
    text = ' "macbook pro 15 inch"'
    assert (_next_goal_tokens(_policy(True, key="last_token"), PROMPT, text)
            == _next_goal_tokens(_policy(True, key="longest_match"), PROMPT, text))


def test_longest_match_names_nothing_after_a_token_the_goal_lacks() -> None:
    follows = _next_goal_tokens(_policy(True, key="longest_match"), REPEATED, ' "usb walmart')
    assert follows[-1] == []


def test_continuation_key_is_validated() -> None:
    with pytest.raises(ConfigError, match="copy_continuation_key"):
        AutoUIConfig(copy_head=True, copy_continuation=True, copy_continuation_key="bigram")
    with pytest.raises(ConfigError, match="copy_continuation=true"):
        AutoUIConfig(copy_head=True, copy_continuation=False, copy_continuation_key="longest_match")
