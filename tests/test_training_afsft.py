"""AFSFT wired into training: the policy's hidden states, the Q heads in models and checkpoints, the joint update
(stop-gradients, PopArt, Polyak target, beta schedule), the reward shaping and the exploring agent, the configs,
and a tiny off2on run end to end."""

from __future__ import annotations

import dataclasses
import json
import math
import random

import pytest
import torch
from accelerate import Accelerator
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from tiny_run import TINY

from coso.actions import parse_action
from coso.agents.exploration import EpsilonGreedyAgent, random_valid_action
from coso.cli import CONFIG_DIR
from coso.config import AFSFTConfig, RunConfig, check_run_config
from coso.data.buffer import ReplayBuffer
from coso.data.trajectory import Trajectory, Transition
from coso.env.base import EpisodeConfig, PhoneEnv
from coso.env.sim.judge import RuleJudge
from coso.env.sim import SimConfig, SimPhone
from coso.env.task_generator import generate_tasks
from coso.errors import ConfigError
from coso.runs import execute
from coso.training.afsft_updates import AFSFTTrainer, afsft_terms, current_beta
from coso.training.components import build_models, load_models, save_models, with_q_heads
from coso.training.trainer import Trainer, trainer_class
from coso.training.updates import UPDATE_ROUNDS

FEATURES = 8
VALID = ('Action Plan: [PRESS_BACK,STATUS_TASK_COMPLETE] ; Action Decision: "action_type": "PRESS_BACK", '
         '"touch_point": "[-1.0, -1.0]", "lift_point": "[-1.0, -1.0]", "typed_text": ""')


def compose_run(name: str, overrides: list[str]) -> tuple[RunConfig, dict]:
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base=None):
        cfg = compose(config_name=name, overrides=overrides)
    return OmegaConf.to_object(cfg), OmegaConf.to_container(cfg, resolve=True)


def transition(action: str, reward: float, done: bool, step: int = 0) -> Transition:
    features = torch.rand(FEATURES, generator=torch.Generator().manual_seed(step)).numpy()
    return Transition(task="open settings", prompt=f"Goal: open settings {step}", action=action, reward=reward,
                      done=done, image_features=features, next_prompt=f"Goal: open settings {step + 1}",
                      next_image_features=features[::-1].copy(), step=step,
                      valid_action=parse_action(action).valid)


def small_buffer() -> ReplayBuffer:
    good = Trajectory([transition(VALID, 0.0, False, 0), transition(VALID, 1.0, True, 1)], task="open settings")
    bad = Trajectory([transition("tap somewhere", -1.0, False, 0), transition("???", -2.0, True, 1)],
                     task="open settings")
    return ReplayBuffer(10, [good, bad])


def afsft_config(overrides: tuple[str, ...] = (), **afsft: object) -> RunConfig:
    """The tiny AFSFT config on 4-wide screen features (the transitions above), ``algorithm.afsft`` replaced."""
    config, _ = compose_run("afsft_off2on", TINY + ["train.batch_size=4", "train.max_grad_norm=1.0",
                                                    f"env.image_feature_dim={FEATURES // 2}", *overrides])
    return dataclasses.replace(config, algorithm=dataclasses.replace(
        config.algorithm, afsft=dataclasses.replace(config.algorithm.afsft, **afsft)))


def untie(policy: torch.nn.Module) -> torch.nn.Module:
    """Give the policy's T5 an LM head of its own (a copy of the embeddings it is tied to), so that the LM head's
    gradient is told apart from the trunk's."""
    tied = policy.t5.get_output_embeddings()
    head = torch.nn.Linear(tied.in_features, tied.out_features, bias=False)
    with torch.no_grad():
        head.weight.copy_(tied.weight)
    policy.t5.lm_head = head
    if policy.copy is not None:  # the copy head reads the LM head's input through a hook on it
        head.register_forward_pre_hook(policy._keep_decoder_states)
    assert policy.t5.get_output_embeddings() is head and head.weight is not policy.t5.shared.weight
    return policy


# ---------------------------------------------------------------------------------------------- the policy


def test_hidden_states_are_the_lm_heads_input_and_an_empty_action_is_the_first_state() -> None:
    no_copy = ("agent.model.copy_head=false", "agent.model.copy_continuation=false")  # log pi = the LM head's
    policy = untie(build_models(afsft_config(no_copy)).policy.eval())
    features = torch.rand(2, FEATURES)
    stats = policy.token_stats(["Goal: a", "Goal: b c"], features, [VALID, "x"], with_hidden=True)
    assert stats.hidden_states is not None and stats.hidden_states.shape[:2] == stats.log_probs.shape
    assert stats.hidden_states.shape[-1] == policy.hidden_size
    relogits = torch.log_softmax(policy.t5.get_output_embeddings()(stats.hidden_states).float(), dim=-1)
    assert torch.allclose(relogits, stats.vocab_log_probs, atol=1e-5)
    assert policy.token_stats(["Goal: a"], features[:1], [VALID]).hidden_states is None  # only when asked
    first = policy.token_stats(["Goal: a", "Goal: b c"], features, ["", ""], with_hidden=True)
    assert first.hidden_states.shape[1] == 1  # one position: the state before the first action token
    assert torch.allclose(first.hidden_states[:, 0], stats.hidden_states[:, 0], atol=1e-5)


# ---------------------------------------------------------------------------------------------- models


def test_q_heads_are_built_for_afsft_only_zero_and_without_drawing_from_the_rngs() -> None:
    config = afsft_config()
    torch.manual_seed(3)
    models = build_models(config)
    after_afsft = torch.rand(1)
    digirl = dataclasses.replace(config, algorithm=dataclasses.replace(config.algorithm, name="digirl"))
    torch.manual_seed(3)
    plain = build_models(digirl)
    assert torch.equal(torch.rand(1), after_afsft)  # the Q heads drew nothing: the other models are the same
    assert plain.q_head is None and plain.q_target is None and with_q_heads(plain, digirl) is plain
    assert models.q_head.linear.weight.shape == (models.policy.vocab_size, models.policy.hidden_size)
    assert not models.q_head.linear.weight.any() and models.q_target is not models.q_head
    assert not any(p.requires_grad for p in models.q_target.parameters())
    assert trainer_class(config.algorithm.name) is AFSFTTrainer and trainer_class("digirl") is Trainer
    assert set(UPDATE_ROUNDS.keys()) >= {"digirl", "coso", "filteredbc", "afsft"}


def test_checkpointed_models_hold_the_q_head_its_target_and_their_statistics(tmp_path) -> None:
    models = build_models(afsft_config())
    with torch.no_grad():
        models.q_head.linear.weight.normal_()
        models.q_head.td_updates += 7
        models.q_head.update_statistics(torch.tensor([3.0, -1.0]), followers=())
    save_models(models, tmp_path)
    loaded = load_models(tmp_path)
    for name in ("q_head", "q_target"):
        want, got = getattr(models, name).state_dict(), getattr(loaded, name).state_dict()
        assert want.keys() == got.keys() and all(torch.equal(want[k], got[k]) for k in want)
    assert int(loaded.q_head.td_updates) == 7 and loaded.q_head.popart_rate == models.q_head.popart_rate


# ---------------------------------------------------------------------------------------------- the update


def make_trainer(config: RunConfig) -> AFSFTTrainer:
    return AFSFTTrainer(build_models(config), config, Accelerator(cpu=True), torch.Generator().manual_seed(0))


def test_stop_gradients_route_the_actor_loss_to_the_lm_head_and_the_td_loss_to_the_q_head() -> None:
    config = afsft_config()
    trainer = make_trainer(config)
    untie(trainer.policy)
    with torch.no_grad():
        trainer.q_head.linear.weight.normal_(std=0.1)  # a trained-looking head: the TD loss reaches the trunk
    batch = small_buffer().sample(4, torch.Generator().manual_seed(0))
    lm_head = trainer.policy.t5.get_output_embeddings().weight
    trunk = trainer.policy.t5.decoder.block[0].layer[0].SelfAttention.q.weight

    def gradients(settings: AFSFTConfig, actor_weight: float) -> tuple[torch.Tensor | None, ...]:
        for parameter in (*trainer.policy.parameters(), *trainer.q_head.parameters()):
            parameter.grad = None
        terms = afsft_terms(trainer.policy, trainer.policy, trainer.q_head, trainer.q_head, trainer.q_target, batch,
                            settings, -math.inf, actor_weight=actor_weight)
        terms.loss.backward()
        return lm_head.grad, trainer.q_head.linear.weight.grad, trunk.grad

    settings = config.algorithm.afsft
    lm, q, trunk_grad = gradients(dataclasses.replace(settings, td_coeff=0.0), 1.0)  # the actor alone
    assert lm is not None and lm.abs().sum() > 0 and trunk_grad.abs().sum() > 0
    assert q is None or not q.any()
    lm, q, trunk_grad = gradients(settings, 0.0)  # the critic alone
    assert (lm is None or not lm.any()) and q.abs().sum() > 0 and trunk_grad.abs().sum() > 0
    _, _, trunk_grad = gradients(dataclasses.replace(settings, critic_trunk_gradient=False), 0.0)
    assert trunk_grad is None or not trunk_grad.any()  # the alternative: the critic reads detached states


def test_a_step_moves_the_target_by_tau_counts_td_updates_and_switches_the_filter_on_after_the_warm_up() -> None:
    tau = 0.25
    trainer = make_trainer(afsft_config(polyak_tau=tau, beta_warmup_steps=2, beta=0.0, q_lr=0.05))
    buffer = small_buffer()
    assert not trainer.q_target.linear.weight.any()  # both heads start at 0
    first = trainer.train_afsft(buffer, 1)
    online = trainer.q_head.linear.weight.detach()
    assert online.abs().sum() > 0  # the TD loss moved the head
    assert torch.allclose(trainer.q_target.linear.weight, tau * online)  # (1 - tau) * 0 + tau * online
    assert first["afsft_filter_on"] == 0.0 and first["afsft_kept_fraction"] == 1.0 and first["afsft_td_updates"] == 1
    assert current_beta(trainer.q_head, trainer.config.algorithm.afsft) == -math.inf
    trainer.train_afsft(buffer, 1)
    third = trainer.train_afsft(buffer, 1)
    assert third["afsft_filter_on"] == 1.0 and third["afsft_beta"] == 0.0 and third["afsft_td_updates"] == 3
    assert int(trainer.q_target.td_updates) == 3 and trainer.actor_updates == 3
    assert trainer.train_afsft(buffer, 1, train_actor=False)["afsft_td_updates"] == 4 and trainer.actor_updates == 3
    assert "q_head" in trainer.optimizers() and trainer.unwrapped().q_head is trainer.q_head


def test_td_targets_carry_the_shaped_rewards_of_invalid_actions() -> None:
    trainer = make_trainer(afsft_config())  # a zero Q head: every target is the reward alone
    bad = ReplayBuffer(2, [Trajectory([transition("???", -2.0, True, 0)], task="t")])
    metrics = trainer.train_afsft(bad, 1)
    # one action token row ends with -2 and done; every other token bootstraps on V = 0
    assert metrics["afsft_target_mean"] < 0 and metrics["afsft_td_loss"] > 0


# ---------------------------------------------------------------------------------------------- the phone


def phone_env(after: int, penalty: float = 1.0, timeout_penalty: float = 2.0) -> PhoneEnv:
    phone = SimPhone(SimConfig())
    rules = EpisodeConfig(invalid_action="penalize", invalid_action_penalty=penalty, invalid_timeout_after=after,
                          invalid_timeout_penalty=timeout_penalty)
    env = PhoneEnv(phone, RuleJudge(phone), rules)
    env.reset(generate_tasks(1, seed=0, task_set="general")[0], seed=0)
    return env


def test_invalid_actions_are_penalised_and_time_out_after_k_in_a_row() -> None:
    env = phone_env(after=3)
    first, second = env.step("gibberish"), env.step("more gibberish")
    assert (first.reward, first.done, second.reward, second.done) == (-1.0, False, -1.0, False)
    third = env.step("still nothing")
    assert third.reward == -2.0 and third.done and third.info["invalid_timeout"]


def test_a_valid_action_resets_the_invalid_streak() -> None:
    env = phone_env(after=2)
    assert not env.step("gibberish").done
    assert not env.step(VALID).done
    assert not env.step("gibberish").done  # the streak started again
    assert env.step("gibberish").done


def test_no_timeout_by_default() -> None:
    env = phone_env(after=0)
    assert not any(env.step("gibberish").done for _ in range(5))


# ---------------------------------------------------------------------------------------------- exploration


class Fixed:
    def act(self, observations, tasks):
        return ["mine"] * len(observations)


def test_epsilon_greedy_agent_replaces_actions_by_random_valid_ones_reproducibly() -> None:
    assert all(parse_action(random_valid_action(random.Random(i), 2)).valid for i in range(200))
    always = EpsilonGreedyAgent(Fixed(), 1.0, seed=5, point_decimals=2)
    actions = always.act([None] * 6, [None] * 6)
    assert all(parse_action(a).valid for a in actions) and always.explored == 6
    assert actions == EpsilonGreedyAgent(Fixed(), 1.0, seed=5, point_decimals=2).act([None] * 6, [None] * 6)
    never = EpsilonGreedyAgent(Fixed(), 0.0, seed=5, point_decimals=2)
    assert never.act([None] * 3, [None] * 3) == ["mine"] * 3 and never.explored == 0
    some = EpsilonGreedyAgent(Fixed(), 0.5, seed=1, point_decimals=2)
    chosen = some.act([None] * 200, [None] * 200)
    assert 60 < sum(a != "mine" for a in chosen) == some.explored < 140


# ---------------------------------------------------------------------------------------------- configs


@pytest.mark.parametrize("name, mode", [("afsft_offline", "offline"), ("afsft_online", "online"),
                                        ("afsft_off2on", "off2on")])
def test_afsft_configs_compose_and_check(name, mode) -> None:
    config, _ = compose_run(name, [])
    check_run_config(config)
    assert config.algorithm.name == "afsft" and config.train_mode == mode
    assert config.env.invalid_action == "penalize" and config.env.invalid_timeout_after == 3
    assert config.algorithm.afsft.epsilon == (0.0 if mode == "offline" else 0.1)


@pytest.mark.parametrize("overrides, words", [
    (["use_entropy=true"], "AFSFT's update"),
    (["algorithm=digirl", "algorithm.afsft.epsilon=0.1"], "epsilon-greedy"),
    (["env.invalid_action=terminate"], "env.invalid_action=penalize"),
    (["algorithm.afsft.gamma=1.5"], "algorithm.afsft.gamma"),
    (["algorithm.afsft.polyak_tau=0"], "algorithm.afsft.polyak_tau"),
])
def test_contradicting_afsft_settings_are_one_clear_line(overrides, words) -> None:
    config, _ = compose_run("afsft_off2on", overrides)
    with pytest.raises(ConfigError, match=words):
        check_run_config(config)


def test_an_unknown_afsft_key_is_refused() -> None:
    with pytest.raises(Exception, match="beta_warmup"):
        compose_run("afsft_off2on", ["algorithm.afsft.beta_warmup=3"])


# ---------------------------------------------------------------------------------------------- end to end


def test_tiny_afsft_off2on_run_trains_the_q_head_on_invalid_actions_and_checkpoints_it(tmp_path) -> None:
    overrides = TINY + ["train.sft_steps=2", "logging.wandb_mode=disabled", "agent.constrained_decoding=false",
                        "train.online_iterations=1", "train.rollout_size=2", f"save_path={tmp_path}",
                        "algorithm.afsft.epsilon=0.5", "algorithm.afsft.beta_warmup_steps=2"]
    config, resolved = compose_run("afsft_off2on", overrides)
    summary = json.loads(execute(config, resolved))
    assert summary["algorithm"] == "afsft" and summary["online_iterations"] == 1
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    updates = [r for r in records if "afsft_td_loss" in r]
    assert [r["phase"] for r in updates] == ["offline", "online"]
    assert all(math.isfinite(r["afsft_td_loss"]) and math.isfinite(r["afsft_actor_loss"]) for r in updates)
    assert updates[-1]["afsft_filter_on"] > 0  # past the 2-update warm-up: the filter is on
    models = tmp_path / "checkpoint" / "models"
    assert (models / "q_head").is_dir() and (models / "q_target").is_dir()
    assert int(load_models(models).q_head.td_updates) == updates[-1]["afsft_td_updates"]
    buffer = ReplayBuffer.load(tmp_path / "checkpoint" / "buffer", capacity=100)
    online = [t for t in buffer.trajectories() if "online_iteration" in t.metadata]
    rewards = [tr.reward for t in online for tr in t.transitions]
    assert online and min(rewards) < 0  # unconstrained decoding wrote invalid actions: shaped rewards
