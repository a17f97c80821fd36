"""What a valid run config is: closed choices (str Enums, checked when Hydra composes), values and combinations
(check_run_config), and that valid configs serialise exactly as before (config.yaml, the SFT base key)."""

from __future__ import annotations

import dataclasses
import json
import pickle
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from coso.cli import CONFIG_DIR, compose_run
from coso.config import (
    SIM_DIFFICULTIES,
    AlgorithmName,
    ConfigChoice,
    RunConfig,
    TaskSet,
    TrainMode,
    check_run_config,
    choice_fields,
    choice_of,
    validate_run_config,
)
from coso.errors import ConfigError

RUN_CONFIGS = sorted(path.stem for path in Path(CONFIG_DIR).glob("*.yaml") if path.stem != "common")
SCALES = sorted(path.stem for path in (Path(CONFIG_DIR) / "scale").glob("*.yaml"))
GROUPS = {group: sorted(path.stem for path in (Path(CONFIG_DIR) / group).glob("*.yaml"))
          for group in ("env", "agent", "algorithm")}
CHOICES = list(choice_fields())
# the SFT base key of the default run config (coso_off2on, scale cpu): 69d766be1ecc before closed choices became
# Enums and after; 0a63e0a835fa since agent.require_typed_text joined the key (5585ed3)
DEFAULT_BASE_KEY = "0a63e0a835fa"


# --------------------------------------------------------------------------------------------- closed choices


@pytest.mark.parametrize("name, enum, is_list", CHOICES, ids=[name for name, _, _ in CHOICES])
def test_each_closed_choice_is_a_str_enum_whose_members_are_the_words_users_type(name, enum, is_list) -> None:
    assert issubclass(enum, ConfigChoice) and issubclass(enum, str)
    assert choice_of(name) is enum and (not is_list or choice_of(f"{name}[0]") is enum)
    for member in enum:
        word = member.value
        assert member.name == word and type(word) is str
        assert member == word and hash(member) == hash(word) and {word: 1}[member] == 1
        assert str(member) == f"{member}" == format(member, "") == word and repr(member) == repr(word)
        assert json.dumps(member) == json.dumps(word) and json.dumps([member], indent=2) == json.dumps([word], indent=2)
        assert pickle.loads(pickle.dumps(member)) is member


def test_the_default_of_every_closed_choice_is_one_of_its_members() -> None:
    config = RunConfig()
    for name, enum, is_list in CHOICES:
        value = config
        for part in name.split("."):
            value = getattr(value, part)
        assert all(isinstance(item, enum) for item in (value if is_list else [value])), name


def _implementations() -> dict[str, set[str]]:
    """Each closed choice's words as the code that acts on them knows them (registries, dicts, tuples)."""
    from accelerate.utils import PrecisionType

    from coso import runs
    from coso.algorithms.afsft import BETA_SCHEDULES, DISCOUNT_MODES, SFT_REDUCTIONS, STATE_VALUE_FORMS
    from coso.algorithms.coso import ENTROPY_REDUCTIONS, TOKEN_WEIGHT_ESTIMATORS
    from coso.algorithms.digirl import STEP_ADVANTAGE_FORMS
    from coso.env.android.factory import JUDGE_BUILDERS
    from coso.distributed import ROLLOUT_ENGINES
    from coso.env.babyai.env import LEVELS
    from coso.env.babyai.env import REWARD_MODES as BABYAI_REWARD_MODES
    from coso.env.base import INVALID_ACTION_MODES
    from coso.env.domains import DOMAINS
    from coso.env.factory import ENV_BACKENDS
    from coso.env.features import IMAGE_ENCODERS
    from coso.env.gym_cards.env import REWARD_MODES
    from coso.env.gym_cards.rules import GAMES
    from coso.env.miniwob.env import MINIWOB_CLICK_TASKS
    from coso.env.miniwob.env import REWARD_MODES as MINIWOB_REWARDS
    from coso.env.sim.config import CORRUPTION_MODES
    from coso.env.task_generator import GENERATOR_TASK_SETS
    from coso.models.text_encoder import TEXT_ENCODERS
    from coso.models.tokenizer import PRETOKEN_PATTERNS
    from coso.training import loop, rollouts
    from coso.training.components import POLICY_BUILDERS
    from coso.training.run_logger import WANDB_MODES
    from coso.training.updates import VAL_SPLITS

    return {
        "run": set(runs.RUN_KINDS),
        "train_mode": set(loop.TRAIN_MODES),
        "policy": set(runs.ROLLOUT_AGENTS),
        "algorithm.name": set(loop.ALGORITHMS),
        "algorithm.advantage": set(STEP_ADVANTAGE_FORMS),
        "algorithm.afsft.discount": set(DISCOUNT_MODES),
        "algorithm.afsft.state_value": set(STATE_VALUE_FORMS),
        "algorithm.afsft.beta_schedule": set(BETA_SCHEDULES),
        "algorithm.afsft.sft_reduction": set(SFT_REDUCTIONS),
        "causal.estimator": set(TOKEN_WEIGHT_ESTIMATORS),
        "causal.entropy_reduction": set(ENTROPY_REDUCTIONS),
        "train.offline_source": set(loop.OFFLINE_SOURCES),
        "train.val_split": set(VAL_SPLITS),
        # accelerate knows more (fp8, ...): the run config offers these three
        "train.mixed_precision": {"no", "bf16", "fp16"} & set(PrecisionType.list()),
        "logging.wandb_mode": set(WANDB_MODES),
        "agent.tokenizer_word_spaces": set(PRETOKEN_PATTERNS),
        "agent.critic_text_encoder": set(TEXT_ENCODERS),
        "env.backend": set(ENV_BACKENDS),
        "env.task_set": set(GENERATOR_TASK_SETS),
        "env.judge": set(JUDGE_BUILDERS),
        "env.invalid_action": set(INVALID_ACTION_MODES),
        "env.image_encoder": set(IMAGE_ENCODERS),
        "agent.architecture": set(POLICY_BUILDERS),
        "env.sim.faults.corrupt_modes": set(CORRUPTION_MODES),
        "env.domain": set(DOMAINS),
        "env.gym_cards.game": set(GAMES),
        "env.gym_cards.reward": set(REWARD_MODES),
        "rollout.engine": set(ROLLOUT_ENGINES),
        "rollout.mode": set(rollouts.ROLLOUT_MODES),
        "env.babyai.level": set(LEVELS),
        "env.babyai.reward": set(BABYAI_REWARD_MODES),
        "env.miniwob.task": {task.replace("-", "_") for task in MINIWOB_CLICK_TASKS},
        "env.miniwob.reward": set(MINIWOB_REWARDS),
    }


def test_each_closed_choice_offers_exactly_the_words_its_code_acts_on() -> None:
    implementations = _implementations()
    assert sorted(implementations) == sorted(name for name, _, _ in CHOICES)  # a new choice needs its line above
    for name, enum, _ in CHOICES:
        assert set(enum.values()) == implementations[name], name


# the phone's own reading of env.sim.difficulty decides which of these are valid
DIFFICULTIES = ["easy", "medium", "hard", "Hard", " easy ", "0", "0.25", "1", 0, 1, 0.5, "1.5", -0.1, 2, "nope",
                "", "nan", float("nan"), True, None, [0.5]]


@pytest.mark.parametrize("difficulty", DIFFICULTIES, ids=[repr(value) for value in DIFFICULTIES])
def test_difficulty_is_checked_as_the_simulated_phone_reads_it(difficulty) -> None:
    from coso.env.sim.config import DIFFICULTY_LEVELS, difficulty_value

    assert set(SIM_DIFFICULTIES) == set(DIFFICULTY_LEVELS)
    try:
        difficulty_value(difficulty)
        phone_accepts = True
    except ConfigError:
        phone_accepts = False
    config = RunConfig()
    config.env.sim.difficulty = difficulty
    if phone_accepts:
        check_run_config(config)
    else:
        with pytest.raises(ConfigError, match=r"^env\.sim\.difficulty="):
            check_run_config(config)


def test_a_config_built_in_python_with_a_wrong_word_is_refused_with_the_allowed_words() -> None:
    config = RunConfig(train_mode="of2on")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"^train_mode='of2on' is not one of offline, online, off2on, sft "
                                          r"\(did you mean off2on\?\); set train_mode=<one of them>$"):
        check_run_config(config)
    config = RunConfig()
    config.env.sim.faults.corrupt_modes = ["black", "blue"]  # type: ignore[list-item]
    with pytest.raises(ConfigError, match=r"^env\.sim\.faults\.corrupt_modes\[1\]='blue' is not one of black, "
                                          r"wrong_size; make every entry of env\.sim\.faults\.corrupt_modes"):
        check_run_config(config)
    check_run_config(RunConfig(train_mode="online", algorithm=dataclasses.replace(RunConfig().algorithm,
                                                                                  name="filteredbc")))


def test_plain_string_comparisons_keep_working_on_a_composed_config() -> None:
    config, resolved = compose_run("filteredbc_off2on", ["env=sim_general"])
    assert isinstance(config.algorithm.name, AlgorithmName) and isinstance(config.env.task_set, TaskSet)
    assert config.algorithm.name == "filteredbc" and config.train_mode in ("offline", "off2on")
    assert config.env.task_set == "general" and f"coso-tasks:0:{config.env.task_set}" == "coso-tasks:0:general"
    assert resolved["algorithm"]["name"] == "filteredbc" and type(resolved["algorithm"]["name"]) is str
    replaced = dataclasses.replace(config, train_mode="sft")
    assert replaced.train_mode == TrainMode.sft


# --------------------------------------------------------------------------------------------- unchanged output


def test_the_sft_base_key_of_the_default_config_is_unchanged() -> None:
    from coso.training.sft_base import sft_base_key, sft_base_path

    config, _ = compose_run("coso_off2on", [])
    assert config.scale_name == "cpu" and sft_base_path(config).name == DEFAULT_BASE_KEY
    text = json.dumps(sft_base_key(config), sort_keys=True, default=str)
    assert '"tokenizer_word_spaces": "separate"' in text and '"corrupt_modes": ["black", "wrong_size"]' in text
    assert "Enum" not in text and "." not in json.dumps(sft_base_key(config)["env"]["task_set"])


def test_saved_config_yaml_holds_the_plain_words(tmp_path) -> None:
    from coso.training.run_logger import write_resolved_config

    config, resolved = compose_run("coso_off2on", [])
    write_resolved_config(tmp_path, resolved)
    text = (tmp_path / "config.yaml").read_text()
    assert "\ntrain_mode: off2on\n" in text and "\n  name: coso\n" in text and "  mixed_precision: 'no'\n" in text
    assert "!!" not in text and "Enum" not in text
    saved = yaml.safe_load(text)
    for name, _, is_list in CHOICES:
        value = saved
        for part in name.split("."):
            value = value[part]
        assert all(type(item) is str for item in (value if is_list else [value])), name


def load_saved(path: Path) -> RunConfig:
    """A run directory's config.yaml as scripts/probe_policy.py and scripts/probe_recovery.py read it."""
    return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(RunConfig), OmegaConf.load(path)))


def test_a_config_yaml_saved_by_an_earlier_run_still_loads(tmp_path) -> None:
    from coso.training.run_logger import write_resolved_config

    config, resolved = compose_run("coso_off2on", ["train.mixed_precision=bf16", "env.task_set=mixed"])
    write_resolved_config(tmp_path, resolved)
    loaded = load_saved(tmp_path / "config.yaml")
    assert loaded == config and loaded.train.mixed_precision == "bf16" and loaded.env.task_set == "mixed"
    check_run_config(loaded)
    # a hand-written one in the plain words of the earlier plain-string schema
    (tmp_path / "old.yaml").write_text("run: eval\ntrain_mode: offline\npolicy: model\nalgorithm:\n  name: filteredbc\n"
                                       "env:\n  sim:\n    difficulty: 0.25\n    faults:\n"
                                       "      corrupt_modes: [black]\n")
    old = load_saved(tmp_path / "old.yaml")
    assert old.run == "eval" and old.policy == "model" and old.env.sim.faults.corrupt_modes == ["black"]
    validate_run_config(old)


# --------------------------------------------------------------------------------------------- every shipped config


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("config_name", RUN_CONFIGS)
def test_every_run_config_passes_with_every_scale(config_name, scale) -> None:
    if config_name == "pretrain_base" and scale != "cpu":
        # only the cpu scale has a warm start and a cache (run_base refused these at run time before, too)
        with pytest.raises(ConfigError, match=r"^run=base with train\.sft_steps=0"):
            compose_run(config_name, [f"scale={scale}"])
        compose_run(config_name, [f"scale={scale}", "train.sft_steps=2", "train.sft_cache_dir=runs/sft_base"])
        return
    config, _ = compose_run(config_name, [f"scale={scale}"])
    check_run_config(config)


@pytest.mark.parametrize("group, option", [(group, option) for group, options in GROUPS.items()
                                           for option in options])
def test_every_group_option_passes_in_the_default_config(group, option) -> None:
    compose_run("coso_off2on" if group != "algorithm" else "digirl_off2on", [f"{group}={option}"])


# --------------------------------------------------------------------------------------------- combination rules

# (config, overrides, the two settings the line names); each also has a passing neighbour below
COMBINATIONS = [
    ("coso_off2on", ["use_entropy=false"], ("use_causal=true", "use_entropy=false")),
    ("pretrain_base", ["use_causal=true"], ("use_causal=true", "use_entropy=false")),
    ("filteredbc_off2on", ["use_causal=true", "use_entropy=true"], ("algorithm.name=filteredbc", "use_causal=true")),
    ("filteredbc_off2on", ["use_entropy=true"], ("algorithm.name=filteredbc", "use_entropy=true")),
    ("digirl_online", ["train.warmup_iterations=11"], ("train.warmup_iterations=11", "train.online_iterations=10")),
    ("coso_off2on", ["train.sft_steps=0"], ("train.offline_source=policy", "train.sft_steps=0")),
    ("digirl_offline", ["train.sft_steps=0"], ("train.offline_source=policy", "train.sft_steps=0")),
    ("digirl_off2on", ["train_mode=sft", "train.sft_steps=0"], ("train_mode=sft", "train.sft_steps=0")),
    ("pretrain_base", ["train.sft_steps=0"], ("run=base", "train.sft_steps=0")),
    ("pretrain_base", ["train.sft_cache_dir="], ("run=base", "train.sft_cache_dir")),
    ("coso_off2on", ["env=android", "env.judge=rule"], ("env.backend=android", "env.judge=rule")),
    ("collect", ["env.judge=gemini"], ("env.backend=sim", "env.judge=gemini")),
    ("coso_off2on", ["agent.constrained_decoding=false"],
     ("agent.require_typed_text=true", "agent.constrained_decoding=false")),
    ("coso_off2on", ["agent=hf_vlm", "env.image_encoder=pixel"], ("agent.architecture=hf_vlm", "env.image_encoder=pixel")),
    ("coso_off2on", ["agent=hf_vlm", "env.screen_pixels_width=10"],
     ("env.image_encoder=screen_pixels", "env.image_feature_dim=15552")),
    ("afsft_off2on", ["use_entropy=true"], ("algorithm.name=afsft", "use_entropy")),
    ("coso_off2on", ["algorithm.afsft.epsilon=0.1"], ("algorithm.afsft.epsilon=0.1", "algorithm.name=coso")),
    ("coso_off2on", ["env.invalid_timeout_after=3"], ("env.invalid_timeout_after=3", "env.invalid_action=")),
    ("coso_off2on", ["env=gym_cards_numberline", "task_file=tasks.txt"], ("env.domain=gym_cards", "task_file")),
    ("coso_off2on", ["env=gym_cards_numberline", "causal.estimator=exact_parser"],
     ("env.domain=gym_cards", "causal.estimator=exact_parser")),
    ("coso_off2on", ["rollout.engine=ray", "rollout.mode=async", "rollout.max_staleness=0"],
     ("rollout.mode=async", "rollout.max_staleness=0")),
    ("afsft_off2on", ["rollout.engine=ray", "rollout.mode=async"], ("algorithm.afsft.epsilon=0.1", "rollout.mode=async")),
    ("coso_off2on", ["env=babyai_gotolocal", "task_file=tasks.txt"], ("env.domain=babyai", "task_file")),
    ("coso_off2on", ["env=babyai_open", "causal.estimator=exact_parser"],
     ("env.domain=babyai", "causal.estimator=exact_parser")),
    ("coso_off2on", ["env=miniwob_click_test", "task_file=tasks.txt"], ("env.domain=miniwob", "task_file")),
    ("coso_off2on", ["env=miniwob_click_test", "causal.estimator=exact_parser"],
     ("env.domain=miniwob", "causal.estimator=exact_parser")),
]
PASSING_NEIGHBOURS = [
    ("coso_off2on", ["use_entropy=false", "use_causal=false"]),  # DigiRL
    ("entropy_off2on", []),  # naive entropy
    ("eval_only", ["use_causal=true", "use_entropy=false"]),  # an eval run trains nothing
    ("filteredbc_off2on", ["train_mode=sft", "use_entropy=true"]),  # the warm start alone has no Filtered BC update
    ("digirl_online", ["train.warmup_iterations=10"]),  # a critic-only online phase
    ("digirl_offline", ["train.warmup_iterations=11"]),  # no online phase: the setting does nothing
    ("coso_off2on", ["train.sft_steps=0", "load_path=runs/some_offline_run"]),
    ("coso_off2on", ["train.sft_steps=0", "agent.policy_path=/models/Auto-UI-Base"]),
    ("coso_off2on", ["train.sft_steps=0", "offline_data=data/offline"]),
    ("coso_off2on", ["train.sft_steps=0", "train.offline_source=demonstrator"]),
    ("coso_online", ["train.sft_steps=0"]),  # no offline phase
    ("coso_offline", ["train.eval_every=2", "train.failed_task_replay=0.5"]),  # online-only settings do nothing
    ("coso_off2on", ["env=android"]),
    ("coso_off2on", ["agent.constrained_decoding=false", "agent.require_typed_text=false"]),
    ("digirl_off2on", ["scale=paper", "agent=hf_vlm", "agent.policy_path=/models/Qwen2-VL-2B-Instruct"]),
    ("coso_off2on", ["agent=hf_vlm", "env.screen_pixels_width=10", "env.image_feature_dim=2880"]),
    ("coso_off2on", ["env=babyai_gotolocal"]),
    ("coso_off2on", ["env=babyai_open", "causal.estimator=reference"]),
]


@pytest.mark.parametrize("config_name, overrides, named", COMBINATIONS,
                         ids=[f"{case[0]} {' '.join(case[1])}" for case in COMBINATIONS])
def test_each_combination_rule_refuses_in_one_line_naming_both_settings(config_name, overrides, named) -> None:
    with pytest.raises(ConfigError) as error:
        compose_run(config_name, overrides)
    message = str(error.value)
    assert "\n" not in message and message.startswith(f"{named[0]} with {named[1]}"), message


def test_every_combination_rule_has_a_case_above() -> None:
    from hydra import compose, initialize_config_dir

    from coso.config import COMBINATION_RULES

    fired: set[str] = set()
    for config_name, overrides, _ in COMBINATIONS:
        with initialize_config_dir(config_dir=CONFIG_DIR, version_base=None):
            config = OmegaConf.to_object(compose(config_name=config_name, overrides=list(overrides)))
        fired.update(rule.__name__ for rule in COMBINATION_RULES if rule(config))
    assert fired == {rule.__name__ for rule in COMBINATION_RULES}


@pytest.mark.parametrize("config_name, overrides", PASSING_NEIGHBOURS,
                         ids=[f"{case[0]} {' '.join(case[1])}" for case in PASSING_NEIGHBOURS])
def test_the_neighbours_of_each_rule_still_pass(config_name, overrides) -> None:
    check_run_config(compose_run(config_name, overrides)[0])


def test_a_wrong_word_in_a_config_file_names_the_key_and_the_allowed_words(tmp_path) -> None:
    import shutil

    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from coso.cli import hydra_error_line

    configs = tmp_path / "configs"
    shutil.copytree(CONFIG_DIR, configs)
    (configs / "env" / "typo.yaml").write_text("backend: sim\ntask_set: webshopp\njudge: rule\n")
    with pytest.raises((HydraException, OmegaConfBaseException)) as error:
        with initialize_config_dir(config_dir=str(configs), version_base=None):
            compose(config_name="coso_off2on", overrides=["env=typo"])
    assert hydra_error_line(error.value) == ("env.task_set='webshopp' is not one of webshop, general, mixed (did you "
                                             "mean webshop?); set env.task_set=<one of them>")
    with pytest.raises(OmegaConfBaseException) as error:  # a saved config.yaml merged onto the schema
        OmegaConf.merge(OmegaConf.structured(RunConfig), {"env": {"judge": "gemnii"}})
    assert hydra_error_line(error.value).startswith("env.judge='gemnii' is not one of rule, gemini")
