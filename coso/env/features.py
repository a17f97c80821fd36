"""Image features for screenshots: the frozen encoders that turn a screen into the vector the models read.

Two encoders share one protocol:

- ``PixelProjectionEncoder`` (the default, ``"pixel"`` or ``"pixel_projection"``): a fixed, download-free
  encoder made of a colour thumbnail, edge maps, row/column edge profiles and colour statistics, mapped to
  ``feature_dim`` by a seeded random projection and layer-normalised. Cheap enough for the simulator's budget.
- ``Blip2VisionEncoder`` (``"blip2"``): BLIP-2's vision tower loaded from a local directory, giving the
  1408-d pooled feature AutoUI and DigiRL use.

``stack_features`` puts the previous and the current screen side by side, the ``2 * D`` input of the
AutoUI policy and DigiRL's critics. DigiRL's critics read ``2 x 1408`` features; the released environment
code we read emits one feature per screen and does not say what stands for the previous screen at the
first step, so this project repeats the current screen there (the screen has not changed yet, and a
repeated real feature stays in the distribution the models see, where zeros would not).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from PIL import Image

from coso.errors import CheckpointError, ConfigError
from coso.registry import Registry


@runtime_checkable
class ImageEncoder(Protocol):
    """Turns screenshots into fixed-size float32 vectors."""

    feature_dim: int

    def encode(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Features of ``images`` as a float32 array ``[len(images), feature_dim]``."""


def stack_features(previous: np.ndarray | None, current: np.ndarray) -> np.ndarray:
    """``[previous, current]`` along the last axis (``[2 * D]`` or ``[N, 2 * D]``); None repeats ``current``.

    At the first step of an episode there is no previous screen: pass None and the current screen's
    feature fills both halves (see the module docstring for why).
    """
    current = np.asarray(current, dtype=np.float32)
    previous = current if previous is None else np.asarray(previous, dtype=np.float32)
    if previous.shape != current.shape:
        raise ValueError(f"stack_features: previous {previous.shape} and current {current.shape} differ in shape")
    return np.concatenate([previous, current], axis=-1)


# ----------------------------------------------------------------------------------------------------------
# Registry


ImageEncoderFactory = Callable[..., ImageEncoder]
IMAGE_ENCODERS: Registry[str, ImageEncoderFactory] = Registry("image encoder", ConfigError)


def register_image_encoder(name: str) -> Callable[[ImageEncoderFactory], ImageEncoderFactory]:
    """Class decorator: make an encoder buildable by ``name`` from configs."""
    return IMAGE_ENCODERS.register(name)


def build_image_encoder(name: str, **kwargs: Any) -> ImageEncoder:
    """Build the encoder registered as ``name`` with ``kwargs``; a clear ConfigError for unknown names."""
    factory = IMAGE_ENCODERS.get(name, context="(env.image_encoder)")
    try:
        return factory(**kwargs)
    except TypeError as error:
        raise ConfigError(f"image encoder {name!r}: bad options {sorted(kwargs)}: {error}") from error


# ----------------------------------------------------------------------------------------------------------
# The built-in encoder


def _layer_norm(rows: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """Zero mean, unit variance per row."""
    mean = rows.mean(axis=1, keepdims=True)
    var = rows.var(axis=1, keepdims=True)
    return (rows - mean) / np.sqrt(var + eps)


def _l2_norm(rows: np.ndarray, eps: float = 1e-8) -> np.ndarray:
    """Unit Euclidean length per row."""
    return rows / (np.linalg.norm(rows, axis=1, keepdims=True) + eps)


_NORMALISERS: dict[str, Callable[[np.ndarray], np.ndarray]] = {"layer": _layer_norm, "l2": _l2_norm}


@register_image_encoder("pixel")
@register_image_encoder("pixel_projection")
class PixelProjectionEncoder:
    """A fixed, download-free screen encoder: pixel, edge and colour descriptors under a seeded random projection.

    Each image is reduced (box filter) to twice the grid, giving a grey map and a ``grid`` colour
    thumbnail; the descriptors are the centred thumbnail, horizontal and vertical edge strengths pooled to
    ``grid``, per-row and per-column edge profiles (where text lines and buttons are), the mean and spread
    of each colour channel and a coarse colour histogram. Every block is scaled to unit norm so none
    dominates; the concatenation is projected with a Gaussian matrix drawn from ``seed`` and normalised.
    Nothing is learnt: the same screen always gives the bit-identical vector, whatever batch it is in.
    """

    def __init__(
        self,
        feature_dim: int = 256,
        grid: tuple[int, int] = (18, 32),
        seed: int = 0,
        normalization: str = "layer",
        histogram_levels: int = 4,
    ) -> None:
        if feature_dim < 1:
            raise ConfigError(f"pixel_projection.feature_dim must be >= 1, got {feature_dim}")
        if len(grid) != 2 or min(grid) < 2:
            raise ConfigError(f"pixel_projection.grid must be (width, height) with both >= 2, got {grid}")
        if normalization not in _NORMALISERS:
            raise ConfigError(
                f"pixel_projection.normalization={normalization!r} is not one of {sorted(_NORMALISERS)}"
            )
        if histogram_levels < 2:
            raise ConfigError(f"pixel_projection.histogram_levels must be >= 2, got {histogram_levels}")
        self.feature_dim = int(feature_dim)
        self.grid = (int(grid[0]), int(grid[1]))
        self.seed = int(seed)
        self.normalization = normalization
        self.histogram_levels = int(histogram_levels)
        width, height = self.grid
        cells = width * height
        self._block_sizes = {
            "thumbnail": 3 * cells,
            "edges_x": cells,
            "edges_y": cells,
            "row_profile": 2 * height,
            "column_profile": 2 * width,
            "colour_stats": 6,
            "histogram": self.histogram_levels**3,
        }
        self.descriptor_dim = sum(self._block_sizes.values())
        rng = np.random.default_rng(self.seed)
        projection = rng.standard_normal((self.descriptor_dim, self.feature_dim))
        self._projection = (projection / math.sqrt(self.feature_dim)).astype(np.float32)
        self._normalise = _NORMALISERS[normalization]

    def encode(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Features of ``images`` as float32 ``[N, feature_dim]``."""
        if len(images) == 0:
            return np.zeros((0, self.feature_dim), dtype=np.float32)
        descriptors = np.stack([self.describe(image) for image in images])
        # numpy's own einsum loop, not BLAS: each output sums in a fixed order, so a screen's feature does not
        # depend on the batch it was encoded in (a BLAS product rounds differently with the batch size), and
        # no BLAS threads compete with the environment workers.
        projected = np.einsum("ni,ij->nj", descriptors, self._projection)
        return self._normalise(projected).astype(np.float32, copy=False)

    def describe(self, image: Image.Image) -> np.ndarray:
        """The un-projected descriptor of one image (float32 ``[descriptor_dim]``)."""
        width, height = self.grid
        rgb = image if image.mode == "RGB" else image.convert("RGB")
        # One box-filtered reduction to twice the grid (integer pre-reduction first, for speed); the grey map
        # and the colour thumbnail derive from it.
        reduced = rgb.resize((2 * width, 2 * height), Image.Resampling.BOX, reducing_gap=1.0)
        small = np.asarray(reduced, dtype=np.float32)
        small *= 1.0 / 255.0
        grey = small[..., 0] * _LUMA[0] + small[..., 1] * _LUMA[1] + small[..., 2] * _LUMA[2]
        colour = small.reshape(height, 2, width, 2, 3).mean(axis=(1, 3))
        # Edge strengths on the 2x grey map, pooled back to the grid (2 x 2 cells).
        edge_x = np.zeros_like(grey)
        edge_y = np.zeros_like(grey)
        edge_x[:, 1:] = np.abs(np.diff(grey, axis=1))
        edge_y[1:, :] = np.abs(np.diff(grey, axis=0))
        pooled_x = edge_x.reshape(height, 2, width, 2).mean(axis=(1, 3))
        pooled_y = edge_y.reshape(height, 2, width, 2).mean(axis=(1, 3))
        edge_energy = edge_x + edge_y
        row_profile = edge_energy.mean(axis=1)
        column_profile = edge_energy.mean(axis=0)
        pixels = colour.reshape(-1, 3)
        stats = np.concatenate([pixels.mean(axis=0), pixels.std(axis=0)])
        levels = self.histogram_levels
        quantised = np.minimum((pixels * levels).astype(np.int64), levels - 1)
        bins = (quantised[:, 0] * levels + quantised[:, 1]) * levels + quantised[:, 2]
        histogram = np.bincount(bins, minlength=levels**3).astype(np.float32) / len(bins)
        blocks = [
            colour - colour.mean(axis=(0, 1), keepdims=True),
            pooled_x - pooled_x.mean(),
            pooled_y - pooled_y.mean(),
            row_profile - row_profile.mean(),
            column_profile - column_profile.mean(),
            stats - 0.5,
            histogram,
        ]
        return np.concatenate([_unit_scale(block) for block in blocks]).astype(np.float32)


_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R 601 luma weights, as Pillow's "L" mode


def _unit_scale(block: np.ndarray) -> np.ndarray:
    """Flatten and scale a descriptor block to unit norm (zero blocks stay zero) so blocks weigh alike."""
    flat = block.reshape(-1)
    norm = float(np.linalg.norm(flat))
    return flat / norm if norm > 1e-8 else flat


# ----------------------------------------------------------------------------------------------------------
# The screen itself, for VLM policies


@register_image_encoder("screen_pixels")
class ScreenPixelEncoder:
    """The screen as its own feature: RGB resized (bilinear) to ``width x height``, in [0, 1], flattened [H, W, 3].

    A VLM policy (``coso.models.hf_vlm``) reads pixels through its own processor, so the feature it gets must
    keep the screen: it unflattens the current half of the stacked features back into the image. The critics
    read the same vector (``feature_dim = width * height * 3`` per screen).
    """

    def __init__(self, feature_dim: int | None = None, width: int = 54, height: int = 96) -> None:
        if width < 1 or height < 1:
            raise ConfigError(f"screen_pixels: width and height must be >= 1, got {width} x {height}")
        if feature_dim is not None and int(feature_dim) != width * height * 3:
            raise ConfigError(f"screen_pixels gives {width} x {height} x 3 = {width * height * 3} features per screen "
                              f"but feature_dim={feature_dim} was asked for; set env.image_feature_dim="
                              f"{width * height * 3}")
        self.width = int(width)
        self.height = int(height)
        self.feature_dim = self.width * self.height * 3

    def encode(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Features of ``images`` as float32 ``[N, width * height * 3]``."""
        if len(images) == 0:
            return np.zeros((0, self.feature_dim), dtype=np.float32)
        rows = [np.asarray((image if image.mode == "RGB" else image.convert("RGB")).resize(
            (self.width, self.height), Image.Resampling.BILINEAR), dtype=np.float32).reshape(-1) / 255.0
            for image in images]
        return np.stack(rows).astype(np.float32, copy=False)


# ----------------------------------------------------------------------------------------------------------
# BLIP-2 vision tower from a local directory

_VISION_PREFIX = "vision_model."


def _read_config(model_path: Path) -> dict[str, Any]:
    config_file = model_path / "config.json"
    if not config_file.is_file():
        raise CheckpointError(
            f"BLIP-2 vision encoder: {config_file} is missing; point env.image_encoder_path at a local "
            "BLIP-2 checkpoint directory (e.g. a saved Salesforce/blip2-opt-2.7b); nothing is downloaded"
        )
    try:
        return json.loads(config_file.read_text())
    except ValueError as error:
        raise CheckpointError(f"BLIP-2 vision encoder: {config_file} is not valid JSON: {error}") from error


def _weight_files(model_path: Path) -> list[Path]:
    """The checkpoint's weight files: safetensors (single or sharded), else PyTorch .bin files."""
    for index_name in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        index_file = model_path / index_name
        if index_file.is_file():
            shards = sorted(set(json.loads(index_file.read_text())["weight_map"].values()))
            return [model_path / shard for shard in shards]
    for single in ("model.safetensors", "pytorch_model.bin"):
        if (model_path / single).is_file():
            return [model_path / single]
    raise CheckpointError(
        f"BLIP-2 vision encoder: no model.safetensors / pytorch_model.bin (or their index) in {model_path}"
    )


def _load_vision_state(files: Sequence[Path], prefix: str) -> dict[str, Any]:
    """Read only the vision tower's tensors (keys under ``prefix``), with the prefix removed."""
    import torch
    from safetensors import safe_open

    state: dict[str, Any] = {}
    for file in files:
        if not file.is_file():
            raise CheckpointError(f"BLIP-2 vision encoder: weight shard {file} is missing")
        if file.suffix == ".safetensors":
            with safe_open(str(file), framework="pt") as handle:
                for key in handle.keys():
                    if key.startswith(prefix):
                        state[key[len(prefix):]] = handle.get_tensor(key)
        else:
            tensors = torch.load(str(file), map_location="cpu", weights_only=True, mmap=True)
            state.update({key[len(prefix):]: value for key, value in tensors.items() if key.startswith(prefix)})
    return state


@register_image_encoder("blip2")
class Blip2VisionEncoder:
    """BLIP-2's frozen vision tower read from a local directory: pooled (post-layernorm CLS) features.

    ``path`` may hold a full BLIP-2 checkpoint (only the ``vision_model.*`` weights are read, so the
    language model is never loaded) or a saved ``Blip2VisionModel``. The image processor comes from the
    directory's ``preprocessor_config.json`` when there is one, else BLIP's defaults at the tower's size.
    ``feature_dim``, when given (e.g. from a config), must match the tower's width.
    """

    def __init__(
        self,
        path: str | Path,
        feature_dim: int | None = None,
        device: str = "cpu",
        batch_size: int = 16,
        dtype: str = "float32",
    ) -> None:
        import torch
        from transformers import Blip2VisionConfig, Blip2VisionModel

        path = Path(path).expanduser()
        if not path.is_dir():
            raise CheckpointError(
                f"BLIP-2 vision encoder: {path} is not a directory; set env.image_encoder_path to a local "
                "BLIP-2 checkpoint (e.g. a saved Salesforce/blip2-opt-2.7b); nothing is downloaded"
            )
        if batch_size < 1:
            raise ConfigError(f"blip2.batch_size must be >= 1, got {batch_size}")
        torch_dtype = getattr(torch, dtype, None)
        if not isinstance(torch_dtype, torch.dtype):
            raise ConfigError(f"blip2.dtype={dtype!r} is not a torch dtype (use float32, bfloat16 or float16)")
        config = _read_config(path)
        is_full_blip2 = "vision_config" in config
        vision_config = Blip2VisionConfig(**(config["vision_config"] if is_full_blip2 else config))
        if feature_dim is not None and int(feature_dim) != vision_config.hidden_size:
            raise ConfigError(
                f"the BLIP-2 vision tower in {path} gives {vision_config.hidden_size}-d features but "
                f"feature_dim={feature_dim} was asked for; set env.image_feature_dim={vision_config.hidden_size}"
            )
        model = Blip2VisionModel(vision_config)
        state = _load_vision_state(_weight_files(path), _VISION_PREFIX if is_full_blip2 else "")
        expected = set(model.state_dict())
        missing = sorted(expected - set(state))
        if missing:
            raise CheckpointError(
                f"BLIP-2 vision encoder: {path} lacks {len(missing)} vision-tower weights (first: {missing[:3]}); "
                "is it a BLIP-2 checkpoint?"
            )
        model.load_state_dict({key: state[key] for key in expected}, strict=True)
        # transformers wraps PreTrainedModel.to in a decorator mypy reads as unbound
        self.model = model.to(device=device, dtype=torch_dtype).eval().requires_grad_(False)  # type: ignore[call-arg]
        # BLIP-2's vision config holds one int image_size (the stubs allow the generic [h, w] forms)
        self.processor = self._load_processor(path, vision_config.image_size)  # type: ignore[arg-type]
        self.feature_dim = int(vision_config.hidden_size)
        self.device = device
        self.dtype = torch_dtype
        self.batch_size = int(batch_size)

    @staticmethod
    def _load_processor(path: Path, image_size: int) -> Any:
        from transformers import BlipImageProcessorPil

        if (path / "preprocessor_config.json").is_file():
            from transformers import AutoImageProcessor

            return AutoImageProcessor.from_pretrained(str(path), local_files_only=True)
        return BlipImageProcessorPil(size={"height": image_size, "width": image_size})

    def encode(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Pooled vision features of ``images`` as float32 ``[N, feature_dim]``."""
        import torch

        if len(images) == 0:
            return np.zeros((0, self.feature_dim), dtype=np.float32)
        outputs = []
        with torch.inference_mode():
            for start in range(0, len(images), self.batch_size):
                batch = [image.convert("RGB") for image in images[start:start + self.batch_size]]
                pixels = self.processor(images=batch, return_tensors="pt")["pixel_values"]
                pooled = self.model(pixel_values=pixels.to(self.device, self.dtype)).pooler_output
                outputs.append(pooled.float().cpu().numpy())
        return np.concatenate(outputs).astype(np.float32, copy=False)
