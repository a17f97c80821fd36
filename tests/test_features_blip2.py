"""The BLIP-2 vision encoder loads only local checkpoints (full BLIP-2 or vision tower alone), never downloads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from coso.env.features import Blip2VisionEncoder, build_image_encoder
from coso.errors import CheckpointError, ConfigError

IMAGE_SIZE = 32


def _tiny_blip2() -> "torch.nn.Module":
    from transformers import Blip2Config, Blip2ForConditionalGeneration, OPTConfig

    torch.manual_seed(0)
    config = Blip2Config(
        vision_config=dict(
            hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
            image_size=IMAGE_SIZE, patch_size=8, initializer_range=0.5,
        ),
        qformer_config=dict(
            hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, encoder_hidden_size=32
        ),
        text_config=OPTConfig(
            hidden_size=32, num_hidden_layers=1, ffn_dim=64, num_attention_heads=2, vocab_size=64,
            word_embed_proj_dim=32,
        ).to_dict(),
        num_query_tokens=4,
    )
    return Blip2ForConditionalGeneration(config).eval()


def _screens() -> list[Image.Image]:
    screens = []
    for shade in (40, 200):
        image = Image.new("RGB", (270, 480), (shade, 255 - shade, 128))
        ImageDraw.Draw(image).rectangle([20, 60, 200, 120], fill=(255 - shade, 10, 10))
        screens.append(image)
    return screens


def _reference_features(model: "torch.nn.Module", encoder: Blip2VisionEncoder) -> np.ndarray:
    pixels = encoder.processor(images=_screens(), return_tensors="pt")["pixel_values"]
    with torch.inference_mode():
        return model.vision_model(pixel_values=pixels).pooler_output.numpy()


def test_loads_the_vision_tower_of_a_full_blip2_checkpoint(tmp_path: Path) -> None:
    model = _tiny_blip2()
    model.save_pretrained(tmp_path)
    encoder = Blip2VisionEncoder(tmp_path, batch_size=1)
    features = encoder.encode(_screens())
    assert encoder.feature_dim == 32
    assert features.shape == (2, 32) and features.dtype == np.float32
    np.testing.assert_allclose(features, _reference_features(model, encoder), atol=1e-5)
    assert not np.allclose(features[0], features[1])


def test_loads_a_saved_vision_tower_through_the_registry(tmp_path: Path) -> None:
    model = _tiny_blip2()
    model.vision_model.save_pretrained(tmp_path)
    encoder = build_image_encoder("blip2", path=str(tmp_path), feature_dim=32)
    assert isinstance(encoder, Blip2VisionEncoder)
    np.testing.assert_allclose(encoder.encode(_screens()), _reference_features(model, encoder), atol=1e-5)
    assert encoder.encode([]).shape == (0, 32)


def test_missing_or_wrong_checkpoints_give_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not a directory"):
        Blip2VisionEncoder(tmp_path / "nowhere")
    with pytest.raises(CheckpointError, match="config.json is missing"):
        Blip2VisionEncoder(tmp_path)
    model = _tiny_blip2()
    model.save_pretrained(tmp_path)
    with pytest.raises(ConfigError, match="image_feature_dim=32"):
        Blip2VisionEncoder(tmp_path, feature_dim=256)
    for weights in tmp_path.glob("*.safetensors"):
        weights.unlink()
    with pytest.raises(CheckpointError, match="no model.safetensors"):
        Blip2VisionEncoder(tmp_path)


def test_unknown_encoder_names_and_options_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="no image encoder is registered for 'clip'.*pixel_projection"):
        build_image_encoder("clip")
    with pytest.raises(ConfigError, match="bad options"):
        build_image_encoder("pixel_projection", size=3)
