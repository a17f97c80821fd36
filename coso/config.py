"""Typed run configuration: the Hydra schema every YAML under configs/ is checked against.

Sections mirror the modules: ``env`` (environment pool and phone), ``agent`` (policy and critic models),
``algorithm`` (DigiRL / Filtered BC / CoSo settings), ``train`` (loop sizes, optimisers), ``causal``
(CoSo's causal model and token weights), ``logging``. The reference's flag names ``use_entropy``,
``use_causal`` and ``entropy_coeff`` stay at the top level so its ablation recipes carry over.
A key that is not in this schema fails with a clear Hydra error naming it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

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
    # evaluation tasks from their own file (e.g. held-out wording); empty: the first lines of task_file, or
    # generated tasks from a seed stream disjoint from training's
    eval_task_file: str = ""
    episodes: Optional[int] = None  # collect: number of episodes (default: one per task line)
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
