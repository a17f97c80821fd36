"""Every user mistake: one `error:` line on stderr, exit 2 (4 for a phone that kept failing), nothing written.

The CLI's main runs in process (no subprocess start-up), so each case costs milliseconds.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable

import pytest
import torch

from coso import runs
from coso.cli import compose_run, main
from coso.config import choice_fields
from coso.errors import CheckpointError, TooManyRestartsError
from coso.training.checkpoint import TrainingState, load_tensors_state, save_tensors_state, write_checkpoint
from tiny_run import TINY


def run_cli(capsys, args: list[str]) -> tuple[int, str]:
    """main(args) in process: its exit code and its stderr."""
    with pytest.raises(SystemExit) as exit_:
        main(args)
    return int(exit_.value.code or 0), capsys.readouterr().err


def assert_one_line(code: int, err: str, expected_code: int = 2) -> str:
    """The exit code is ``expected_code`` and stderr is exactly one `error:` line; return it."""
    lines = err.strip().splitlines()
    assert code == expected_code, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err and "weights_only" not in err
    return lines[0]


def tree(path: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``path`` with its size and modification time: 'nothing written' means this is unchanged."""
    return {str(f.relative_to(path)): (f.stat().st_size, f.stat().st_mtime_ns) for f in path.rglob("*")}


CONFIG_MISTAKES = [
    (["train.batch_size=-1"], "train.batch_size"),
    (["train.lm_lr=nan"], "train.lm_lr"),
    (["train.lm_lr=-1"], "train.lm_lr"),
    (["train.grad_accum_steps=0"], "train.grad_accum_steps"),
    (["train.num_threads=-1"], "train.num_threads"),
    (["train.mixed_precision=fp64"], "train.mixed_precision"),
    (["train.eval_episodes=0"], "train.eval_episodes"),
    (["train.online_iterations=-1"], "train.online_iterations"),
    (["train.rollout_size=0"], "train.rollout_size"),
    (["env.max_steps_webshop=0"], "env.max_steps_webshop"),
    (["agent.temperature=-1"], "agent.temperature"),
    (["agent.eval_temperature=nan"], "agent.eval_temperature"),
    (["train.max_grad_norm=-1"], "train.max_grad_norm"),
    (["train.save_freq=0"], "train.save_freq"),
    (["train.lm_adam_beta2=1.5"], "train.lm_adam_beta2"),
    (["+train.foo=1"], "train.foo"),
    (["+foo=1"], "foo"),
    (["train.bogus_key=1"], "train.bogus_key"),
    (["train.batch_size=abc"], "train.batch_size"),
    (["train.batch_size"], "train.batch_size"),
    (["scale=nonexistent"], "scale=nonexistent"),
    (["env=nope"], "env=nope"),
    (["agent.model.d_model=abc"], "agent.model.d_model"),
    (["+agent.model.bogus=3"], "agent.model.bogus"),
    (["--config-name", "no_such_config"], "no_such_config"),
]


@pytest.mark.parametrize("overrides, named", CONFIG_MISTAKES, ids=[" ".join(case[0]) for case in CONFIG_MISTAKES])
def test_config_mistake_is_one_line_exit_2_and_writes_nothing(capsys, tmp_path, overrides, named) -> None:
    save_path = tmp_path / "run"
    line = assert_one_line(*run_cli(capsys, [*overrides, f"save_path={save_path}"]))
    assert named in line
    assert not save_path.exists()


# every closed choice (a ConfigChoice Enum of coso.config): a word that is not one of it, in an override
CHOICE_MISTAKES = [(name, enum.values(), f"{name}=[not_a_word]" if is_list else f"{name}=not_a_word")
                   for name, enum, is_list in choice_fields()]


@pytest.mark.parametrize("name, allowed, override", CHOICE_MISTAKES, ids=[case[0] for case in CHOICE_MISTAKES])
def test_a_word_outside_a_closed_choice_names_the_key_and_the_allowed_words(capsys, tmp_path, name, allowed,
                                                                            override) -> None:
    save_path = tmp_path / "run"
    line = assert_one_line(*run_cli(capsys, [override, f"save_path={save_path}"]))
    assert line.startswith(f"error: {name}") and "'not_a_word' is not one of " + ", ".join(allowed) in line, line
    assert not save_path.exists()


def test_a_close_word_gets_a_did_you_mean(capsys, tmp_path) -> None:
    line = assert_one_line(*run_cli(capsys, ["train_mode=of2on", f"save_path={tmp_path / 'run'}"]))
    assert line == ("error: train_mode='of2on' is not one of offline, online, off2on, sft (did you mean off2on?); "
                    "set train_mode=<one of them>")


def test_a_difficulty_the_phone_cannot_read_is_refused(capsys, tmp_path) -> None:
    line = assert_one_line(*run_cli(capsys, ["env.sim.difficulty=hardest", f"save_path={tmp_path / 'run'}"]))
    assert line.startswith("error: env.sim.difficulty='hardest' is not one of easy, medium, hard")
    assert not (tmp_path / "run").exists()


# one case per combination rule of coso.config.check_run_config: (arguments, the two settings the line names)
COMBINATION_MISTAKES = [
    (["use_entropy=false"], ("use_causal=true", "use_entropy=false")),
    (["--config-name", "filteredbc_off2on", "use_causal=true", "use_entropy=true"],
     ("algorithm.name=filteredbc", "use_causal=true")),
    (["--config-name", "filteredbc_off2on", "use_entropy=true"], ("algorithm.name=filteredbc", "use_entropy=true")),
    (["train.warmup_iterations=12", "train.online_iterations=3"],
     ("train.warmup_iterations=12", "train.online_iterations=3")),
    (["train.sft_steps=0"], ("train.offline_source=policy", "train.sft_steps=0")),
    (["train_mode=sft", "train.sft_steps=0"], ("train_mode=sft", "train.sft_steps=0")),
    (["--config-name", "pretrain_base", "scale=smoke"], ("run=base", "train.sft_steps=0")),
    (["--config-name", "pretrain_base", "train.sft_cache_dir="], ("run=base", "train.sft_cache_dir")),
    (["env=android", "env.judge=rule"], ("env.backend=android", "env.judge=rule")),
    (["--config-name", "collect", "env.judge=gemini"], ("env.backend=sim", "env.judge=gemini")),
]


@pytest.mark.parametrize("args, named", COMBINATION_MISTAKES, ids=[" ".join(case[0]) for case in COMBINATION_MISTAKES])
def test_a_contradictory_combination_is_one_line_naming_both_settings(capsys, tmp_path, args, named) -> None:
    save_path = tmp_path / "run"
    line = assert_one_line(*run_cli(capsys, [*args, f"save_path={save_path}"]))
    assert line.startswith(f"error: {named[0]}") and named[1] in line, line
    assert not save_path.exists()


def test_empty_save_path_is_refused(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert "save_path is empty" in assert_one_line(*run_cli(capsys, ["save_path="]))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("where", ["file", "under_file", "unwritable"])
def test_save_path_that_cannot_hold_a_run_is_refused(capsys, tmp_path, where) -> None:
    a_file = tmp_path / "a_file"
    a_file.write_text("not a directory")
    save_path = {"file": a_file, "under_file": a_file / "run", "unwritable": Path("/proc/coso-test/run")}[where]
    line = assert_one_line(*run_cli(capsys, ["--config-name", "digirl_online", f"save_path={save_path}"]))
    assert str(save_path) in line
    assert a_file.read_text() == "not a directory" and sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]


# --------------------------------------------------------------------------------------------- checkpoints


@pytest.fixture(scope="module")
def checkpoint_run(tmp_path_factory) -> Path:
    """A run directory with a real (untrained) checkpoint of the tiny models."""
    from coso.data.buffer import ReplayBuffer
    from coso.training.components import build_models, save_models

    run_dir = tmp_path_factory.mktemp("ckpt") / "run"
    config, _ = compose_run("digirl_online", TINY + [f"save_path={run_dir}"])
    models = build_models(config)
    write_checkpoint(run_dir, TrainingState(phase="online", online_iteration=1), {
        "models": lambda path: save_models(models, path),
        "optimizers.pt": lambda path: save_tensors_state({}, path),
        "buffer": lambda path: ReplayBuffer(10).save(path),
    })
    return run_dir


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


DAMAGE: dict[str, Callable[[Path], None]] = {
    "truncated weights": lambda run: _truncate(run / "checkpoint/models/policy/model.safetensors"),
    "garbage weights": lambda run: (run / "checkpoint/models/step_critic/model.safetensors").write_bytes(b"\x00junk" * 99),
    "empty weights": lambda run: (run / "checkpoint/models/causal/model.safetensors").write_bytes(b""),
    "state.json a list": lambda run: (run / "checkpoint/state.json").write_text("[1, 2, 3]"),
    "state.json mistyped": lambda run: _edit_state(run, online_iteration="3"),
    "state.json unknown phase": lambda run: _edit_state(run, phase=7),
    "policy config mistyped": lambda run: _edit_json(run / "checkpoint/models/policy/autoui_config.json", d_model="64"),
    "optimizer pickle": lambda run: torch.save({"x": Path("/")}, run / "checkpoint/optimizers.pt"),
}


def _edit_json(path: Path, **values) -> None:
    document = json.loads(path.read_text())
    document.update(values)
    path.write_text(json.dumps(document))


def _edit_state(run: Path, **values) -> None:
    path = run / "checkpoint/state.json"
    document = json.loads(path.read_text())
    document["state"].update(values)
    path.write_text(json.dumps(document))


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damaged_checkpoint_in_load_path_or_resume_is_one_line(capsys, tmp_path, checkpoint_run, damage) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(checkpoint_run, broken)
    DAMAGE[damage](broken)
    before = tree(broken)
    # resuming it (same save_path) ...
    assert_one_line(*run_cli(capsys, ["--config-name", "digirl_online", *TINY, f"save_path={broken}"]))
    # ... or starting from it (load_path)
    out = tmp_path / "out"
    assert_one_line(*run_cli(capsys, ["--config-name", "digirl_online", *TINY, f"load_path={broken}",
                                      f"save_path={out}"]))
    assert_one_line(*run_cli(capsys, ["--config-name", "eval_only", f"load_path={broken}", f"save_path={out}"]))
    assert tree(broken) == before and not out.exists()


def test_load_weights_turns_a_safetensors_error_into_a_checkpoint_error(tmp_path) -> None:
    from coso.models.serialization import load_weights

    (tmp_path / "model.safetensors").write_bytes(b"\x08" + b"\x00" * 7 + b"{}")
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        load_weights(tmp_path, torch.nn.Linear(2, 2))


def test_refused_pickle_never_passes_on_torchs_weights_only_advice(tmp_path) -> None:
    torch.save({"x": Path("/")}, tmp_path / "state.pt")
    with pytest.raises(CheckpointError) as error:
        load_tensors_state(tmp_path / "state.pt")
    assert "weights_only" not in str(error.value) and "\n" not in str(error.value)
    assert "never unpickles" in str(error.value)


# --------------------------------------------------------------------------------------------- task files


def test_collect_stops_on_a_task_line_that_does_not_parse(capsys, tmp_path) -> None:
    tasks = tmp_path / "tasks.txt"
    tasks.write_text("Go to amazon.com\nplease juggle three oranges\n")
    save_path = tmp_path / "run"
    line = assert_one_line(*run_cli(capsys, ["--config-name", "collect", f"task_file={tasks}",
                                             f"save_path={save_path}"]))
    assert "line 2" in line and "skip_bad_task_lines=true" in line
    assert not save_path.exists()


def test_collect_skips_bad_task_lines_when_told(capsys, tmp_path) -> None:
    tasks = tmp_path / "tasks.txt"
    tasks.write_text("Go to amazon.com\nplease juggle three oranges\n")
    main(["--config-name", "collect", f"task_file={tasks}", "skip_bad_task_lines=true", "episodes=1",
          "logging.progress=false", f"save_path={tmp_path / 'run'}"])  # returns: no SystemExit on success
    captured = capsys.readouterr()
    assert "line 2: skipped" in captured.err
    summary = json.loads(captured.out.strip().splitlines()[-1])
    assert summary["tasks_parsed"] == 1 and summary["tasks_total"] == 2


def test_non_utf8_task_file_names_the_line(capsys, tmp_path) -> None:
    tasks = tmp_path / "tasks.txt"
    tasks.write_bytes(b"Go to amazon.com\nGo to ebay.com\nSearch for caf\xe9 on google\n")
    for config in ("collect", "digirl_online"):
        line = assert_one_line(*run_cli(capsys, ["--config-name", config, f"task_file={tasks}",
                                                 f"save_path={tmp_path / 'run'}",
                                                 f"train.sft_cache_dir={tmp_path / 'sft_base'}"]))
        assert "line 3, column 15" in line and "0xe9" in line
        assert not (tmp_path / "run").exists()


# --------------------------------------------------------------------------------------------- devices


def test_too_many_restarts_is_one_line_with_its_own_exit_code(capsys, tmp_path, monkeypatch) -> None:
    def failing(config, resolved) -> str:
        raise TooManyRestartsError("phone 1 failed 6 times (last: connection refused)")

    monkeypatch.setitem(runs.RUN_KINDS, "collect", failing)
    line = assert_one_line(*run_cli(capsys, ["--config-name", "collect", f"save_path={tmp_path / 'run'}"]),
                           expected_code=4)
    assert "phone 1 failed 6 times" in line and "rerun" in line
