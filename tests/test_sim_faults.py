"""Fault injection of the simulated phone: errors, hangs and corrupted screenshots, seeded per episode."""

from __future__ import annotations

import time

import pytest

from coso.env.sim import FaultConfig, SimConfig, SimPhone
from coso.errors import DeviceError


def phone_with(**faults: object) -> SimPhone:
    return SimPhone(SimConfig(faults=FaultConfig(**faults)))


def test_no_faults_by_default() -> None:
    phone = SimPhone()
    for _ in range(50):
        phone.tap(0.5, 0.5)
        assert phone.screenshot().size == (270, 480)
    assert phone.faults.counts == {"errors": 0, "hangs": 0, "corruptions": 0}


def test_error_probability_one_raises_device_error_on_every_call() -> None:
    phone = phone_with(error_prob=1.0)
    for call in (lambda: phone.tap(0.5, 0.5), phone.screenshot, phone.press_back, lambda: phone.type_text("x")):
        with pytest.raises(DeviceError, match="simulated device failure"):
            call()
    phone.reset(3)  # reset itself never fails, so a pool can restart the device


def test_errors_happen_at_the_configured_rate_and_repeat_for_a_seed() -> None:
    def failures(seed: int) -> list[int]:
        phone = phone_with(error_prob=0.3)
        phone.reset(seed)
        failed = []
        for index in range(200):
            try:
                phone.press_back()
            except DeviceError:
                failed.append(index)
        return failed

    first = failures(11)
    assert 35 <= len(first) <= 85
    assert failures(11) == first
    assert failures(12) != first


def test_hangs_sleep_for_the_configured_time() -> None:
    phone = phone_with(hang_prob=1.0, hang_seconds=0.05)
    start = time.perf_counter()
    phone.tap(0.5, 0.5)
    assert time.perf_counter() - start >= 0.05
    assert phone.faults.counts["hangs"] == 1


@pytest.mark.parametrize("mode", ["black", "wrong_size"])
def test_corrupted_screenshots(mode: str) -> None:
    phone = phone_with(corrupt_prob=1.0, corrupt_modes=(mode,))
    image = phone.screenshot()
    if mode == "black":
        assert image.size == (270, 480) and image.getextrema() == ((0, 0), (0, 0), (0, 0))
    else:
        assert image.size != (270, 480)
    assert phone.faults.counts["corruptions"] == 1


def test_action_latency_delays_actions_only_and_leaves_the_fault_draws_unchanged() -> None:
    def run(**latency: float) -> tuple[list[int], float, float]:
        phone = phone_with(error_prob=0.3, **latency)
        phone.reset(5)
        started = time.perf_counter()
        failed = []
        for index in range(6):
            try:
                phone.press_back()
            except DeviceError:
                failed.append(index)
        acted = time.perf_counter() - started
        started = time.perf_counter()
        try:
            phone.screenshot()
        except DeviceError:
            pass
        return failed, acted, time.perf_counter() - started

    plain_failures, _, _ = run()
    failures, acted, shot = run(action_latency_s=0.02, action_latency_jitter_s=0.01)
    assert failures == plain_failures
    actions = 6 - len(failures)  # a failing call raises before its latency
    assert acted >= 0.02 * actions and shot < 0.02
    with pytest.raises(Exception, match="action_latency_s"):
        FaultConfig(action_latency_s=-1.0)
