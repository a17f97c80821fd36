"""End to end over the wire: full episodes through EnvPool and the rollout, AppiumDevice on the served simulator.

The real-device path (appium-python-client -> W3C WebDriver over loopback HTTP) must reach exactly what the
in-process simulator reaches on the same seeds, and server faults mid-episode must become DeviceErrors the
environment pool recovers from.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
from pathlib import Path
from typing import Iterator, Sequence

import pytest
from PIL import Image

from coso.config import EnvConfig
from coso.env.android.appium_device import AppiumDevice, DeviceTimeouts
from coso.env.android.factory import AndroidEnvFactory, android_env_factory
from coso.env.base import EpisodeConfig, PhoneEnv
from coso.env.sim.expert import ExpertPolicy
from coso.env.features import build_image_encoder
from coso.env.sim.judge import RuleJudge
from coso.env.pool import EnvPool
from coso.env.sim import SimConfig, SimPhone
from coso.env.task_generator import generate_tasks
from coso.fakes.webdriver_server import Fault, ServedDevice, SimWebDriverServer
from coso.errors import ConfigError
from coso.rollout import RolloutResult, collect_trajectories

TIMEOUTS = DeviceTimeouts(session_s=10.0, command_s=2.0)
FAULT_TIMEOUTS = DeviceTimeouts(session_s=10.0, command_s=1.0)
TASKS = generate_tasks(8, 7, "mixed")
SEEDS = list(range(100, 108))
REPO_ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def served_phones(num: int, faults: dict[int, Sequence[Fault]] | None = None) -> Iterator[list[SimWebDriverServer]]:
    servers = [SimWebDriverServer(SimPhone(SimConfig()), faults=(faults or {}).get(k, ())).start() for k in range(num)]
    try:
        yield servers
    finally:
        for server in servers:
            server.stop()


def wire_factory(servers: list[SimWebDriverServer], timeouts: DeviceTimeouts = TIMEOUTS):
    def make(slot: int) -> PhoneEnv:
        server = servers[slot]
        return PhoneEnv(ServedDevice(server, timeouts), RuleJudge(server.device), EpisodeConfig())
    return make


def local_factory(slot: int) -> PhoneEnv:
    phone = SimPhone(SimConfig())
    return PhoneEnv(phone, RuleJudge(phone), EpisodeConfig())


def rollout(factory, num_envs: int = 2, step_timeout_s: float = 10.0) -> RolloutResult:
    encoder = build_image_encoder("pixel", feature_dim=16)
    with EnvPool(factory, num_envs, step_timeout_s=step_timeout_s, reset_timeout_s=10.0, max_restarts=2,
                 build_timeout_s=20.0) as pool:
        return collect_trajectories(pool, ExpertPolicy(), TASKS, encoder, seeds=SEEDS, gamma=0.5, progress=False)


@pytest.fixture(scope="module")
def local() -> RolloutResult:
    """The in-process simulator's rollout of the same tasks and seeds."""
    return rollout(local_factory)


def test_expert_episodes_over_the_wire_match_the_in_process_simulator(local: RolloutResult) -> None:
    with served_phones(2) as servers:
        wire = rollout(wire_factory(servers))
    assert wire.stats.episodes == local.stats.episodes == len(TASKS)
    assert wire.stats.env_failures == 0 and wire.stats.pool["failures"] == 0
    assert [t.success for t in wire.trajectories] == [t.success for t in local.trajectories]
    assert wire.stats.success_rate == local.stats.success_rate > 0.5
    for w, l in zip(wire.trajectories, local.trajectories):
        assert [tr.action for tr in w.transitions] == [tr.action for tr in l.transitions]
        assert [tr.reward for tr in w.transitions] == [tr.reward for tr in l.transitions]


@pytest.mark.parametrize("kind", ["drop", "error", "hang"])
def test_server_faults_mid_episode_are_recovered_by_the_pool(kind: str, local: RolloutResult, caplog) -> None:
    # slot 0's server fails its 12th request (inside the first wave's episodes); slot 1's never fails
    faults = {0: [Fault(kind, at_request=12, hang_s=1.5)]}
    caplog.set_level(logging.ERROR)
    with served_phones(2, faults) as servers:
        result = rollout(wire_factory(servers, FAULT_TIMEOUTS))
        assert servers[0].requests_served >= 12
    pool = result.stats.pool
    assert pool["failures"] == 1 and pool["restarts"] == 1
    assert pool["timeouts"] == (1 if kind == "hang" else 0)
    failed = [t for t in result.trajectories if t.env_failed]
    assert len(failed) == 1 and not failed[0].success
    assert result.stats.episodes == len(TASKS)
    others = [(w.success, l.success) for w, l in zip(result.trajectories, local.trajectories) if not w.env_failed]
    assert all(w == l for w, l in others)  # every other episode is unaffected


def test_android_factory_attaches_to_running_servers() -> None:
    with served_phones(2) as servers:
        env = EnvConfig(backend="android", num_envs=2, judge="gemini",
                        android={"attach_urls": [s.url for s in servers], "timeouts": {"command_s": 2.0}},
                        gemini={"api_key_env": ["COSO_TEST_GEMINI_KEY"]})
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("COSO_TEST_GEMINI_KEY", "test-key-not-real")
            factory = android_env_factory(env, EpisodeConfig(), seed=0)
        assert isinstance(factory, AndroidEnvFactory) and factory.fleet is None
        phone_env = factory(1)
        assert isinstance(phone_env.device, AppiumDevice)
        assert phone_env.device.server_url == servers[1].url
        assert phone_env.device.window_size() == (SimConfig().width, SimConfig().height)
        phone_env.close()
        factory.close()
    base = dict(backend="android", num_envs=2)
    with pytest.raises(ConfigError, match="env.judge=rule reads the simulator's state"):
        android_env_factory(EnvConfig(**base, judge="rule", android={"attach_urls": ["http://x", "http://y"]}),
                            EpisodeConfig(), 0)
    with pytest.raises(ConfigError, match="num_instances=3 differs from env.num_envs=2"):
        android_env_factory(EnvConfig(**base, judge="gemini", android={"num_instances": 3}), EpisodeConfig(), 0)
    with pytest.raises(ConfigError, match="lists 1 servers for env.num_envs=2"):
        android_env_factory(EnvConfig(**base, judge="gemini", android={"attach_urls": ["http://x"]}), EpisodeConfig(), 0)


def load_check_device():
    spec = importlib.util.spec_from_file_location("check_device", REPO_ROOT / "env_setup" / "check_device.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def test_check_device_script_saves_a_screenshot(tmp_path: Path, capsys) -> None:
    check_device = load_check_device()
    phone = SimPhone(SimConfig(), seed=4)
    out = tmp_path / "shot.png"
    with SimWebDriverServer(phone) as server:
        assert check_device.main(["--server-url", server.url, "--out", str(out), "--command-timeout", "5"]) == 0
        assert Image.open(out).convert("RGB").tobytes() == phone.screenshot().tobytes()
        url = server.url
    assert "attached: screen 270x480" in capsys.readouterr().out
    assert check_device.main(["--server-url", url, "--out", str(tmp_path / "x.png"), "--command-timeout", "2"]) == 1
    assert "device check failed: DeviceConnectionError" in capsys.readouterr().err
