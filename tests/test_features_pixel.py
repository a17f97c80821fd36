"""The built-in pixel-projection encoder tells the simulator's screens apart, deterministically and cheaply."""

from __future__ import annotations

import io
import itertools

import numpy as np
import pytest
from PIL import Image

from coso.env.base import PhoneEnv
from coso.env.sim.expert import ExpertPolicy
from coso.env.features import ImageEncoder, PixelProjectionEncoder, build_image_encoder, stack_features
from coso.env.sim.judge import RuleJudge
from coso.env.sim import SimConfig, SimPhone
from coso.env.task_parser import parse_task
from coso.errors import ConfigError

TOUR = (
    "Go to bestbuy.com, search for 'macbook', and select the first entry",
    "Install the Pinterest app",
    "Open the wifi settings",
    "Search for hotels in Paris",
    "Set an alarm for 5pm",
    "Play some videos of cats on YouTube",
)
MUST_SEE = {
    "launcher:home", "launcher:drawer", "chrome:google_home", "chrome:google_results", "chrome:site_home",
    "chrome:site_results", "chrome:site_product", "play store:store_home", "play store:store_app",
    "settings:settings_main", "clock:clock", "youtube:yt_results",
}


def _screen_tour(seed: int) -> dict[str, Image.Image]:
    """The first screenshot of every (app, view) the scripted expert passes through on the tour's tasks."""
    phone = SimPhone(SimConfig())
    env = PhoneEnv(phone, RuleJudge(phone))
    expert = ExpertPolicy()
    screens: dict[str, Image.Image] = {}
    for task in map(parse_task, TOUR):
        observation = env.reset(task, seed)
        while True:
            state = observation.state
            screens.setdefault(f"{state.foreground}:{state.page.view}", observation.screenshot)
            if env.done:
                break
            observation = env.step(expert.act([observation], [task])[0]).observation
    return screens


@pytest.fixture(scope="module")
def tour() -> dict[str, Image.Image]:
    screens = _screen_tour(seed=0)
    assert MUST_SEE <= set(screens), f"the tour missed {sorted(MUST_SEE - set(screens))}"
    return screens


def _jpeg(image: Image.Image) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=80)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def test_different_screens_are_far_apart_and_rerenderings_close(tour: dict[str, Image.Image]) -> None:
    encoder = PixelProjectionEncoder()
    names = sorted(tour)
    features = dict(zip(names, encoder.encode([tour[name] for name in names])))
    again = _screen_tour(seed=0)  # a second phone driven the same way renders the same screens
    rerendered = dict(zip(names, encoder.encode([again[name] for name in names])))
    compressed = dict(zip(names, encoder.encode([_jpeg(tour[name]) for name in names])))
    same_screen = max(
        max(np.linalg.norm(features[name] - rerendered[name]), np.linalg.norm(features[name] - compressed[name]))
        for name in names
    )
    between_screens = {
        (a, b): float(np.linalg.norm(features[a] - features[b])) for a, b in itertools.combinations(names, 2)
    }
    closest = min(between_screens, key=between_screens.get)
    assert between_screens[closest] > 5 * same_screen, (closest, between_screens[closest], same_screen)
    # Layer-normalised features have norm sqrt(D); different screens differ by a sizeable fraction of it.
    assert between_screens[closest] > 0.25 * np.sqrt(encoder.feature_dim)


def test_features_are_deterministic_float32_and_layer_normalised(tour: dict[str, Image.Image]) -> None:
    images = [tour["launcher:home"], tour["chrome:site_results"]]
    first = PixelProjectionEncoder().encode(images)
    second = PixelProjectionEncoder().encode(images)
    assert first.shape == (2, 256) and first.dtype == np.float32
    np.testing.assert_array_equal(first, second)
    np.testing.assert_allclose(first.mean(axis=1), 0.0, atol=1e-5)
    np.testing.assert_allclose(first.std(axis=1), 1.0, atol=1e-3)
    one_by_one = np.concatenate([PixelProjectionEncoder().encode([image]) for image in images])
    np.testing.assert_array_equal(first, one_by_one)  # a screen's feature does not depend on its batch
    other_seed = PixelProjectionEncoder(seed=1).encode(images)
    assert not np.allclose(first, other_seed)


def test_options_registry_and_protocol(tour: dict[str, Image.Image]) -> None:
    encoder = build_image_encoder("pixel", feature_dim=64, normalization="l2", grid=(9, 16))
    assert isinstance(encoder, ImageEncoder)
    features = encoder.encode([tour["launcher:drawer"]])
    assert features.shape == (1, 64)
    np.testing.assert_allclose(np.linalg.norm(features, axis=1), 1.0, atol=1e-5)
    assert encoder.encode([]).shape == (0, 64)
    with pytest.raises(ConfigError, match="normalization"):
        PixelProjectionEncoder(normalization="batch")
    with pytest.raises(ConfigError, match="feature_dim"):
        PixelProjectionEncoder(feature_dim=0)


def test_stack_features_puts_previous_before_current() -> None:
    previous = np.arange(4, dtype=np.float32)
    current = -np.arange(4, dtype=np.float32)
    np.testing.assert_array_equal(stack_features(previous, current), np.concatenate([previous, current]))
    np.testing.assert_array_equal(stack_features(None, current), np.concatenate([current, current]))
    batch = stack_features(np.zeros((3, 4)), np.ones((3, 4)))
    assert batch.shape == (3, 8) and batch.dtype == np.float32
    with pytest.raises(ValueError, match="shape"):
        stack_features(np.zeros(3), np.zeros(4))
