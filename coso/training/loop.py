"""The training run: a training config's phase sequence, from fresh or resumed state to summary.json.

Phases, each followed by its evaluation: the initial evaluation; the SFT warm start (a checkpoint after it);
the offline phase (trajectory critic -> step critic -> actor on the curriculum's top trajectories of a
dataset; a checkpoint); the online iterations (rollout -> buffer -> (CoSo: causal model) -> trajectory critic
-> step critic -> actor; a checkpoint every ``save_freq``); the final evaluation. Rerunning the same command
resumes from the last checkpoint. Rollouts and evaluation run on the main process; with several processes
(torchrun + accelerate) trajectories are broadcast and the updates are data-parallel.

The pieces: resume.py (where a run starts), collection.py (the data-collection phases), updates.py (one
round of updates; afsft_updates.py AFSFT's), evaluation.py (every evaluation, also eval_only's), rollouts.py
(the pool and the policy agent), run_dir.py (the run directory and its logger), run_kinds.py (the `train` and
`base` run kinds) and coso/seeding.py (every seed).
"""

from __future__ import annotations

import copy
import random
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from accelerate import Accelerator

from coso.config import RunConfig
from coso.data.buffer import ReplayBuffer
from coso.data.dataset import read_manifest
from coso.env.factory import build_encoder, load_tasks
from coso.errors import ConfigError
from coso.models.policy import Policy
from coso.rollout import Agent
from coso.seeding import ROLLOUT, SFT, batch_seed, iteration_task_seed, process_seed
from coso.training import afsft_updates  # noqa: F401  (registers AFSFT's trainer class and update round)
from coso.training.checkpoint import save_tensors_state, write_checkpoint
from coso.training.collection import DataCollector
from coso.training.components import save_models
from coso.training.curriculum import latest_failed_tasks, rollout_tasks
from coso.training.evaluation import evaluate, evaluation_agent
from coso.training.heatmap import TokenHeatmapWriter
from coso.training.resume import REFERENCE_POLICY_DIR, start_or_resume
from coso.training.rollouts import Rollouts, episode_recorder, exploring, policy_agent
from coso.training.run_dir import PhaseTimer, open_logger, seed_everything, start_run_dir
from coso.training.summary import training_summary
from coso.training.trainer import trainer_class
from coso.training.updates import offline_round, online_round, split_buffer, train_causal

# the words this module acts on (coso.config's Enums offer exactly these; tests/test_config_checks.py)
TRAIN_MODES = ("offline", "online", "off2on", "sft")
OFFLINE_SOURCES = ("demonstrator", "policy")
ALGORITHMS = ("digirl", "filteredbc", "coso", "afsft")


class TrainingRun:
    """One run of a training config, from fresh or resumed state to summary.json."""

    def __init__(self, config: RunConfig, resolved: dict[str, Any]) -> None:
        if config.train_mode not in TRAIN_MODES:
            raise ConfigError(f"train_mode={config.train_mode!r} is not one of {TRAIN_MODES}")
        if config.algorithm.name not in ALGORITHMS:
            raise ConfigError(f"algorithm.name={config.algorithm.name!r} is not one of {ALGORITHMS}")
        self.config = config
        self.accelerator = Accelerator(cpu=not torch.cuda.is_available(),
                                       mixed_precision=config.train.mixed_precision)
        self.is_main = self.accelerator.is_main_process
        self.generator = seed_everything(process_seed(config.seed, self.accelerator.process_index))
        self.run_dir = start_run_dir(config, resolved, is_main=self.is_main)
        self.logger = open_logger(config, resolved, self.run_dir, enabled=self.is_main)
        if config.offline_data:
            read_manifest(config.offline_data)  # a wrong path fails now, not after the evaluation and SFT
        if config.train.offline_source not in OFFLINE_SOURCES:
            raise ConfigError(f"train.offline_source={config.train.offline_source!r} is not one of {OFFLINE_SOURCES}")
        self.train_tasks, self.eval_tasks = load_tasks(config)
        self.rollouts = Rollouts(config, build_encoder(config.env), self.accelerator)
        start = start_or_resume(config, self.run_dir, is_main=self.is_main)
        self.state, self.buffer, self.resumed = start.state, start.buffer, start.resumed
        # the KL anchor's frozen warm start: the checkpoint's, or taken when the actor first trains (kl_reference)
        self.reference_policy: Policy | None = start.reference_policy
        if self.reference_policy is not None:
            self.reference_policy.to(self.accelerator.device)
        self.timer = PhaseTimer(self.state.wall_seconds)
        heatmaps = TokenHeatmapWriter(self.run_dir / "heatmaps", start.models.policy.tokenizer,
                                      config.causal.heatmap_every if self.is_main else 0)
        self.trainer = trainer_class(config.algorithm.name)(
            start.models, config, self.accelerator, self.generator, observers=(heatmaps.observe,),
            optimizer_states=start.optimizer_states(), actor_updates=self.state.actor_updates)
        start.restore_rng({"batches": self.generator})  # last: building the models and optimisers may draw
        self.collector = DataCollector(config, self.run_dir, self.train_tasks, self.rollouts, self.logger,
                                       self.is_main)

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
            self.rollouts.close()
        self.state.wall_seconds["total_this_process"] = time.perf_counter() - started
        self.logger.plot()
        self.logger.finish()
        return self.summary()

    # ------------------------------------------------------------------------------------------ phases

    def sft_phase(self) -> None:
        """Supervised warm start on the successful demonstrations: the built-in policy's stand-in for the
        AutoUI-SFT checkpoint DigiRL starts from (DigiRL's step advantage rarely credits the early steps of
        long episodes, so a policy from random weights would never learn them)."""
        train = self.config.train
        with self.timer.phase("sft"):
            episodes = self.collector.demonstrations("sft_data", train.sft_episodes, train.sft_noise, SFT,
                                                     self.state.env_steps)
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
        with self.timer.phase("offline"):
            data = self.collector.offline_data(self._policy(cfg.agent.temperature), self.state.env_steps)
            self.buffer.add(data)
            self.state.episodes += len(data)
            train_buffer, val_buffer = split_buffer(self.buffer, cfg.train, self.generator)
            metrics: dict[str, float] = {"offline_success_rate": float(np.mean([t.success for t in data]))}
            if cfg.use_causal:
                metrics.update(train_causal(self.trainer, self.buffer, self.state, cfg.causal.pretrain_calls))
            metrics.update(offline_round(self.trainer, cfg, train_buffer, val_buffer, self.kl_reference))
            self.state.actor_updates = self.trainer.actor_updates
        self.logger.log(metrics, step=self.state.env_steps, phase="offline")
        self.evaluate("offline")
        self.state.phase = "offline_done"
        self.checkpoint()

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

    def online_iteration(self, iteration: int) -> dict[str, float]:
        """One DigiRL/CoSo online iteration."""
        cfg = self.config
        train = cfg.train
        # reseeded per iteration and process: a resumed run samples what an unbroken one does
        self.generator.manual_seed(batch_seed(cfg.seed, iteration, self.accelerator.process_index))
        tasks, failing = self._iteration_tasks(iteration)
        policy = self.trainer.unwrapped().policy
        with self.timer.phase("online_rollout"):
            trajectories, stats = self.rollouts.online(iteration, policy,
                                                       self._policy(cfg.agent.temperature, explore=True), tasks,
                                                       self._iteration_seeds(iteration), self.state.env_steps)
        self.state.env_steps += sum(len(t) for t in trajectories)
        self.state.episodes += len(trajectories)
        for trajectory in trajectories:  # the filter's metrics tell online from offline data by this tag
            trajectory.metadata["online_iteration"] = iteration
        rejected = self.buffer.add_fresh([t for t in trajectories if t.transitions], cfg.rollout.max_staleness)
        if self.rollouts.asynchronous and iteration + 1 < train.online_iterations:  # runs during the update
            self.rollouts.prefetch(iteration + 1, policy, self._iteration_tasks(iteration + 1)[0],
                                   self._iteration_seeds(iteration + 1), self.state.env_steps)
        metrics = {"success_rate": stats.get("success_rate", 0.0), **{f"rollout_{k}": v for k, v in stats.items()}}
        if self.rollouts.asynchronous:
            metrics["rollout_stale_rejected"] = rejected
        if train.failed_task_replay:
            metrics["failing_tasks"] = len(failing)
        with self.timer.phase("online_update"):
            train_buffer, val_buffer = split_buffer(self.buffer, train, self.generator)
            if cfg.use_causal:  # pretrained on the first data it sees (offline, or the first rollouts)
                pretrain = cfg.causal.pretrain_calls if self.state.causal_calls == 0 else 0
                metrics.update(train_causal(self.trainer, self.buffer, self.state,
                                            cfg.causal.calls_per_iteration + pretrain))
            metrics.update(online_round(self.trainer, cfg, train_buffer, val_buffer, iteration, self.kl_reference))
        metrics["buffer_size"] = len(self.buffer)
        metrics["env_steps"] = self.state.env_steps
        return metrics

    # ---------------------------------------------------------------------- evaluation, checkpoint, summary

    def evaluate(self, name: str) -> float:
        """Success rate of the policy on the evaluation tasks (coso.training.evaluation), logged as ``eval_<name>``."""
        recorder = episode_recorder(self.config, self.run_dir / "episodes" / name, enabled=self.is_main)
        with self.timer.phase(f"eval_{name}"):
            result = evaluate(self.config, self.rollouts,
                              lambda: evaluation_agent(self.trainer.unwrapped().policy, self.config,
                                                       self.state.env_steps),
                              self.eval_tasks, recorder)
        self.state.eval_results[name] = result.success_rate
        self.state.eval_counts[name] = [result.successes, result.episodes]
        self.logger.log(result.metrics(self.state.env_steps), step=self.state.env_steps, phase=f"eval_{name}")
        return result.success_rate

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
                **({REFERENCE_POLICY_DIR: self.reference_policy.save_pretrained}
                   if self.reference_policy is not None else {}),
            }, generators={"batches": self.generator})
        self.accelerator.wait_for_everyone()

    def summary(self) -> dict[str, Any]:
        """summary.json's content."""
        return training_summary(self.config, self.state, buffer_size=len(self.buffer), collections=self.collections,
                                eval_tasks=self.eval_tasks, train_tasks=self.train_tasks, resumed=self.resumed,
                                run_dir=self.run_dir)

    # ------------------------------------------------------------------------------------------ helpers

    @property
    def collections(self):
        """What each data-collection phase yielded (CollectionReport by phase name)."""
        return self.collector.reports

    def kl_reference(self) -> Policy | None:
        """The KL anchor's reference: a frozen copy of the policy as the first RL update found it (the warm
        start, or load_path's policy); None when algorithm.kl_anchor_coeff is 0."""
        if self.config.algorithm.kl_anchor_coeff <= 0:
            return None
        if self.reference_policy is None:
            self.reference_policy = copy.deepcopy(self.trainer.unwrapped().policy).eval().requires_grad_(False)
        return self.reference_policy

    def _iteration_tasks(self, iteration: int) -> tuple[list, list]:
        """(the tasks of an online iteration, the failing tasks it replays): drawn from the iteration's own seed."""
        train = self.config.train
        rng = random.Random(iteration_task_seed(self.config.seed, iteration))
        failing = latest_failed_tasks(self.buffer.trajectories(), self.train_tasks) if train.failed_task_replay else []
        return rollout_tasks(rng, self.train_tasks, train.rollout_size, failing, train.failed_task_replay), failing

    def _iteration_seeds(self, iteration: int) -> list[int]:
        """The episode seeds of an online iteration's rollout."""
        return ROLLOUT.iteration_seeds(self.config.seed, iteration, self.config.train.rollout_size)

    def _policy(self, temperature: float, explore: bool = False) -> Callable[[], Agent]:
        """The current policy as a rollout agent, built when the rollout starts (main process); ``explore``:
        with AFSFT's epsilon-greedy exploration (online rollouts)."""
        def agent() -> Agent:
            acting = policy_agent(self.trainer.unwrapped().policy, self.config, temperature=temperature,
                                  env_steps=self.state.env_steps)
            return exploring(acting, self.config, self.state.env_steps) if explore else acting
        return agent
