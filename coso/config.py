"""Typed run configuration: the Hydra schema every YAML under configs/ is checked against.

Sections mirror the modules: ``env`` (environment pool and phone), ``agent`` (policy and critic models),
``algorithm`` (DigiRL / Filtered BC / CoSo settings), ``train`` (loop sizes, optimisers), ``causal``
(CoSo's causal model and token weights), ``logging``. The reference's flag names ``use_entropy``,
``use_causal`` and ``entropy_coeff`` stay at the top level so its ablation recipes carry over.
A key that is not in this schema fails with a clear Hydra error naming it.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore


@dataclass
class SimFaultsConfig:
    """env.sim.faults: fault injection on the simulated phone (coso.env.sim.FaultConfig), off by default."""

    error_prob: float = 0.0  # per device call: raise DeviceError
    hang_prob: float = 0.0  # per device call: sleep hang_seconds first
    hang_seconds: float = 5.0
    corrupt_prob: float = 0.0  # per screenshot: black or wrong size
    corrupt_modes: list[str] = field(default_factory=lambda: ["black", "wrong_size"])
    seed: int = 0  # mixed with the episode seed


@dataclass
class SimSectionConfig:
    """env.sim: the simulated phone (coso.env.sim.SimConfig); every documented key is typed, no `+` needed."""

    width: int = 270
    height: int = 480
    difficulty: Any = "medium"  # "easy", "medium", "hard", or a number in [0, 1]
    faults: SimFaultsConfig = field(default_factory=SimFaultsConfig)


@dataclass
class EnvConfig:
    """The environment pool: backend, task set, concurrency, timeouts and episode rules."""

    backend: str = "sim"  # "sim" (the built-in simulated phone) or "android" (emulators through Appium)
    task_set: str = "webshop"  # "webshop", "general" or "mixed" (generated tasks only)
    num_envs: int = 4
    step_timeout_s: float = 30.0
    reset_timeout_s: float = 60.0
    max_restarts: int = 5
    judge: str = "rule"  # "rule" (simulator state) or "gemini" (screenshots)
    image_encoder: str = "pixel"  # "pixel" (built-in, no download) or "blip2" (local path)
    image_encoder_path: str = ""
    image_feature_dim: int = 256  # per screen; the models take previous + current = 2x this
    invalid_action: str = "terminate"  # the reference's rule; or "penalize" (continue with a penalty)
    invalid_action_penalty: float = 0.0
    # digits after the decimal point in the demonstrator's points: AutoUI's 4, or fewer for a leaner text
    point_decimals: int = 4
    max_steps_general: int = 10
    max_steps_webshop: int = 20
    record_episodes: int = 0  # GIFs of this many episodes per eval phase (0: none)
    sim: SimSectionConfig = field(default_factory=SimSectionConfig)
    android: dict[str, Any] = field(default_factory=dict)  # coso.env.android emulator/Appium settings
    gemini: dict[str, Any] = field(default_factory=dict)  # coso.env.gemini_judge settings


@dataclass
class AgentConfig:
    """The policy and critic models: built-in small ones by default, local checkpoints for the real setting."""

    name: str = "autoui_small"
    policy_path: str = ""  # a local Auto-UI-Base directory; empty builds the small model from `model`
    model: dict[str, Any] = field(default_factory=dict)  # coso.models.autoui.AutoUIConfig fields
    tokenizer_vocab_size: int = 2048
    # the built-in tokenizer's word pre-tokenisation: "attached" (a word token carries its leading space) or
    # "separate" (a word is one id wherever it stands, so the goal's words and the typed text match)
    tokenizer_word_spaces: str = "attached"
    critic_text_encoder: str = "small"  # "small" (built-in) or "roberta" (critic_encoder_path)
    critic_encoder_path: str = ""
    critic: dict[str, Any] = field(default_factory=dict)  # critic model sizes
    temperature: float = 1.0
    max_new_tokens: int = 128
    eval_temperature: float = 1.0
    # grammar-constrained decoding (coso.models.constrained): rollouts and evaluation only write parseable
    # actions; the losses still score the text under the policy's full distribution
    constrained_decoding: bool = False
    lora_rank: int = 0
    cogagent: dict[str, Any] = field(default_factory=dict)  # coso.agents.cogagent.CogAgentConfig (policy=cogagent)


@dataclass
class AlgorithmConfig:
    """The update rule: DigiRL's filtered actor-critic, Filtered BC, or CoSo (DigiRL + causal entropy)."""

    name: str = "digirl"  # "digirl", "filteredbc" or "coso"
    gamma: float = 0.5
    advantage: str = "reference"  # step-advantage form: "reference" (the code) or "doubly_robust" (the paper)
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
    # one-token intervention), "no_sqrt", or "exact_parser" (the real parser on the perturbed text)
    estimator: str = "reference"
    # "token_mean" (per-row token mean, the release's intent), "release_broadcast" (the release's arithmetic,
    # docs/algorithms.md section 5) or "sum" (paper)
    entropy_reduction: str = "token_mean"
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
    offline_source: str = "demonstrator"
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
    mixed_precision: str = "no"  # accelerate: "no", "bf16" or "fp16"
    # torch threads per process: 0 keeps torch's default (one per core, or OMP_NUM_THREADS); set 1 when several
    # runs share the machine (benchmarks/reports/threads.md)
    num_threads: int = 0


@dataclass
class LoggingConfig:
    """Where metrics go: metrics.jsonl always, wandb (offline without a key), plots."""

    wandb_mode: str = "auto"  # "auto": online with WANDB_API_KEY, else offline; or "online"/"offline"/"disabled"
    project: str = "coso"
    progress: bool = True


@dataclass
class RunConfig:
    """One run: what to do (collect / train / eval), with what, and where to write it."""

    config_name: str = "run"
    run: str = "train"  # "collect", "train", "eval" or "base" (build the cached SFT base)
    train_mode: str = "off2on"  # "offline", "online", "off2on", or "sft" (the warm start alone: the SFT base)
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
    policy: str = "expert"  # collect / eval: "expert" (demonstrator), "model" (load_path's policy) or "cogagent"
    noise: float = 0.0  # collect: demonstrator noise level
    offline_data: str = ""  # a trajectory dataset directory; empty: collect one with the demonstrator
    use_entropy: bool = False
    use_causal: bool = False
    entropy_coeff: float = 1.0  # alpha: the one default (the reference loss uses 1.0; its files disagree)
    scale_name: str = "cpu"
    env: EnvConfig = field(default_factory=EnvConfig)
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

RUN_KINDS = ("collect", "train", "eval", "base")
TRAIN_MODES = ("offline", "online", "off2on", "sft")
ALGORITHM_NAMES = ("digirl", "filteredbc", "coso")
OFFLINE_SOURCES = ("demonstrator", "policy")
MIXED_PRECISION = ("no", "bf16", "fp16")
WANDB_MODES = ("auto", "online", "offline", "disabled")
WORD_SPACES = ("attached", "separate")

# (dotted name, lowest allowed, whether the lowest is excluded, what the setting is): checked by validate_run_config
_BOUNDS: tuple[tuple[str, float, bool, str], ...] = (
    ("env.num_envs", 1, False, "parallel phones"),
    ("env.step_timeout_s", 0, True, "seconds per step"),
    ("env.reset_timeout_s", 0, True, "seconds per reset"),
    ("env.max_restarts", 0, False, "restarts per phone"),
    ("env.image_feature_dim", 1, False, "features per screen"),
    ("env.point_decimals", 0, False, "digits per coordinate"),
    ("env.max_steps_general", 1, False, "steps per general episode"),
    ("env.max_steps_webshop", 1, False, "steps per webshop episode"),
    ("env.record_episodes", 0, False, "recorded episodes"),
    ("agent.tokenizer_vocab_size", 1, False, "tokens"),
    ("agent.temperature", 0, False, "the rollout temperature (0: greedy)"),
    ("agent.eval_temperature", 0, False, "the evaluation temperature (0: greedy)"),
    ("agent.max_new_tokens", 1, False, "tokens per action"),
    ("agent.lora_rank", 0, False, "the LoRA rank (0: none)"),
    ("algorithm.gamma", 0, False, "the discount"),
    ("algorithm.trajectory_filter_fraction", 0, True, "the kept fraction"),
    ("algorithm.bc_anchor_coeff", 0, False, "the behaviour-cloning anchor's weight (0: none)"),
    ("algorithm.kl_anchor_coeff", 0, False, "the KL anchor's weight (0: none)"),
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
    ("train.train_fraction", 1, False),
    ("train.failed_task_replay", 1, False),
    ("train.sft_noise", 1, False),
    ("train.offline_noise", 1, False),
    ("train.lm_adam_beta2", 1, True),
    ("noise", 1, False),
)
# settings that must be one of a few words
_CHOICES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("run", RUN_KINDS),
    ("train_mode", TRAIN_MODES),
    ("algorithm.name", ALGORITHM_NAMES),
    ("train.offline_source", OFFLINE_SOURCES),
    ("train.mixed_precision", MIXED_PRECISION),
    ("logging.wandb_mode", WANDB_MODES),
    ("agent.tokenizer_word_spaces", WORD_SPACES),
)


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


def validate_run_config(config: RunConfig) -> None:
    """Check every value of a composed run config; the first bad one is a ConfigError saying how to fix it."""
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
    for name, choices in _CHOICES:
        value = _setting(config, name)
        if value not in choices:
            raise ConfigError(f"{name}={value!r} is not one of {', '.join(choices)}; set {name}=<one of them>")
    if config.episodes is not None and (isinstance(config.episodes, bool) or config.episodes < 1):
        raise ConfigError(f"episodes={config.episodes!r} must be >= 1 (or leave it out: one episode per task line)")
    if not str(config.save_path).strip():
        raise ConfigError("save_path is empty: give the run its own directory, e.g. save_path=runs/my_run")


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
                                                            TrainConfig, LoggingConfig)}
