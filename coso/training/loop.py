"""The training run: offline, online and off2on phases, evaluation, checkpoints and resume.

Offline (DigiRL): trajectory critic -> step critic -> actor on the top trajectories of a dataset.
Online iteration: rollout -> buffer -> (CoSo: causal model) -> trajectory critic -> step critic -> actor.
A checkpoint is written after the offline phase and every ``save_freq`` online iterations; rerunning the
same command resumes from it. Rollouts and evaluation run on the main process; with several processes
(torchrun + accelerate) trajectories are broadcast and the updates are data-parallel.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.utils import broadcast_object_list

from coso.agents.autoui import AutoUIAgent
from coso.config import RunConfig
from coso.data.buffer import ReplayBuffer
from coso.data.dataset import load_trajectories, read_manifest, save_trajectories
from coso.data.trajectory import Trajectory
from coso.env.demonstrator import ExpertPolicy, NoiseConfig
from coso.env.factory import build_encoder, build_pool, load_tasks
from coso.env.recording import EpisodeRecorder, NullRecorder
from coso.env.tasks import Task
from coso.errors import ConfigError
from coso.rollout import collect_trajectories
from coso.seeding import (
    EVAL,
    OFFLINE,
    ROLLOUT,
    SFT,
    SeedStream,
    batch_seed,
    iteration_task_seed,
    process_seed,
    sampling_seed,
)
from coso.stats import wilson_interval
from coso.training.checkpoint import (
    TrainingState,
    has_checkpoint,
    load_tensors_state,
    read_checkpoint,
    restore_rng_state,
    save_tensors_state,
    write_checkpoint,
)
from coso.training.collection import CollectionReport, check_collection
from coso.training.components import build_models, load_models, save_models
from coso.training.curriculum import latest_failed_tasks, rollout_tasks
from coso.training.heatmap import TokenHeatmapWriter
from coso.training.run_logger import (
    RunLogger,
    atomic_write_text,
    redact_secrets,
    write_resolved_config,
    write_summary,
)
from coso.training.sft_base import ensure_sft_base, sft_base_path, uses_sft_base
from coso.training.trainer import Models, Trainer
from coso.training.updates import offline_round, online_round, train_causal

TRAIN_MODES = ("offline", "online", "off2on", "sft")
OFFLINE_SOURCES = ("demonstrator", "policy")
ALGORITHMS = ("digirl", "filteredbc", "coso")


def algorithm_label(config: RunConfig) -> str:
    """What the run trains, in the reference's terms: digirl, entropy (naive), coso, or filteredbc."""
    if config.algorithm.name == "filteredbc":
        return "filteredbc"
    if config.use_entropy:
        return "coso" if config.use_causal else "entropy"
    return "digirl"


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch; return a torch generator for batch sampling."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


class FirstEpisodesRecorder:
    """Records only the first ``limit`` episodes of a rollout (GIFs are for looking, not for every episode)."""

    def __init__(self, recorder: EpisodeRecorder, limit: int) -> None:
        self.recorder = recorder
        self.limit = limit
        self.count = 0

    def record(self, screens, actions, task, path):
        """Pass the episode on while under the limit."""
        if self.count >= self.limit:
            return None
        self.count += 1
        return self.recorder.record(screens, actions, task, path)


class PhaseTimer:
    """Wall seconds per phase, accumulated across resumes."""

    def __init__(self, totals: dict[str, float]) -> None:
        self.totals = totals

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time a block and add it to ``name``."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.totals[name] = self.totals.get(name, 0.0) + time.perf_counter() - started


class TrainingRun:
    """One run of a training config, from fresh or resumed state to summary.json."""

    def __init__(self, config: RunConfig, resolved: dict[str, Any]) -> None:
        if config.train_mode not in TRAIN_MODES:
            raise ConfigError(f"train_mode={config.train_mode!r} is not one of {TRAIN_MODES}")
        if config.algorithm.name not in ALGORITHMS:
            raise ConfigError(f"algorithm.name={config.algorithm.name!r} is not one of {ALGORITHMS}")
        self.config = config
        self.run_dir = Path(config.save_path)
        self.accelerator = Accelerator(cpu=not torch.cuda.is_available(),
                                       mixed_precision=config.train.mixed_precision)
        self.is_main = self.accelerator.is_main_process
        self.generator = seed_everything(process_seed(config.seed, self.accelerator.process_index))
        self.state = TrainingState()
        self.timer = PhaseTimer(self.state.wall_seconds)
        self.collections: dict[str, CollectionReport] = {}  # what each data-collection phase yielded
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if self.is_main:
            write_resolved_config(self.run_dir, resolved)
        self.logger = RunLogger(self.run_dir, redact_secrets(resolved), project=config.logging.project,
                                run_name=f"{config.config_name}-seed{config.seed}",
                                wandb_mode=config.logging.wandb_mode, enabled=self.is_main)
        if config.offline_data:
            read_manifest(config.offline_data)  # a wrong path fails now, not after the evaluation and SFT
        if config.train.offline_source not in OFFLINE_SOURCES:
            raise ConfigError(f"train.offline_source={config.train.offline_source!r} is not one of {OFFLINE_SOURCES}")
        self.train_tasks, self.eval_tasks = load_tasks(config)
        self.encoder = build_encoder(config.env)
        self.buffer = ReplayBuffer(config.train.capacity)
        self.resumed = False
        models = self._initial_models()
        self.heatmaps = TokenHeatmapWriter(self.run_dir / "heatmaps", models.policy.tokenizer,
                                           config.causal.heatmap_every if self.is_main else 0)
        optimizer_states = load_tensors_state(self._checkpoint_path / "optimizers.pt") if self.resumed else None
        self.trainer = Trainer(models, config, self.accelerator, self.generator, observers=(self.heatmaps.observe,),
                               optimizer_states=optimizer_states, actor_updates=self.state.actor_updates)
        if self.resumed:
            # last: building and loading the models and optimisers may draw from the RNGs (bit-exact resume)
            restore_rng_state(self._rng_state, {"batches": self.generator})
        self._pool = None

    # ------------------------------------------------------------------------------------------ setup

    def _initial_models(self) -> Models:
        """Resume from this run's checkpoint, start from load_path's, or build fresh networks."""
        if has_checkpoint(self.run_dir):
            state, rng, path = read_checkpoint(self.run_dir, required=("models", "buffer", "optimizers.pt"))
            self.state = state
            self.timer = PhaseTimer(self.state.wall_seconds)
            self.buffer = ReplayBuffer.load(path / "buffer", capacity=self.config.train.capacity)
            self._rng_state = rng  # restored at the end of __init__, once nothing else draws
            self.resumed = True
            self._checkpoint_path = path
            self._truncate_metrics(state.metrics_lines)
            return load_models(path / "models")
        self._discard_stale_metrics()
        if self.config.load_path:
            state, _, path = read_checkpoint(Path(self.config.load_path), required=("models",))
            self.state.causal_calls = state.causal_calls  # a DigiRL checkpoint's causal model is untrained
            if self.config.train_mode == "off2on" and state.phase in ("offline_done", "online"):
                self.state.phase = "offline_done"
                self.state.eval_results = {k: v for k, v in state.eval_results.items()
                                           if k in ("initial", "sft", "offline")}
                self.state.eval_counts = {k: v for k, v in state.eval_counts.items() if k in self.state.eval_results}
                if (path / "buffer").is_dir():
                    self.buffer = ReplayBuffer.load(path / "buffer", capacity=self.config.train.capacity)
            elif state.phase != "start":  # already warm-started: no second SFT
                self.state.phase = "warm_started"
                self.state.eval_results = {k: v for k, v in state.eval_results.items() if k in ("initial", "sft")}
                self.state.eval_counts = {k: v for k, v in state.eval_counts.items() if k in self.state.eval_results}
            return load_models(path / "models")
        return build_models(self.config)

    def _truncate_metrics(self, lines: int) -> None:
        """Drop metrics logged after the checkpoint we resume from (they will be logged again)."""
        path = self.run_dir / "metrics.jsonl"
        if self.is_main and path.exists():
            kept = path.read_text().splitlines()[:lines]
            atomic_write_text(path, "".join(line + "\n" for line in kept))

    def _discard_stale_metrics(self) -> None:
        """A fresh start owns metrics.jsonl: drop lines of a run killed before its first checkpoint."""
        path = self.run_dir / "metrics.jsonl"
        if self.is_main and path.exists():
            path.unlink()

    @property
    def pool(self):
        """The environment pool, built on first use (main process only)."""
        if self._pool is None:
            self._pool = build_pool(self.config.env, self.config.seed)
        return self._pool

    # ------------------------------------------------------------------------------------------ rollouts

    def _rollout(self, agent_factory, tasks: Sequence[Task], seeds: Sequence[int],
                 recorder=None) -> tuple[list[Trajectory], dict[str, float]]:
        """Run tasks on the main process (one episode seed each) and share the trajectories with every process."""
        payload: list[Any] = [None]
        if self.is_main:
            result = collect_trajectories(self.pool, agent_factory(), tasks, self.encoder, seeds=seeds,
                                          gamma=self.config.algorithm.gamma, recorder=recorder,
                                          progress=self.config.logging.progress)
            payload = [(result.trajectories, result.stats.as_dict(prefix=""))]
        if self.accelerator.num_processes > 1:
            broadcast_object_list(payload)
        trajectories, stats = payload[0]
        return trajectories, {key: float(value) for key, value in stats.items() if isinstance(value, (int, float))}

    def _model_agent(self, temperature: float) -> AutoUIAgent:
        policy = self.trainer.unwrapped().policy
        policy.eval()
        return AutoUIAgent(policy, temperature=temperature, max_new_tokens=self.config.agent.max_new_tokens,
                           generator=torch.Generator().manual_seed(sampling_seed(self.config.seed,
                                                                                 self.state.env_steps)),
                           constrained=self.config.agent.constrained_decoding,
                           point_decimals=self.config.env.point_decimals)

    def evaluate(self, name: str) -> float:
        """Success rate of the policy on the evaluation tasks (the first N, fixed seeds)."""
        recorder = (FirstEpisodesRecorder(EpisodeRecorder(self.run_dir / "episodes" / name),
                                          self.config.env.record_episodes)
                    if self.config.env.record_episodes > 0 and self.is_main else NullRecorder())
        with self.timer.phase(f"eval_{name}"):
            trajectories, stats = self._rollout(lambda: self._model_agent(self.config.agent.eval_temperature),
                                                self.eval_tasks, EVAL.seeds(self.config.seed, len(self.eval_tasks)),
                                                recorder)
        successes = sum(int(t.success) for t in trajectories)
        success = successes / len(trajectories) if trajectories else 0.0
        self.state.eval_results[name] = success
        self.state.eval_counts[name] = [successes, len(trajectories)]
        low, high = wilson_interval(successes, len(trajectories))
        self.logger.log({"eval_success_rate": success, "eval_success_ci95_low": low, "eval_success_ci95_high": high,
                         "env_steps": self.state.env_steps,
                         **{f"eval_{k}": v for k, v in stats.items() if k != "success_rate"}},
                        step=self.state.env_steps, phase=f"eval_{name}")
        return success

    # ------------------------------------------------------------------------------------------ phases

    def offline_data(self) -> list[Trajectory]:
        """The offline dataset: the given one, the warm-started policy's own rollouts, or demonstrator rollouts
        with noise (saved in the run directory for reuse)."""
        if self.config.offline_data:
            return load_trajectories(self.config.offline_data)
        train = self.config.train
        if train.offline_source == "policy":
            return self.policy_rollouts("offline_data", train.offline_episodes, OFFLINE)
        return self.demonstrations("offline_data", train.offline_episodes, train.offline_noise, OFFLINE)

    def policy_rollouts(self, name: str, episodes: int, stream: SeedStream) -> list[Trajectory]:
        """Rollouts of the current policy at the rollout temperature on training tasks, saved as ``name``."""
        cached = self.run_dir / name
        if cached.is_dir():
            return self._counted(name, episodes, load_trajectories(cached))
        rng = random.Random(stream.first(self.config.seed))  # the task draw: the stream's first seed
        tasks = [rng.choice(self.train_tasks) for _ in range(episodes)]
        trajectories, _ = self._rollout(lambda: self._model_agent(self.config.agent.temperature), tasks,
                                        stream.seeds(self.config.seed, episodes))
        self._counted(name, episodes, trajectories)  # before saving: a failed collection is redone next time
        if self.is_main:
            save_trajectories(trajectories, cached, source="policy",
                              extra={"temperature": self.config.agent.temperature})
        return trajectories

    def demonstrations(self, name: str, episodes: int, noise: float, stream: SeedStream) -> list[Trajectory]:
        """Demonstrator rollouts on training tasks, saved in the run directory as ``name`` for reuse."""
        cached = self.run_dir / name
        if cached.is_dir():
            return self._counted(name, episodes, load_trajectories(cached))
        rng = random.Random(stream.first(self.config.seed))  # the task draw and the noise: the stream's first seed
        tasks = [rng.choice(self.train_tasks) for _ in range(episodes)]
        expert = ExpertPolicy(NoiseConfig.from_level(noise), seed=stream.first(self.config.seed),
                              point_decimals=self.config.env.point_decimals)
        trajectories, _ = self._rollout(lambda: expert, tasks, stream.seeds(self.config.seed, episodes))
        self._counted(name, episodes, trajectories)  # before saving: a failed collection is redone next time
        if self.is_main:
            save_trajectories(trajectories, cached, source="demonstrator", extra={"noise": noise})
        return trajectories

    def _counted(self, name: str, requested: int, trajectories: list[Trajectory]) -> list[Trajectory]:
        """Count the phase's episodes and failed ones in metrics and summary; stop when too few are usable."""
        report = CollectionReport.of(name, requested, trajectories)
        self.collections[name] = report
        self.logger.log(report.metrics(), step=self.state.env_steps, phase=name)
        check_collection(report, self.config.train.min_usable_fraction)
        return trajectories

    def sft_phase(self) -> None:
        """Supervised warm start on the successful demonstrations: the built-in policy's stand-in for the
        AutoUI-SFT checkpoint DigiRL starts from (DigiRL's step advantage rarely credits the early steps of
        long episodes, so a policy from random weights would never learn them)."""
        train = self.config.train
        with self.timer.phase("sft"):
            episodes = self.demonstrations("sft_data", train.sft_episodes, train.sft_noise, SFT)
            demonstrations = [t for t in episodes if t.success and t.transitions]
            buffer = ReplayBuffer(max(sum(len(t) for t in demonstrations), 1), demonstrations)
            with self.trainer.policy_learning_rate(train.sft_lr or train.lm_lr):
                metrics = self.trainer.train_filtered_bc(buffer, train.sft_steps, reduction="token_mean",
                                                         name="SFT warm start", metric="sft_loss")
        metrics["sft_demonstrations"] = len(demonstrations)
        self.logger.log(metrics, step=self.state.env_steps, phase="sft")
        self.evaluate("sft")

    def offline_phase(self) -> None:
        """DigiRL's offline phase (or Filtered BC's) on the offline dataset, then its evaluation."""
        cfg = self.config
        train = cfg.train
        with self.timer.phase("offline"):
            data = self.offline_data()
            self.buffer.add(data)
            self.state.episodes += len(data)
            train_buffer, val_buffer = self.buffer.train_val_split(train.train_fraction, self.generator)
            metrics: dict[str, float] = {"offline_success_rate": float(np.mean([t.success for t in data]))}
            if cfg.use_causal:
                metrics.update(train_causal(self.trainer, self.buffer, self.state, cfg.causal.pretrain_calls))
            metrics.update(offline_round(self.trainer, cfg, train_buffer, val_buffer))
            self.state.actor_updates = self.trainer.actor_updates
        self.logger.log(metrics, step=self.state.env_steps, phase="offline")
        self.evaluate("offline")
        self.state.phase = "offline_done"
        self.checkpoint()

    def online_iteration(self, iteration: int) -> dict[str, float]:
        """One DigiRL/CoSo online iteration."""
        cfg = self.config
        train = cfg.train
        rng = random.Random(iteration_task_seed(cfg.seed, iteration))
        # reseeded per iteration and process: a resumed run samples what an unbroken one does
        self.generator.manual_seed(batch_seed(cfg.seed, iteration, self.accelerator.process_index))
        failing = latest_failed_tasks(self.buffer.trajectories(), self.train_tasks) if train.failed_task_replay else []
        tasks = rollout_tasks(rng, self.train_tasks, train.rollout_size, failing, train.failed_task_replay)
        with self.timer.phase("online_rollout"):
            trajectories, stats = self._rollout(lambda: self._model_agent(cfg.agent.temperature), tasks,
                                                ROLLOUT.iteration_seeds(cfg.seed, iteration, train.rollout_size))
        self.state.env_steps += sum(len(t) for t in trajectories)
        self.state.episodes += len(trajectories)
        for trajectory in trajectories:  # the filter's metrics tell online from offline data by this tag
            trajectory.metadata["online_iteration"] = iteration
        self.buffer.add([t for t in trajectories if t.transitions])
        metrics = {"success_rate": stats.get("success_rate", 0.0), **{f"rollout_{k}": v for k, v in stats.items()}}
        if train.failed_task_replay:
            metrics["failing_tasks"] = len(failing)
        with self.timer.phase("online_update"):
            train_buffer, val_buffer = self.buffer.train_val_split(train.train_fraction, self.generator)
            if cfg.use_causal:  # pretrained on the first data it sees (offline, or the first rollouts)
                pretrain = cfg.causal.pretrain_calls if self.state.causal_calls == 0 else 0
                metrics.update(train_causal(self.trainer, self.buffer, self.state,
                                            cfg.causal.calls_per_iteration + pretrain))
            metrics.update(online_round(self.trainer, cfg, train_buffer, val_buffer, iteration))
        metrics["buffer_size"] = len(self.buffer)
        metrics["env_steps"] = self.state.env_steps
        return metrics

    def online_phase(self) -> None:
        """Online iterations from where the run stands, checkpointing every save_freq."""
        train = self.config.train
        from tqdm.auto import tqdm

        remaining = range(self.state.online_iteration, train.online_iterations)
        bar = tqdm(remaining, desc="online iterations", unit="it", initial=self.state.online_iteration,
                   total=train.online_iterations, disable=not (self.is_main and self.config.logging.progress))
        for iteration in bar:
            metrics = self.online_iteration(iteration)
            self.state.online_iteration = iteration + 1
            self.state.phase = "online"
            self.state.actor_updates = self.trainer.actor_updates
            self.logger.log(metrics, step=self.state.env_steps, phase="online")
            bar.set_postfix(success=f"{metrics['success_rate']:.2f}", buffer=len(self.buffer))
            every = train.eval_every
            name = f"iteration_{self.state.online_iteration}"
            if every > 0 and self.state.online_iteration % every == 0 and name not in self.state.eval_results:
                self.evaluate(name)
            last = self.state.online_iteration == train.online_iterations
            if self.state.online_iteration % max(train.save_freq, 1) == 0 or last:
                self.checkpoint()

    # ------------------------------------------------------------------------------------------ checkpoint

    def checkpoint(self) -> None:
        """Write the checkpoint atomically (main process) and wait for the others."""
        self.state.actor_updates = self.trainer.actor_updates  # also the SFT warm start's updates
        if self.is_main:
            self.state.metrics_lines = self.logger.metrics_line_count()
            models = self.trainer.unwrapped()
            optimizer_states = {name: opt.state_dict() for name, opt in self.trainer.optimizers().items()}
            write_checkpoint(self.run_dir, self.state, {
                "models": lambda path: save_models(models, path),
                "optimizers.pt": lambda path: save_tensors_state(optimizer_states, path),
                "buffer": lambda path: self.buffer.save(path),
            }, generators={"batches": self.generator})
        self.accelerator.wait_for_everyone()

    # ------------------------------------------------------------------------------------------ run

    def run(self) -> dict[str, Any]:
        """Train as the config says and return the summary."""
        cfg = self.config
        started = time.perf_counter()
        try:
            if self.state.phase == "start":
                if cfg.train.eval_initial and "initial" not in self.state.eval_results:
                    self.evaluate("initial")
                self.state.phase = "warm_started"
                if cfg.train.sft_steps > 0:
                    self.sft_phase()
                    self.checkpoint()  # minutes of SFT are not lost to a crash; nothing else to save yet
            if cfg.train_mode in ("offline", "off2on") and self.state.phase == "warm_started":
                self.offline_phase()
            if cfg.train_mode in ("online", "off2on"):
                self.online_phase()
                if "final" not in self.state.eval_results:
                    self.evaluate("final")
                    self.checkpoint()
            else:  # offline, or the warm start alone: its last evaluation is the final one
                last = "offline" if cfg.train_mode == "offline" else "sft"
                self.state.eval_results["final"] = self.state.eval_results.get(last, 0.0)
                if last in self.state.eval_counts:
                    self.state.eval_counts["final"] = list(self.state.eval_counts[last])
        finally:
            if self._pool is not None:
                self._pool.close()
        self.state.wall_seconds["total_this_process"] = time.perf_counter() - started
        self.logger.plot()
        self.logger.finish()
        return self.summary()

    def summary(self) -> dict[str, Any]:
        """summary.json's content."""
        cfg = self.config
        return {
            "config_name": cfg.config_name,
            "algorithm": algorithm_label(cfg),
            "train_mode": cfg.train_mode,
            "seed": cfg.seed,
            "scale": cfg.scale_name,
            "env_steps": self.state.env_steps,
            "episodes": self.state.episodes,
            "online_iterations": self.state.online_iteration,
            "actor_updates": self.state.actor_updates,
            "buffer_size": len(self.buffer),
            "data_collection": {name: report.summary() for name, report in self.collections.items()},
            "eval_success_rate": dict(self.state.eval_results),
            "eval_success_ci95": {name: [round(bound, 4) for bound in wilson_interval(*counts)]
                                  for name, counts in self.state.eval_counts.items()},
            "eval_episodes": len(self.eval_tasks),
            "wall_seconds": {k: round(v, 2) for k, v in self.state.wall_seconds.items()},
            "resumed": self.resumed,
            "save_path": str(self.run_dir),
        }


def train_and_summarise(config: RunConfig, resolved: dict[str, Any], extra: dict[str, Any] | None = None
                        ) -> tuple[dict[str, Any], str]:
    """Run one training config to its end; write summary.json (main process) and return it and its line."""
    run = TrainingRun(config, resolved)
    summary = dict(run.run(), **(extra or {}))
    line = write_summary(run.run_dir, summary) if run.is_main else ""
    return summary, line


def run_training(config: RunConfig, resolved: dict[str, Any]) -> str:
    """The `train` run kind: returns summary.json's line.

    With an SFT base cache (``train.sft_cache_dir``) the run starts from the cached base like ``load_path``,
    building the base first when no run with the same base key has (see coso.training.sft_base).
    """
    extra: dict[str, Any] = {}
    if uses_sft_base(config):
        if has_checkpoint(Path(config.save_path)):  # resuming: the base was already loaded
            base_report: dict[str, Any] = {"path": str(sft_base_path(config)), "built_this_run": False}
        else:
            base_report = ensure_sft_base(config, resolved, lambda c, r: train_and_summarise(c, r)[0]).report()
        config = dataclasses.replace(config, load_path=str(sft_base_path(config)))
        extra["sft_base"] = base_report
    return train_and_summarise(config, resolved, extra)[1]


def run_base(config: RunConfig, resolved: dict[str, Any]) -> str:
    """The `base` run kind (``--config-name pretrain_base``): build or find the SFT base; its summary line."""
    if not config.train.sft_cache_dir or config.train.sft_steps <= 0:
        raise ConfigError("pretrain_base needs train.sft_cache_dir (a directory) and train.sft_steps > 0")
    base = ensure_sft_base(config, resolved, lambda c, r: train_and_summarise(c, r)[0])
    summary = {"config_name": config.config_name, "run": "base", "seed": config.seed, "sft_base": base.report(),
               "eval_success_rate": base.summary.get("eval_success_rate", {}),
               "eval_success_ci95": base.summary.get("eval_success_ci95", {})}
    run_dir = Path(config.save_path)
    run_dir.mkdir(parents=True, exist_ok=True)
    return write_summary(run_dir, summary)
