"""Typed run configuration: the Hydra schema every YAML under configs/ is checked against.

Sections mirror the modules: ``env`` (environment pool and phone), ``agent`` (policy and critic models),
``algorithm`` (DigiRL / Filtered BC / CoSo / AFSFT settings), ``train`` (loop sizes, optimisers), ``causal``
(CoSo's causal model and token weights), ``logging``. The reference's flag names ``use_entropy``,
``use_causal`` and ``entropy_coeff`` stay at the top level so its ablation recipes carry over.
A key that is not in this schema fails with a clear Hydra error naming it.

Where a value is checked: its type, and for a closed choice (a ``ConfigChoice`` Enum below) its word, when
Hydra composes the config; numeric bounds and combinations of settings in ``check_run_config``, before a
run writes anything.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

from hydra.core.config_store import ConfigStore

# ---------------------------------------------------------------------------------------------- closed choices


class ConfigChoice(str, Enum):
    """A closed choice of the run config: Hydra refuses any other word when it composes the config.

    Each member is named by the word users type, and its value is that same word, so YAML files and
    overrides are unchanged. A member is a ``str``: it compares, hashes, formats (``f"{x}"``, ``str(x)``,
    ``repr(x)``) and JSON-encodes as the plain word, so code written for the plain strings, the saved
    config.yaml and the SFT base key stay as they were.
    """

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)

    def __repr__(self) -> str:
        return repr(str(self.value))

    @classmethod
    def values(cls) -> tuple[str, ...]:
        """The allowed words, in declaration order."""
        return tuple(str(member.value) for member in cls)


class RunKind(ConfigChoice):
    """``run``: what the run does."""

    collect = "collect"  # a trajectory dataset
    train = "train"  # offline / online / off2on / sft training
    eval = "eval"  # score a checkpoint (or the demonstrator, or CogAgent)
    base = "base"  # build the cached SFT base (--config-name pretrain_base)


class TrainMode(ConfigChoice):
    """``train_mode``: which training phases run."""

    offline = "offline"
    online = "online"
    off2on = "off2on"
    sft = "sft"  # the warm start alone: the SFT base


class RolloutPolicy(ConfigChoice):
    """``policy``: who acts in a collect or eval run (coso.runs.ROLLOUT_AGENTS)."""

    expert = "expert"  # the scripted demonstrator
    model = "model"  # the AutoUI policy of load_path's checkpoint
    cogagent = "cogagent"  # a CogAgent endpoint (agent.cogagent.url)


class RolloutEngineName(ConfigChoice):
    """``rollout.engine``: where the phones of a run's rollouts live (coso.distributed)."""

    local = "local"  # in the trainer's process (the default; needs no Ray)
    ray = "ray"  # on Ray actors, across the machines of a Ray cluster


# ``rollout.mode``: how a Ray rollout relates to training. "sync": the trainer writes every action, exactly the
# local engine's trajectories; "async": workers sample with their own policy copy while the trainer updates
# (bounded staleness). Built by the functional API because ``async`` is a Python keyword (OmegaConf matches
# members by name).
if TYPE_CHECKING:  # what the checker sees: the same two words (``async`` cannot be a member name in a class body)
    class RolloutMode(ConfigChoice):
        """``rollout.mode``."""

        sync = "sync"
        async_ = "async"
else:
    RolloutMode = ConfigChoice("RolloutMode", [("sync", "sync"), ("async", "async")])
    RolloutMode.__doc__ = "``rollout.mode``: sync (exactly local's trajectories) or async (overlaps the updates)."


class AlgorithmName(ConfigChoice):
    """``algorithm.name``: the update rule."""

    digirl = "digirl"
    filteredbc = "filteredbc"
    coso = "coso"
    afsft = "afsft"  # advantage-filtered SFT with a token-level Q head ("VLM Q-Learning")


class AdvantageForm(ConfigChoice):
    """``algorithm.advantage``: DigiRL's step-advantage form (coso.algorithms.digirl.STEP_ADVANTAGE_FORMS)."""

    reference = "reference"  # the released code
    doubly_robust = "doubly_robust"  # the paper


class AFSFTDiscount(ConfigChoice):
    """``algorithm.afsft.discount``: where gamma applies in the token MDP (coso.algorithms.afsft.DISCOUNT_MODES)."""

    token = "token"  # every token step (the literal token MDP)
    turn = "turn"  # once per turn, at its last token


class AFSFTStateValue(ConfigChoice):
    """``algorithm.afsft.state_value``: V(s) from Q (coso.algorithms.afsft.STATE_VALUE_FORMS)."""

    expectation = "expectation"  # E_{a~pi} Q(s, a), the paper's
    max = "max"


class AFSFTBetaSchedule(ConfigChoice):
    """``algorithm.afsft.beta_schedule``: how the filter's beta leaves -inf (coso.algorithms.afsft.BETA_SCHEDULES)."""

    step = "step"
    linear = "linear"


class AFSFTReduction(ConfigChoice):
    """``algorithm.afsft.sft_reduction``: the filtered SFT loss's mean (coso.algorithms.afsft.SFT_REDUCTIONS)."""

    all_tokens = "all_tokens"
    kept_tokens = "kept_tokens"


class CausalEstimator(ConfigChoice):
    """``causal.estimator``: CoSo's token-weight estimator (coso.algorithms.coso.TOKEN_WEIGHT_ESTIMATORS)."""

    reference = "reference"
    content_minmax = "content_minmax"
    window1 = "window1"
    no_sqrt = "no_sqrt"
    exact_parser = "exact_parser"
    uniform = "uniform"


class EntropyReduction(ConfigChoice):
    """``causal.entropy_reduction``: how token entropies become one per action (coso.algorithms.coso)."""

    token_mean = "token_mean"
    release_broadcast = "release_broadcast"
    sum = "sum"


class OfflineSource(ConfigChoice):
    """``train.offline_source``: where the offline dataset comes from when ``offline_data`` is empty."""

    demonstrator = "demonstrator"
    policy = "policy"


class ValSplit(ConfigChoice):
    """``train.val_split``: when the replay buffer's trajectories are split into train and val (coso.data.buffer)."""

    on_entry = "on_entry"  # once per trajectory, when it enters the buffer: val stays held out
    every_iteration = "every_iteration"  # the whole buffer reshuffled at every update round (DigiRL's release)


class MixedPrecision(ConfigChoice):
    """``train.mixed_precision``: accelerate's mixed precision."""

    no = "no"
    bf16 = "bf16"
    fp16 = "fp16"


class WandbMode(ConfigChoice):
    """``logging.wandb_mode``."""

    auto = "auto"  # online with WANDB_API_KEY, else offline
    online = "online"
    offline = "offline"
    disabled = "disabled"


class WordSpaces(ConfigChoice):
    """``agent.tokenizer_word_spaces``: the built-in tokenizer's pre-tokenisation (coso.models.tokenizer)."""

    attached = "attached"
    separate = "separate"


class CriticTextEncoder(ConfigChoice):
    """``agent.critic_text_encoder`` (coso.models.text_encoder.TEXT_ENCODERS)."""

    small = "small"  # the built-in encoder
    roberta = "roberta"  # roberta-base from agent.critic_encoder_path
    builtin = "builtin"  # the text encoder's own name for small
    pretrained = "pretrained"  # the text encoder's own name for roberta


class EnvBackend(ConfigChoice):
    """``env.backend`` (coso.env.factory.ENV_BACKENDS)."""

    sim = "sim"  # the built-in simulated phone
    android = "android"  # emulators or attached phones through Appium


class DomainName(ConfigChoice):
    """``env.domain``: what the agent acts in (coso.env.domains.DOMAINS)."""

    phone = "phone"  # AitW-style phone tasks (env.backend: the simulated phone or real emulators)
    gym_cards = "gym_cards"  # RL4VLM's Gym Cards games, in process (env.gym_cards)
    babyai = "babyai"  # BabyAI levels of the minigrid package (env.babyai)
    miniwob = "miniwob"  # MiniWoB++ pages in a headless Chromium (env.miniwob; the miniwob extra)


class GymCardsGame(ConfigChoice):
    """``env.gym_cards.game``: the Gym Cards game (coso.env.gym_cards.rules.GAMES)."""

    numberline = "numberline"
    ezpoints = "ezpoints"
    points24 = "points24"
    blackjack = "blackjack"


class GymCardsReward(ConfigChoice):
    """``env.gym_cards.reward``: the training reward (coso.env.gym_cards.env.REWARD_MODES)."""

    success = "success"  # 1 on the step that solves the task (DigiRL's critics read rewards as success)
    game = "game"  # RL4VLM's game rewards (-1 / 0 / +1, +10 for a formula)


class BabyAILevel(ConfigChoice):
    """``env.babyai.level``: the BabyAI level (coso.env.babyai.env.LEVELS, each a registered minigrid id)."""

    gotolocal = "gotolocal"  # BabyAI-GoToLocal-v0
    pickuploc = "pickuploc"  # BabyAI-PickupLoc-v0
    opendoor = "opendoor"  # BabyAI-OpenDoor-v0
    open = "open"  # BabyAI-Open-v0
    putnextlocal = "putnextlocal"  # BabyAI-PutNextLocal-v0


class BabyAIReward(ConfigChoice):
    """``env.babyai.reward``: the training reward (coso.env.babyai.env.REWARD_MODES)."""

    success = "success"  # 1 on the step that completes the mission (DigiRL's critics read rewards as success)
    game = "game"  # minigrid's reward: 1 - 0.9 * steps / max_steps on success, else 0


class MiniWoBTask(ConfigChoice):
    """``env.miniwob.task``: a MiniWoB++ task, named with "_" for "-" (coso.env.miniwob.env.MINIWOB_CLICK_TASKS)."""

    click_button = "click_button"
    click_button_sequence = "click_button_sequence"
    click_checkboxes = "click_checkboxes"
    click_checkboxes_large = "click_checkboxes_large"
    click_checkboxes_soft = "click_checkboxes_soft"
    click_checkboxes_transfer = "click_checkboxes_transfer"
    click_collapsible = "click_collapsible"
    click_collapsible_2 = "click_collapsible_2"
    click_color = "click_color"
    click_dialog = "click_dialog"
    click_dialog_2 = "click_dialog_2"
    click_link = "click_link"
    click_menu = "click_menu"
    click_menu_2 = "click_menu_2"
    click_option = "click_option"
    click_pie = "click_pie"
    click_scroll_list = "click_scroll_list"
    click_shades = "click_shades"
    click_shape = "click_shape"
    click_tab = "click_tab"
    click_tab_2 = "click_tab_2"
    click_tab_2_easy = "click_tab_2_easy"
    click_tab_2_hard = "click_tab_2_hard"
    click_tab_2_medium = "click_tab_2_medium"
    click_test = "click_test"
    click_test_2 = "click_test_2"
    click_test_transfer = "click_test_transfer"
    click_widget = "click_widget"


class MiniWoBReward(ConfigChoice):
    """``env.miniwob.reward``: the training reward (coso.env.miniwob.env.REWARD_MODES)."""

    success = "success"  # 1 when the page ends with a raw reward > 0 (DigiRL's critics read rewards as success)
    benchmark = "benchmark"  # MiniWoB++'s own reward: time-discounted in (0, 1] on success, -1 (or partial) else


class TaskSet(ConfigChoice):
    """``env.task_set``: the generated tasks' set (coso.env.task_generator.GENERATOR_TASK_SETS)."""

    webshop = "webshop"
    general = "general"
    mixed = "mixed"


class JudgeKind(ConfigChoice):
    """``env.judge``: who decides an episode's success."""

    rule = "rule"  # the simulator's state
    gemini = "gemini"  # screenshots, for real phones


class InvalidAction(ConfigChoice):
    """``env.invalid_action``: what an unparseable action does (coso.env.base.INVALID_ACTION_MODES)."""

    terminate = "terminate"
    penalize = "penalize"


class ImageEncoderName(ConfigChoice):
    """``env.image_encoder`` (the names registered in coso.env.features.IMAGE_ENCODERS)."""

    pixel = "pixel"
    pixel_projection = "pixel_projection"
    blip2 = "blip2"
    screen_pixels = "screen_pixels"  # the screen itself, resized (what a VLM policy reads)


class PolicyArchitecture(ConfigChoice):
    """``agent.architecture``: which policy the run builds (coso.training.components.POLICY_BUILDERS)."""

    autoui = "autoui"  # the built-in AutoUI-style policy, or Auto-UI-Base from agent.policy_path
    hf_vlm = "hf_vlm"  # a local Hugging Face image-text-to-text model from agent.policy_path (coso.models.hf_vlm)


class CorruptionMode(ConfigChoice):
    """An entry of ``env.sim.faults.corrupt_modes`` (coso.env.sim.config.CORRUPTION_MODES)."""

    black = "black"
    wrong_size = "wrong_size"


# the layout difficulty names of env.sim.difficulty, which may also be a number in [0, 1]
# (coso.env.sim.config.DIFFICULTY_LEVELS; a str-or-number setting cannot be an Enum)
SIM_DIFFICULTIES = ("easy", "medium", "hard")


# ---------------------------------------------------------------------------------------------- the schema


@dataclass
class SimFaultsConfig:
    """env.sim.faults: fault injection on the simulated phone (coso.env.sim.FaultConfig), off by default."""

    error_prob: float = 0.0  # per device call: raise DeviceError
    hang_prob: float = 0.0  # per device call: sleep hang_seconds first
    hang_seconds: float = 5.0
    corrupt_prob: float = 0.0  # per screenshot: black or wrong size
    corrupt_modes: list[CorruptionMode] = field(default_factory=lambda: list(CorruptionMode))
    seed: int = 0  # mixed with the episode seed
    action_latency_s: float = 0.0  # per action: sleep this long first (an emulator's latency; 0: none)
    action_latency_jitter_s: float = 0.0  # plus a uniform draw from [0, this]


@dataclass
class SimSectionConfig:
    """env.sim: the simulated phone (coso.env.sim.SimConfig); every documented key is typed, no `+` needed."""

    width: int = 270
    height: int = 480
    difficulty: Any = "medium"  # "easy", "medium", "hard", or a number in [0, 1]
    faults: SimFaultsConfig = field(default_factory=SimFaultsConfig)


@dataclass
class GymCardsSectionConfig:
    """env.gym_cards: the Gym Cards game of env.domain=gym_cards (coso.env.gym_cards)."""

    game: GymCardsGame = GymCardsGame.numberline
    reward: GymCardsReward = GymCardsReward.success
    max_position: int = 5  # NumberLine: the line runs from 0 to max_position (RL4VLM's default 5)


@dataclass
class BabyAISectionConfig:
    """env.babyai: the BabyAI level of env.domain=babyai (coso.env.babyai)."""

    level: BabyAILevel = BabyAILevel.gotolocal
    reward: BabyAIReward = BabyAIReward.success
    max_steps: int = 0  # the episode's step limit when below the level's own (0: the level's own limit)


@dataclass
class MiniWoBSectionConfig:
    """env.miniwob: the MiniWoB++ task of env.domain=miniwob (coso.env.miniwob; docs/domains.md)."""

    task: MiniWoBTask = MiniWoBTask.click_test
    reward: MiniWoBReward = MiniWoBReward.success
    max_steps: int = 10  # the episode's horizon in actions
    time_limit_s: float = 0.0  # the page's own clock (10 s for most tasks) unless > 0
    chrome_binary: str = ""  # "" : chromium on PATH
    chromedriver: str = ""  # "" : chromedriver on PATH


@dataclass
class EnvConfig:
    """The environment pool: domain, backend, task set, concurrency, timeouts and episode rules."""

    domain: DomainName = DomainName.phone  # "phone", "gym_cards" or "babyai" (coso.env.domains)
    backend: EnvBackend = EnvBackend.sim  # "sim" (the built-in simulated phone) or "android" (emulators through Appium)
    task_set: TaskSet = TaskSet.webshop  # "webshop", "general" or "mixed" (generated tasks only)
    num_envs: int = 4
    step_timeout_s: float = 30.0
    reset_timeout_s: float = 60.0
    max_restarts: int = 5
    judge: JudgeKind = JudgeKind.rule  # "rule" (simulator state) or "gemini" (screenshots)
    image_encoder: ImageEncoderName = ImageEncoderName.pixel  # "pixel" (built-in, no download) or "blip2" (local path)
    image_encoder_path: str = ""
    image_feature_dim: int = 256  # per screen; the models take previous + current = 2x this
    # the screen_pixels encoder's screen size (image_feature_dim must be width * height * 3)
    screen_pixels_width: int = 54
    screen_pixels_height: int = 96
    # "terminate" (the reference's rule) or "penalize" (continue with a penalty)
    invalid_action: InvalidAction = InvalidAction.terminate
    invalid_action_penalty: float = 0.0
    # "penalize": the episode times out after this many consecutive invalid actions (0: never), the last one
    # rewarded -invalid_timeout_penalty (AFSFT's reward shaping: reference-notes section 4)
    invalid_timeout_after: int = 0
    invalid_timeout_penalty: float = 0.0
    # digits after the decimal point in the demonstrator's points: AutoUI's 4, or fewer for a leaner text
    point_decimals: int = 4
    max_steps_general: int = 10
    max_steps_webshop: int = 20
    record_episodes: int = 0  # GIFs of this many episodes per eval phase (0: none)
    sim: SimSectionConfig = field(default_factory=SimSectionConfig)
    gym_cards: GymCardsSectionConfig = field(default_factory=GymCardsSectionConfig)
    babyai: BabyAISectionConfig = field(default_factory=BabyAISectionConfig)
    miniwob: MiniWoBSectionConfig = field(default_factory=MiniWoBSectionConfig)
    android: dict[str, Any] = field(default_factory=dict)  # coso.env.android emulator/Appium settings
    gemini: dict[str, Any] = field(default_factory=dict)  # coso.env.gemini_judge settings


@dataclass
class RolloutConfig:
    """rollout: the rollout engine; ``ray`` spreads the phones over Ray actors (docs/distributed.md)."""

    engine: RolloutEngineName = RolloutEngineName.local  # "local" (in process) or "ray" (rollout workers)
    mode: RolloutMode = RolloutMode.sync  # "sync" (exactly local's trajectories) or "async" (overlaps updates)
    num_workers: int = 2  # Ray rollout workers (actors); the env.num_envs phones are dealt to them round-robin
    max_staleness: int = 1  # async: trajectories from weights more than this many versions old are rejected
    request_timeout_s: float = 900.0  # async: a worker's batch of episodes must come back within this
    max_worker_restarts: int = 3  # a lost worker is restarted this many times before the run fails
    address: str = ""  # a Ray cluster to join ("auto": the one `ray start` runs here); empty: a private one
    worker_resource: str = ""  # a custom Ray resource each worker needs one of per phone (e.g. "emulators")
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0  # async: GPUs Ray gives each worker; its policy copy generates there when > 0


@dataclass
class AgentConfig:
    """The policy and critic models: built-in small ones by default, local checkpoints for the real setting."""

    name: str = "autoui_small"
    policy_path: str = ""  # a local Auto-UI-Base directory; empty builds the small model from `model`
    model: dict[str, Any] = field(default_factory=dict)  # coso.models.autoui.AutoUIConfig fields
    tokenizer_vocab_size: int = 2048
    # the built-in tokenizer's word pre-tokenisation: "attached" (a word token carries its leading space) or
    # "separate" (a word is one id wherever it stands, so the goal's words and the typed text match)
    tokenizer_word_spaces: WordSpaces = WordSpaces.attached
    # "small" (built-in) or "roberta" (critic_encoder_path)
    critic_text_encoder: CriticTextEncoder = CriticTextEncoder.small
    critic_encoder_path: str = ""
    critic: dict[str, Any] = field(default_factory=dict)  # critic model sizes
    temperature: float = 1.0
    max_new_tokens: int = 128
    eval_temperature: float = 1.0
    # grammar-constrained decoding (coso.models.constrained): rollouts and evaluation only write parseable
    # actions; the losses still score the text under the policy's full distribution
    constrained_decoding: bool = False
    # with constrained_decoding: a TYPE action must type at least one character (an empty TYPE is a no-op the
    # small policy repeats until the horizon: docs/learning-dynamics.md section 15)
    require_typed_text: bool = False
    lora_rank: int = 0
    # "autoui" (built in, or Auto-UI-Base) or "hf_vlm" (a local Hugging Face VLM at policy_path, with LoRA)
    architecture: PolicyArchitecture = PolicyArchitecture.autoui
    hf_vlm: dict[str, Any] = field(default_factory=dict)  # coso.models.hf_vlm.HFVLMConfig fields (architecture=hf_vlm)
    cogagent: dict[str, Any] = field(default_factory=dict)  # coso.agents.cogagent.CogAgentConfig (policy=cogagent)


@dataclass
class AFSFTConfig:
    """algorithm.afsft: AFSFT's Q head, TD critic and advantage filter (coso/algorithms/afsft.py)."""

    td_coeff: float = 1.0  # lambda in the joint loss filtered SFT + lambda * TD
    gamma: float = 0.9  # the token MDP's discount, applied as `discount` says
    # "turn" (default: gamma once per turn, the horizon the phone's rewards live on) or "token" (every token)
    discount: AFSFTDiscount = AFSFTDiscount.turn
    state_value: AFSFTStateValue = AFSFTStateValue.expectation  # V(s) = E_pi Q (the paper) or max_a Q
    polyak_tau: float = 0.008  # the target Q head's rate: target <- (1 - tau) target + tau online
    popart_rate: float = 5e-4  # PopArt's statistics rate
    beta: float = 0.0  # the filter 1[Q(s, a) - V(s) >= beta] once the warm-up is over
    beta_warmup_steps: int = 100  # AFSFT updates with beta = -inf (plain SFT) while the critic learns
    beta_schedule: AFSFTBetaSchedule = AFSFTBetaSchedule.step  # "step" or "linear" (ramp_from -> beta)
    beta_ramp_steps: int = 0
    beta_ramp_from: float = -1.0
    sft_reduction: AFSFTReduction = AFSFTReduction.all_tokens
    # the TD loss also trains the policy's trunk (the paper); false: the Q head reads detached hidden states
    critic_trunk_gradient: bool = True
    q_lr: float = 0.0  # the Q head's learning rate; 0: train.critic_lr
    # online rollouts: per step, a random valid action instead of the policy's with this probability
    epsilon: float = 0.0


@dataclass
class AlgorithmConfig:
    """The update rule: DigiRL's filtered actor-critic, Filtered BC, or CoSo (DigiRL + causal entropy)."""

    name: AlgorithmName = AlgorithmName.digirl  # "digirl", "filteredbc" or "coso"
    gamma: float = 0.5
    # step-advantage form: "reference" (the code) or "doubly_robust" (the paper)
    advantage: AdvantageForm = AdvantageForm.reference
    trajectory_filter_fraction: float = 0.1
    actor_prob_clamp: bool = True  # DigiRL's [0.001, 0.99] clamp on the chosen token's probability
    critic_next_state_target: bool = True  # the reference also trains V(s') on the MC-return target
    # behaviour-cloning anchor: each actor step also adds this times the token-mean NLL of a batch drawn from
    # every successful trajectory of the training buffer, so learning the few tasks the curriculum keeps does
    # not overwrite the tasks it already solves (0: DigiRL's update alone; docs/learning-dynamics.md §11)
    bc_anchor_coeff: float = 0.0
    # KL anchor: each actor step also adds this times the token-mean KL(pi_ref || pi) on a batch of the training
    # buffer, pi_ref = the policy when the RL phases began (the warm start), frozen: the fine-tuned policy
    # keeps the warm start's choices where no evidence moves it (0: none; docs/learning-dynamics.md §14)
    kl_anchor_coeff: float = 0.0
    afsft: AFSFTConfig = field(default_factory=AFSFTConfig)  # used when name=afsft


@dataclass
class CausalConfig:
    """CoSo's causal model and counterfactual token weights."""

    hidden_size: int = 128
    num_heads: int = 4
    num_layers: int = 3
    ffn_size: int = 512
    lr: float = 1e-5
    pretrain_calls: int = 500  # reference: 500 calls before the online loop
    calls_per_iteration: int = 1
    epochs_per_call: int = 2
    samples_per_call: int = 1024
    batch_size: int = 64
    # token-weight estimator: "reference" (CoSo's release exactly: classifier, window 4, whole-row min-max +
    # 1e-10, sqrt), "content_minmax" (min-max over content tokens, flat rows 1), "window1" (the paper's
    # one-token intervention), "no_sqrt", "exact_parser" (the real parser on the perturbed text), or "uniform"
    # (weight 1 on every token: naive entropy)
    estimator: CausalEstimator = CausalEstimator.reference
    # "token_mean" (per-row token mean, the release's intent), "release_broadcast" (the release's arithmetic,
    # docs/algorithms.md section 5) or "sum" (paper)
    entropy_reduction: EntropyReduction = EntropyReduction.token_mean
    entropy_in_offline: bool = False  # entropy bonus only in the online phase by default
    heatmap_every: int = 0  # token-weight heatmap PNGs every N actor updates (0: never)


@dataclass
class TrainConfig:
    """Loop sizes, optimisers and schedule (the `scale` group sets these together)."""

    offline_episodes: int = 64  # demonstrator episodes collected when no offline dataset is given
    # a collection phase (SFT demonstrations, offline data) whose episodes not ended by a failed environment
    # are fewer than this fraction of those requested stops with InsufficientDataError (0: never)
    min_usable_fraction: float = 0.5
    # supervised warm start (steps of batch_size) on successful demonstrations before any RL: the built-in
    # policy's stand-in for the AutoUI-SFT checkpoint (0 for a real Auto-UI-Base, which is already SFT-trained)
    sft_steps: int = 0
    # the SFT data: demonstrator episodes with their own (low) noise, like the human demonstrations AutoUI was
    # fine-tuned on; the offline dataset's noise (random actions, typos) would drown the goal-conditioned tokens
    sft_episodes: int = 1024
    sft_noise: float = 0.0
    sft_lr: float = 0.0  # the policy's learning rate during the warm start; 0: lm_lr (the RL phases' rate)
    # cache the SFT warm start as a base shared by every run with the same base key (coso.training.sft_base):
    # a directory (e.g. runs/sft_base), or "" to warm-start inside each run; the base has its own seed
    sft_cache_dir: str = ""
    sft_seed: int = 0
    offline_noise: float = 0.5
    # where the offline dataset comes from when offline_data is empty: "demonstrator" (scripted expert with
    # offline_noise) or "policy" (rollouts of the warm-started policy at agent.temperature, as DigiRL's offline
    # data are the AutoUI-SFT policy's own trajectories)
    offline_source: OfflineSource = OfflineSource.demonstrator
    offline_trajectory_critic_epochs: int = 20
    offline_critic_epochs: int = 20
    offline_actor_epochs: int = 30
    online_iterations: int = 10
    rollout_size: int = 16
    warmup_iterations: int = 0  # online iterations that train critics only
    # share of each online iteration's rollout tasks drawn from the tasks whose latest episode in the buffer
    # failed (coso/training/curriculum.py); 0 draws every task uniformly, as DigiRL does
    failed_task_replay: float = 0.0
    capacity: int = 2000
    train_fraction: float = 0.8
    # on_entry: a trajectory keeps its train/val side from when it entered the buffer, so val_* metrics are held
    # out; every_iteration reshuffles the whole buffer each round as DigiRL's release does (the committed
    # results up to issue 10 item 6 were measured with it)
    val_split: ValSplit = ValSplit.on_entry
    batch_size: int = 4
    grad_accum_steps: int = 32
    critic_epochs: int = 5
    actor_epochs: int = 20
    trajectory_critic_epochs: int = 5
    max_grad_norm: float = 0.01
    lm_lr: float = 1e-4
    # AdamW's second-moment decay for the policy: 0.999 is torch's default; a shorter memory (0.99) keeps the
    # early, large gradients of a policy trained from scratch from shrinking its later, smaller steps
    lm_adam_beta2: float = 0.999
    critic_lr: float = 1e-4
    eval_episodes: int = 16
    eval_initial: bool = True  # also score the untrained (or loaded) policy before training
    eval_every: int = 0  # also evaluate after every N-th online iteration (phase "iteration_<n>"); 0: never
    save_freq: int = 1  # checkpoint every N online iterations
    mixed_precision: MixedPrecision = MixedPrecision.no  # accelerate: "no", "bf16" or "fp16"
    # torch threads per process: 0 keeps torch's default (one per core, or OMP_NUM_THREADS); set 1 when several
    # runs share the machine (benchmarks/reports/threads.md)
    num_threads: int = 0


@dataclass
class LoggingConfig:
    """Where metrics go: metrics.jsonl always, wandb (offline without a key), plots."""

    # "auto": online with WANDB_API_KEY, else offline; or "online"/"offline"/"disabled"
    wandb_mode: WandbMode = WandbMode.auto
    project: str = "coso"
    progress: bool = True


@dataclass
class RunConfig:
    """One run: what to do (collect / train / eval), with what, and where to write it."""

    config_name: str = "run"
    run: RunKind = RunKind.train  # "collect", "train", "eval" or "base" (build the cached SFT base)
    # "offline", "online", "off2on", or "sft" (the warm start alone: the SFT base)
    train_mode: TrainMode = TrainMode.off2on
    seed: int = 0
    save_path: str = "runs/${config_name}/seed${seed}"
    load_path: str = ""  # eval_only: the checkpoint to score; off2on: an offline checkpoint to start from
    task_file: str = ""  # one task per line; empty: the built-in generator
    # a task line that does not parse stops the run (exit 2); true: skip it with a warning naming the line
    skip_bad_task_lines: bool = False
    # evaluation tasks from their own file (e.g. held-out wording); empty: the first lines of task_file, or
    # generated tasks from a seed stream disjoint from training's
    eval_task_file: str = ""
    episodes: int | None = None  # collect: number of episodes (default: one per task line)
    # collect / eval: "expert" (demonstrator), "model" (load_path's policy) or "cogagent"
    policy: RolloutPolicy = RolloutPolicy.expert
    noise: float = 0.0  # collect: demonstrator noise level
    offline_data: str = ""  # a trajectory dataset directory; empty: collect one with the demonstrator
    use_entropy: bool = False
    use_causal: bool = False
    entropy_coeff: float = 1.0  # alpha: the one default (the reference loss uses 1.0; its files disagree)
    scale_name: str = "cpu"
    env: EnvConfig = field(default_factory=EnvConfig)
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    agent: AgentConfig = field(default_factory=AgentConfig)
    algorithm: AlgorithmConfig = field(default_factory=AlgorithmConfig)
    causal: CausalConfig = field(default_factory=CausalConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)


def register_configs() -> None:
    """Register the schema with Hydra so YAML files can name it in their defaults list."""
    store = ConfigStore.instance()
    store.store(name="run_schema", node=RunConfig)


# ---------------------------------------------------------------------------------------------- validation

# the allowed words of each closed choice, as tuples (for code that lists them)
RUN_KINDS = RunKind.values()
TRAIN_MODES = TrainMode.values()
ALGORITHM_NAMES = AlgorithmName.values()
OFFLINE_SOURCES = OfflineSource.values()
MIXED_PRECISION = MixedPrecision.values()
WANDB_MODES = WandbMode.values()
WORD_SPACES = WordSpaces.values()

# (dotted name, lowest allowed, whether the lowest is excluded, what the setting is): checked by check_run_config
_BOUNDS: tuple[tuple[str, float, bool, str], ...] = (
    ("env.num_envs", 1, False, "parallel phones"),
    ("rollout.num_workers", 1, False, "Ray rollout workers"),
    ("rollout.max_staleness", 0, False, "policy versions"),
    ("rollout.request_timeout_s", 0, True, "seconds per worker request"),
    ("rollout.max_worker_restarts", 0, False, "restarts per worker"),
    ("rollout.cpus_per_worker", 0, False, "CPUs per worker"),
    ("rollout.gpus_per_worker", 0, False, "GPUs per worker"),
    ("env.step_timeout_s", 0, True, "seconds per step"),
    ("env.reset_timeout_s", 0, True, "seconds per reset"),
    ("env.max_restarts", 0, False, "restarts per phone"),
    ("env.image_feature_dim", 1, False, "features per screen"),
    ("env.screen_pixels_width", 1, False, "screen_pixels columns"),
    ("env.screen_pixels_height", 1, False, "screen_pixels rows"),
    ("env.point_decimals", 0, False, "digits per coordinate"),
    ("env.max_steps_general", 1, False, "steps per general episode"),
    ("env.max_steps_webshop", 1, False, "steps per webshop episode"),
    ("env.record_episodes", 0, False, "recorded episodes"),
    ("env.invalid_timeout_after", 0, False, "consecutive invalid actions (0: no timeout)"),
    ("env.invalid_timeout_penalty", 0, False, "the invalid-action timeout's penalty"),
    ("env.gym_cards.max_position", 1, False, "the NumberLine's highest number"),
    ("env.babyai.max_steps", 0, False, "steps per BabyAI episode (0: the level's own limit)"),
    ("env.miniwob.max_steps", 1, False, "steps per MiniWoB++ episode"),
    ("env.miniwob.time_limit_s", 0, False, "seconds of the page's clock (0: the task's own)"),
    ("agent.tokenizer_vocab_size", 1, False, "tokens"),
    ("agent.temperature", 0, False, "the rollout temperature (0: greedy)"),
    ("agent.eval_temperature", 0, False, "the evaluation temperature (0: greedy)"),
    ("agent.max_new_tokens", 1, False, "tokens per action"),
    ("agent.lora_rank", 0, False, "the LoRA rank (0: none)"),
    ("algorithm.gamma", 0, False, "the discount"),
    ("algorithm.trajectory_filter_fraction", 0, True, "the kept fraction"),
    ("algorithm.bc_anchor_coeff", 0, False, "the behaviour-cloning anchor's weight (0: none)"),
    ("algorithm.kl_anchor_coeff", 0, False, "the KL anchor's weight (0: none)"),
    ("algorithm.afsft.td_coeff", 0, False, "AFSFT's TD weight lambda"),
    ("algorithm.afsft.gamma", 0, False, "AFSFT's discount"),
    ("algorithm.afsft.polyak_tau", 0, True, "the target Q head's Polyak rate"),
    ("algorithm.afsft.popart_rate", 0, True, "PopArt's statistics rate"),
    ("algorithm.afsft.beta", -1e9, False, "the filter's threshold"),
    ("algorithm.afsft.beta_warmup_steps", 0, False, "AFSFT updates of plain SFT"),
    ("algorithm.afsft.beta_ramp_steps", 0, False, "AFSFT updates of the linear ramp"),
    ("algorithm.afsft.beta_ramp_from", -1e9, False, "the linear ramp's first beta"),
    ("algorithm.afsft.q_lr", 0, False, "the Q head's learning rate (0: train.critic_lr)"),
    ("algorithm.afsft.epsilon", 0, False, "the exploration probability"),
    ("causal.hidden_size", 1, False, "units"),
    ("causal.num_heads", 1, False, "heads"),
    ("causal.num_layers", 1, False, "layers"),
    ("causal.ffn_size", 1, False, "units"),
    ("causal.lr", 0, True, "the causal model's learning rate"),
    ("causal.pretrain_calls", 0, False, "calls"),
    ("causal.calls_per_iteration", 0, False, "calls"),
    ("causal.epochs_per_call", 0, False, "epochs"),
    ("causal.samples_per_call", 1, False, "samples"),
    ("causal.batch_size", 1, False, "samples per batch"),
    ("causal.heatmap_every", 0, False, "actor updates (0: never)"),
    ("train.offline_episodes", 0, False, "episodes"),
    ("train.sft_steps", 0, False, "steps (0: no warm start)"),
    ("train.sft_episodes", 0, False, "episodes"),
    ("train.sft_noise", 0, False, "the noise level"),
    ("train.sft_lr", 0, False, "the warm start's learning rate (0: lm_lr)"),
    ("train.offline_noise", 0, False, "the noise level"),
    ("train.offline_trajectory_critic_epochs", 0, False, "epochs"),
    ("train.offline_critic_epochs", 0, False, "epochs"),
    ("train.offline_actor_epochs", 0, False, "epochs"),
    ("train.online_iterations", 0, False, "iterations"),
    ("train.rollout_size", 1, False, "episodes per iteration"),
    ("train.warmup_iterations", 0, False, "iterations"),
    ("train.failed_task_replay", 0, False, "the replayed share of the rollout tasks"),
    ("train.capacity", 1, False, "trajectories"),
    ("train.train_fraction", 0, True, "the training share of the buffer"),
    ("train.batch_size", 1, False, "samples per micro-batch"),
    ("train.grad_accum_steps", 1, False, "micro-batches per step"),
    ("train.critic_epochs", 0, False, "epochs"),
    ("train.actor_epochs", 0, False, "epochs"),
    ("train.trajectory_critic_epochs", 0, False, "epochs"),
    ("train.max_grad_norm", 0, True, "the gradient clipping norm"),
    ("train.lm_lr", 0, True, "the policy's learning rate"),
    ("train.lm_adam_beta2", 0, False, "AdamW's beta2"),
    ("train.critic_lr", 0, True, "the critics' learning rate"),
    ("train.eval_episodes", 1, False, "evaluation episodes"),
    ("train.eval_every", 0, False, "iterations (0: never)"),
    ("train.save_freq", 1, False, "iterations per checkpoint"),
    ("train.num_threads", 0, False, "torch threads (0: torch's default)"),
    ("noise", 0, False, "the demonstrator noise level"),
    ("entropy_coeff", 0, False, "the entropy coefficient alpha"),
)
# settings that also have an upper bound: (dotted name, highest allowed, whether the highest is excluded)
_UPPER: tuple[tuple[str, float, bool], ...] = (
    ("algorithm.gamma", 1, False),
    ("algorithm.trajectory_filter_fraction", 1, False),
    ("algorithm.afsft.gamma", 1, False),
    ("algorithm.afsft.polyak_tau", 1, False),
    ("algorithm.afsft.popart_rate", 1, False),
    ("algorithm.afsft.beta", 1e9, False),
    ("algorithm.afsft.beta_ramp_from", 1e9, False),
    ("algorithm.afsft.epsilon", 1, False),
    ("train.train_fraction", 1, False),
    ("train.failed_task_replay", 1, False),
    ("train.sft_noise", 1, False),
    ("train.offline_noise", 1, False),
    ("train.lm_adam_beta2", 1, True),
    ("noise", 1, False),
)


def choice_fields(schema: type = RunConfig, prefix: str = "") -> Iterator[tuple[str, type[ConfigChoice], bool]]:
    """(dotted name, its ConfigChoice Enum, whether the setting is a list of them) for every closed choice."""
    hints = typing.get_type_hints(schema)
    for schema_field in dataclasses.fields(schema):
        hint = hints[schema_field.name]
        name = prefix + schema_field.name
        args = typing.get_args(hint)
        if isinstance(hint, type) and issubclass(hint, ConfigChoice):
            yield name, hint, False
        elif (typing.get_origin(hint) is list and args and isinstance(args[0], type)
              and issubclass(args[0], ConfigChoice)):
            yield name, args[0], True
        elif isinstance(hint, type) and dataclasses.is_dataclass(hint):
            yield from choice_fields(hint, name + ".")


def choice_of(name: str) -> type[ConfigChoice] | None:
    """The Enum of the closed-choice setting ``name`` (a dotted key; a list index such as ``[0]`` is ignored)."""
    key = name.split("[", 1)[0]
    return next((enum for dotted, enum, _ in choice_fields() if dotted == key), None)


def choice_problem(name: str, value: Any, choices: tuple[str, ...]) -> str:
    """The one-line message for a closed-choice setting whose word is not one of ``choices``."""
    close = difflib.get_close_matches(str(value), choices, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    setting = name.split("[", 1)[0]  # an entry of a list setting: env.sim.faults.corrupt_modes[1]
    fix = f"set {name}=<one of them>" if setting == name else f"make every entry of {setting} one of them"
    return f"{name}={str(value)!r} is not one of {', '.join(choices)}{hint}; {fix}"


def _setting(config: RunConfig, name: str) -> Any:
    """The value of a dotted setting of ``config``."""
    value: Any = config
    for part in name.split("."):
        value = getattr(value, part)
    return value


def _number_problem(value: Any, low: float, low_open: bool, high: float | None, high_open: bool) -> str:
    """Why a numeric setting is out of range ('' when it is fine)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"is a {type(value).__name__}, not a number"
    if not math.isfinite(value):
        return "is not a finite number"
    if value < low or (low_open and value == low):
        return f"must be {'>' if low_open else '>='} {low:g}"
    if high is not None and (value > high or (high_open and value == high)):
        return f"must be {'<' if high_open else '<='} {high:g}"
    return ""


def _difficulty_problem(value: Any) -> str:
    """Why env.sim.difficulty is not a level name or a number in [0, 1] ('' when it is fine), as the phone reads it."""
    if isinstance(value, str):
        key = value.strip().lower()
        if key in SIM_DIFFICULTIES:
            return ""
        try:
            value = float(key)
        except ValueError:
            return f"is not one of {', '.join(SIM_DIFFICULTIES)} or a number in [0, 1]"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"is a {type(value).__name__}, not a level name or a number"
    if not 0.0 <= float(value) <= 1.0:
        return "is outside [0, 1]"
    return ""


def _check_values(config: RunConfig) -> None:
    """Each value on its own: numeric bounds, closed choices (for configs built in Python), a few special cases."""
    from coso.errors import ConfigError

    upper = {name: (high, is_open) for name, high, is_open in _UPPER}
    for name, low, low_open, meaning in _BOUNDS:
        value = _setting(config, name)
        high, high_open = upper.get(name, (None, False))
        problem = _number_problem(value, low, low_open, high, high_open)
        if problem:
            allowed = f"{'>' if low_open else '>='} {low:g}" + (f" and {'<' if high_open else '<='} {high:g}"
                                                                 if high is not None else "")
            raise ConfigError(f"{name}={value!r} {problem}: it is {meaning}; set {name}=<a number {allowed}>")
    for name, enum, is_list in choice_fields():  # Hydra checked these when it composed the config
        value = _setting(config, name)
        items = list(enumerate(value)) if is_list and isinstance(value, (list, tuple)) else [(None, value)]
        for index, item in items:
            if item not in enum.values():
                raise ConfigError(choice_problem(name if index is None else f"{name}[{index}]", item, enum.values()))
    difficulty = config.env.sim.difficulty
    problem = _difficulty_problem(difficulty)
    if problem:
        raise ConfigError(f"env.sim.difficulty={difficulty!r} {problem}; set env.sim.difficulty="
                          f"<{', '.join(SIM_DIFFICULTIES)}, or a number from 0 (easy) to 1 (hard)>")
    if config.episodes is not None and (isinstance(config.episodes, bool) or config.episodes < 1):
        raise ConfigError(f"episodes={config.episodes!r} must be >= 1 (or leave it out: one episode per task line)")
    if not str(config.save_path).strip():
        raise ConfigError("save_path is empty: give the run its own directory, e.g. save_path=runs/my_run")


# ---------------------------------------------------------------------------------------------- combinations
# Each rule names the two settings that contradict each other, why, and how to fix it ('' when it does not
# apply). A rule only refuses what cannot do what it says: a setting that merely has no effect in some run
# (train.eval_every in an offline run, say) passes, since one override list often serves several run
# configs (benchmarks/ablation_grid.py hands the same overrides to the base, offline and online runs).


def _trains_policy(config: RunConfig) -> bool:
    """A training run with an offline or online phase (not the warm start alone)."""
    return config.run == RunKind.train and config.train_mode != TrainMode.sft


def _causal_needs_entropy(config: RunConfig) -> str:
    if config.run in (RunKind.train, RunKind.base) and config.use_causal and not config.use_entropy:
        return ("use_causal=true with use_entropy=false: the causal weights weigh the entropy bonus, which is off; "
                "set use_entropy=true (CoSo: both true; naive entropy: use_causal=false; DigiRL: both false)")
    return ""


def _filteredbc_causal(config: RunConfig) -> str:
    if _trains_policy(config) and config.algorithm.name == AlgorithmName.filteredbc and config.use_causal:
        return ("algorithm.name=filteredbc with use_causal=true trains CoSo's causal model for nothing: Filtered BC's "
                "update has no entropy bonus for its weights; set use_causal=false use_entropy=false "
                "(or algorithm=coso)")
    return ""


def _filteredbc_entropy(config: RunConfig) -> str:
    if _trains_policy(config) and config.algorithm.name == AlgorithmName.filteredbc and config.use_entropy:
        return ("algorithm.name=filteredbc with use_entropy=true: Filtered BC's update has no entropy bonus (DigiRL's "
                "actor update has); set use_entropy=false (or algorithm=coso)")
    return ""


def _afsft_entropy(config: RunConfig) -> str:
    if _trains_policy(config) and config.algorithm.name == AlgorithmName.afsft and (config.use_entropy
                                                                                  or config.use_causal):
        return ("algorithm.name=afsft with use_entropy or use_causal true: AFSFT's update (filtered SFT + TD) has no "
                "entropy bonus; set use_entropy=false use_causal=false (or algorithm=coso)")
    return ""


def _exploration_without_afsft(config: RunConfig) -> str:
    if config.algorithm.afsft.epsilon > 0 and config.algorithm.name != AlgorithmName.afsft:
        return (f"algorithm.afsft.epsilon={config.algorithm.afsft.epsilon} with algorithm.name="
                f"{config.algorithm.name}: the epsilon-greedy exploration belongs to AFSFT's online rollouts; set "
                "algorithm.afsft.epsilon=0 (or algorithm=afsft)")
    return ""


def _invalid_timeout_needs_penalize(config: RunConfig) -> str:
    env = config.env
    if env.invalid_timeout_after > 0 and env.invalid_action != InvalidAction.penalize:
        return (f"env.invalid_timeout_after={env.invalid_timeout_after} with env.invalid_action={env.invalid_action}: "
                "the first invalid action already ends the episode, so no timeout can follow; set "
                "env.invalid_action=penalize (or env.invalid_timeout_after=0)")
    return ""


def _typed_text_needs_constraint(config: RunConfig) -> str:
    if config.agent.require_typed_text and not config.agent.constrained_decoding:
        return ("agent.require_typed_text=true with agent.constrained_decoding=false: the rule is part of the decoding "
                "grammar, which is off; set agent.constrained_decoding=true (or agent.require_typed_text=false)")
    return ""


def _warmup_longer_than_online(config: RunConfig) -> str:
    train = config.train
    if (_trains_policy(config) and config.train_mode in (TrainMode.online, TrainMode.off2on)
            and train.warmup_iterations > train.online_iterations):
        return (f"train.warmup_iterations={train.warmup_iterations} with train.online_iterations="
                f"{train.online_iterations}: the critic-only warm-up is longer than the online phase; set "
                f"train.warmup_iterations <= {train.online_iterations}")
    return ""


def _policy_offline_data_without_policy(config: RunConfig) -> str:
    train = config.train
    if (_trains_policy(config) and config.train_mode in (TrainMode.offline, TrainMode.off2on)
            and train.offline_source == OfflineSource.policy and not config.offline_data and train.sft_steps == 0
            and not config.load_path and not config.agent.policy_path):
        return ("train.offline_source=policy with train.sft_steps=0: the offline data would be rollouts of the "
                "untrained built-in policy (no warm start, no load_path, no agent.policy_path); set "
                "train.sft_steps > 0, load_path=<a checkpoint>, or train.offline_source=demonstrator")
    return ""


def _sft_mode_without_steps(config: RunConfig) -> str:
    if config.run == RunKind.train and config.train_mode == TrainMode.sft and config.train.sft_steps == 0:
        return ("train_mode=sft with train.sft_steps=0: the warm start alone has no steps to train; set "
                "train.sft_steps > 0 (or another train_mode)")
    return ""


def _base_without_steps(config: RunConfig) -> str:
    if config.run == RunKind.base and config.train.sft_steps == 0:
        return ("run=base with train.sft_steps=0: the SFT base is the warm start, which has no steps to train; set "
                "train.sft_steps > 0")
    return ""


def _base_without_cache(config: RunConfig) -> str:
    if config.run == RunKind.base and not config.train.sft_cache_dir:
        return ("run=base with train.sft_cache_dir empty: the SFT base is built into that cache; set "
                "train.sft_cache_dir=<a directory> (e.g. runs/sft_base)")
    return ""


def _android_rule_judge(config: RunConfig) -> str:
    if config.env.backend == EnvBackend.android and config.env.judge == JudgeKind.rule:
        return ("env.backend=android with env.judge=rule: the rule judge reads the simulator's state, which a real "
                "phone does not have; set env.judge=gemini")
    return ""


def _async_without_staleness(config: RunConfig) -> str:
    rollout = config.rollout
    if rollout.engine == RolloutEngineName.ray and rollout.mode == "async" and rollout.max_staleness < 1:
        return ("rollout.mode=async with rollout.max_staleness=0: asynchronous workers always sample with weights at "
                "least one version old; set rollout.max_staleness >= 1 (or rollout.mode=sync)")
    return ""


def _exploration_with_async(config: RunConfig) -> str:
    rollout = config.rollout
    if config.algorithm.afsft.epsilon > 0 and rollout.engine == RolloutEngineName.ray and rollout.mode == "async":
        return (f"algorithm.afsft.epsilon={config.algorithm.afsft.epsilon} with rollout.mode=async: asynchronous "
                "workers sample with their own policy copies and do not explore epsilon-greedily; set "
                "rollout.mode=sync (or algorithm.afsft.epsilon=0)")
    return ""


def _sim_gemini_judge(config: RunConfig) -> str:
    if config.env.backend == EnvBackend.sim and config.env.judge == JudgeKind.gemini:
        return ("env.backend=sim with env.judge=gemini: the simulated phone is always judged by its own state (the "
                "rule judge); set env.judge=rule (or env.backend=android for Gemini)")
    return ""


def _hf_vlm_needs_screen_pixels(config: RunConfig) -> str:
    env = config.env
    if config.agent.architecture != PolicyArchitecture.hf_vlm:
        return ""
    pixels = env.screen_pixels_width * env.screen_pixels_height * 3
    if env.image_encoder != ImageEncoderName.screen_pixels:
        return (f"agent.architecture=hf_vlm with env.image_encoder={env.image_encoder}: the VLM reads the screen "
                f"itself; set env.image_encoder=screen_pixels and env.image_feature_dim={pixels} (agent=hf_vlm does)")
    if env.image_feature_dim != pixels:
        return (f"env.image_encoder=screen_pixels with env.image_feature_dim={env.image_feature_dim}: it gives "
                f"screen_pixels_width x screen_pixels_height x 3 = {pixels} features per screen; set "
                f"env.image_feature_dim={pixels}")
    return ""


# what a task is in each domain besides the phone, and the setting that chooses it (task files are the phone's)
_DOMAIN_TASKS = {
    DomainName.gym_cards: ("a Gym Cards task is its game and each episode seed deals", "env.gym_cards.game"),
    DomainName.babyai: ("a BabyAI task is its level and each episode seed draws the mission", "env.babyai.level"),
    DomainName.miniwob: ("a MiniWoB++ task is its page and each episode seed draws its utterance",
                         "env.miniwob.task"),
}


def _domain_task_file(config: RunConfig) -> str:
    domain = config.env.domain
    if domain in _DOMAIN_TASKS and (config.task_file or config.eval_task_file):
        what, setting = _DOMAIN_TASKS[domain]
        return (f"env.domain={domain} with task_file or eval_task_file: {what}; drop the task files (choose the "
                f"task with {setting})")
    return ""


def _domain_exact_parser(config: RunConfig) -> str:
    domain = config.env.domain
    if domain != DomainName.phone and config.causal.estimator == CausalEstimator.exact_parser:
        return (f"env.domain={domain} with causal.estimator=exact_parser: that estimator parses the phone's AutoUI "
                "actions; choose another causal.estimator (e.g. reference)")
    return ""


COMBINATION_RULES: tuple[Callable[[RunConfig], str], ...] = (
    _causal_needs_entropy,
    _filteredbc_causal,
    _filteredbc_entropy,
    _afsft_entropy,
    _exploration_without_afsft,
    _invalid_timeout_needs_penalize,
    _typed_text_needs_constraint,
    _warmup_longer_than_online,
    _policy_offline_data_without_policy,
    _sft_mode_without_steps,
    _base_without_steps,
    _base_without_cache,
    _android_rule_judge,
    _sim_gemini_judge,
    _hf_vlm_needs_screen_pixels,
    _domain_task_file,
    _domain_exact_parser,
    _async_without_staleness,
    _exploration_with_async,
)


def check_run_config(config: RunConfig) -> None:
    """Check a run config before the run writes anything: every value (bounds, and closed choices for a config
    built in Python rather than composed by Hydra), then every combination rule; the first problem is a
    ConfigError of one line saying how to fix it."""
    from coso.errors import ConfigError

    _check_values(config)
    for rule in COMBINATION_RULES:
        problem = rule(config)
        if problem:
            raise ConfigError(problem)


validate_run_config = check_run_config  # the name coso.runs and earlier callers use


def unknown_keys(cfg: Any, schema: type = RunConfig, prefix: str = "") -> list[str]:
    """Dotted names of keys in a composed config (``+key=value`` overrides) that ``schema`` has no field for."""
    names = {f.name: f for f in dataclasses.fields(schema)}
    found: list[str] = []
    for key in cfg.keys():
        dotted = f"{prefix}{key}"
        if key not in names:
            found.append(dotted)
            continue
        field_type = names[key].type
        nested = _SECTIONS.get(field_type if isinstance(field_type, str) else getattr(field_type, "__name__", ""))
        if nested is not None and hasattr(cfg[key], "keys"):
            found += unknown_keys(cfg[key], nested, dotted + ".")
    return found


_SECTIONS: dict[str, type] = {cls.__name__: cls for cls in (EnvConfig, AgentConfig, AlgorithmConfig, CausalConfig,
                                                            TrainConfig, LoggingConfig, AFSFTConfig, RolloutConfig)}
