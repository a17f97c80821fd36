"""A Hugging Face image-text-to-text policy (Qwen2-VL / Qwen2.5-VL / Qwen3-VL, PaliGemma, SmolVLM / Idefics3 ...).

Any checkpoint that ``AutoProcessor`` and ``AutoModelForImageTextToText`` load from a local directory can act
and train here; nothing is downloaded (``local_files_only``). The policy has the built-in policy's interface
(``coso.models.policy.Policy``): it takes the AutoUI prompt and the stacked screen features ``[B, 2 * D]`` and
writes or scores action text, so DigiRL, CoSo and Filtered BC train it unchanged.

The screen: a VLM reads pixels, not projected features, so runs with this policy use the ``screen_pixels``
image encoder (``coso.env.features``), whose feature of a screen *is* the screen, resized to
``screen_width x screen_height`` RGB in [0, 1] and flattened row-major ``[H, W, 3]``; this policy unflattens the
current screen (the second half of the stacked features) back into an image for the model's own processor.

The text: the prompt goes in one user turn (the image, then the prompt) through the processor's chat template
when it has one; a processor without one (PaliGemma) gets ``<image>`` + prompt, its own convention. The action
is the model's answer: its tokens (no special tokens added) followed by the tokenizer's EOS token (``<|im_end|>``,
``<end_of_utterance>``, ``<eos>`` ... whatever the checkpoint's tokenizer names EOS), which ends generation.

LoRA (peft): ``lora_rank > 0`` wraps the model in adapters on ``lora_target_modules`` (r 8, alpha 16, dropout
0.05 by default, the VLM Q-learning paper's values) and freezes the rest; checkpoints then hold only the
adapters and the processor, and name the base model's directory (``base_path``). ``lora_rank = 0`` trains
every weight and saves the whole model. Weights are bf16 on a GPU and fp32 on the CPU (``dtype: auto``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from coso.errors import CheckpointError, ConfigError
from coso.models.autoui import TokenStats, evaluation_mode
from coso.models.constrained import GrammarConstraint, State
from coso.models.serialization import load_config, require_directory, save_config
from coso.models.tokenizer import ensure_null_token, null_token_id

ADAPTER_DIR = "adapter"  # a LoRA checkpoint's peft adapter (adapter_config.json, adapter_model.safetensors)

DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}

# Processor outputs aligned with the token sequence, beyond input_ids and attention_mask, and the value that
# extends them over the action tokens: PaliGemma's token_type_ids mark its suffix (the answer) with 1.
SEQUENCE_FILL: dict[str, int] = {"token_type_ids": 1}
# generate fills every setting left unset from the checkpoint's generation_config (Qwen2-VL-Instruct's has top_k 1,
# top_p 0.001, repetition_penalty 1.05): set them all to "off" so rollouts sample the policy's own softmax, whose
# log-probabilities the losses score
FULL_DISTRIBUTION: dict[str, float | int] = {"top_k": 0, "top_p": 1.0, "typical_p": 1.0, "min_p": 0.0,
                                             "epsilon_cutoff": 0.0, "eta_cutoff": 0.0, "repetition_penalty": 1.0,
                                             "no_repeat_ngram_size": 0, "num_beams": 1, "min_new_tokens": 0}
NOT_INPUTS = ("labels",)  # processor outputs that are not model inputs (PaliGemma returns labels)


@dataclass(frozen=True)
class HFVLMConfig:
    """The VLM policy: where the base model is, the screen size it reads, and its LoRA adapters."""

    base_path: str = ""  # the local directory of the base checkpoint (processor + weights)
    screen_width: int = 54  # the screen_pixels encoder's size: env.image_feature_dim = width * height * 3
    screen_height: int = 96
    lora_rank: int = 8  # 0: full fine-tuning
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    lora_target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    dtype: str = "auto"  # "auto": bfloat16 where CUDA is available, float32 otherwise; or a DTYPES name
    max_action_tokens: int = 256  # teacher-forced actions are cut here (EOS included)
    system_prompt: str = ""  # a system turn before the user's, when non-empty (chat templates only)

    def __post_init__(self) -> None:
        if self.screen_width < 1 or self.screen_height < 1 or self.max_action_tokens < 2:
            raise ConfigError(f"agent.hf_vlm: screen_width, screen_height must be >= 1 and max_action_tokens >= 2, "
                              f"got {self.screen_width}, {self.screen_height}, {self.max_action_tokens}")
        if self.lora_rank < 0 or not self.lora_alpha > 0 or not 0.0 <= self.lora_dropout < 1.0:
            raise ConfigError(f"agent.hf_vlm: lora_rank must be >= 0, lora_alpha > 0 and lora_dropout in [0, 1), got "
                              f"{self.lora_rank}, {self.lora_alpha}, {self.lora_dropout}")
        if self.lora_rank > 0 and not self.lora_target_modules:
            raise ConfigError("agent.hf_vlm.lora_target_modules is empty; name the linear layers to adapt "
                              "(e.g. [q_proj, k_proj, v_proj, o_proj])")
        if self.dtype != "auto" and self.dtype not in DTYPES:
            raise ConfigError(f"agent.hf_vlm.dtype={self.dtype!r} is not 'auto' or one of {sorted(DTYPES)}")

    @property
    def screen_feature_dim(self) -> int:
        """Features per screen under the screen_pixels encoder."""
        return self.screen_width * self.screen_height * 3

    def torch_dtype(self) -> torch.dtype:
        """The weights' dtype: bf16 on a GPU, fp32 on the CPU, unless set."""
        if self.dtype == "auto":
            return torch.bfloat16 if torch.cuda.is_available() else torch.float32
        return DTYPES[self.dtype]


def screens_from_features(image_features: torch.Tensor, width: int, height: int) -> list[Image.Image]:
    """The current screens (second half of stacked ``screen_pixels`` features ``[B, 2 * H * W * 3]``) as RGB images."""
    per_screen = width * height * 3
    if image_features.dim() != 2 or image_features.shape[1] != 2 * per_screen:
        raise ConfigError(
            f"HFVLMPolicy: image_features has shape {tuple(image_features.shape)}, expected [B, {2 * per_screen}] "
            f"(previous + current screen of {width} x {height} RGB); use env.image_encoder=screen_pixels with "
            f"env.image_feature_dim={per_screen} (configs/agent/hf_vlm.yaml sets both)")
    current = image_features[:, per_screen:].detach().float().clamp(0.0, 1.0).cpu().numpy()
    pixels = np.rint(current.reshape(-1, height, width, 3) * 255.0).astype(np.uint8)
    return [Image.fromarray(screen, mode="RGB") for screen in pixels]


def _load_processor(path: str | os.PathLike) -> Any:
    from transformers import AutoProcessor

    try:
        return AutoProcessor.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError, ImportError, AttributeError, TypeError) as error:
        raise CheckpointError(
            f"hf_vlm: could not load a processor from {str(path)!r} ({type(error).__name__}: {error}); the directory "
            "needs the checkpoint's processor files (tokenizer, preprocessor_config.json); Qwen-VL processors also "
            "need the torchvision release built for the installed torch (docs/hf_vlm.md)") from error


def _load_model(path: str | os.PathLike, dtype: torch.dtype) -> nn.Module:
    from transformers import AutoModelForImageTextToText

    try:
        return AutoModelForImageTextToText.from_pretrained(str(path), local_files_only=True, dtype=dtype)
    except (OSError, ValueError, KeyError) as error:
        raise CheckpointError(
            f"hf_vlm: could not load an image-text-to-text model from {str(path)!r} ({error}); set agent.policy_path "
            "to a local checkpoint directory (config.json + safetensors) that AutoModelForImageTextToText reads"
        ) from error


def _attach_lora(model: nn.Module, config: HFVLMConfig) -> nn.Module:
    """Wrap ``model`` in peft LoRA adapters; only the adapters train."""
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError as error:
        raise ConfigError("agent.hf_vlm.lora_rank > 0 needs peft: pip install 'coso[vlm]'") from error
    lora = LoraConfig(r=config.lora_rank, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules=list(config.lora_target_modules), bias="none")
    try:
        return get_peft_model(model, lora)
    except ValueError as error:
        raise ConfigError(f"agent.hf_vlm.lora_target_modules={list(config.lora_target_modules)} do not fit this "
                          f"model ({error}); name its linear layers (e.g. q_proj, v_proj)") from error


class GrammarLogitsProcessor:
    """A transformers logits processor that masks each row to the tokens the action grammar allows.

    ``generate`` calls it once per new token with the ids so far; the rows' grammar states advance by the
    token each row chose at the previous call (the prompt is ``prompt_width`` ids wide)."""

    def __init__(self, constraint: GrammarConstraint, prompt_width: int) -> None:
        self.constraint = constraint
        self.prompt_width = prompt_width
        self.states: list | None = None

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        """``scores`` [B, V] with every token the grammar forbids at -inf."""
        if self.states is None:
            self.states = [self.constraint.start() for _ in range(input_ids.shape[0])]
        elif input_ids.shape[1] > self.prompt_width:
            self.states = self.constraint.advance(self.states, input_ids[:, -1].tolist())
        allowed = self.constraint.mask(self.states).to(scores.device)
        if allowed.shape[1] < scores.shape[-1]:  # model rows past the tokenizer are never written
            allowed = F.pad(allowed, (0, scores.shape[-1] - allowed.shape[1]), value=False)
        allowed = allowed[:, : scores.shape[-1]]
        return scores.masked_fill(~allowed, float("-inf"))


class HFVLMPolicy(nn.Module):
    """A local Hugging Face VLM that writes AutoUI action text from the prompt and the current screen."""

    CONFIG_NAME = "hf_vlm_config.json"

    def __init__(self, config: HFVLMConfig, model: nn.Module, processor: Any) -> None:
        super().__init__()
        self.config = config
        self.model: Any = model  # a transformers model (peft-wrapped with LoRA)
        self.processor = processor
        self.tokenizer = processor.tokenizer
        if self.tokenizer.eos_token_id is None:
            raise ConfigError("hf_vlm: the checkpoint's tokenizer has no EOS token; the policy ends actions with it")
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        ensure_null_token(self.tokenizer)  # CoSo's counterfactual token (the causal model reads it, never the VLM)

    # ------------------------------------------------------------------------------------------ building

    @classmethod
    def from_base(cls, config: HFVLMConfig) -> HFVLMPolicy:
        """The base checkpoint at ``config.base_path`` with fresh LoRA adapters (when ``lora_rank > 0``)."""
        require_directory(config.base_path, what="hf_vlm base checkpoint (agent.policy_path)")
        processor = _load_processor(config.base_path)
        model = _load_model(config.base_path, config.torch_dtype())
        if config.lora_rank > 0:
            model = _attach_lora(model, config)
        return cls(config, model, processor)

    @property
    def device(self) -> torch.device:
        """Where the weights live."""
        return next(self.model.parameters()).device

    @property
    def null_token_id(self) -> int:
        """The ``<null>`` token id (counterfactual masking)."""
        return null_token_id(self.tokenizer)

    @property
    def hidden_size(self) -> int:
        """Width of ``TokenStats.hidden_states`` (the LM head's input)."""
        return int(self.model.get_output_embeddings().weight.shape[1])

    @property
    def vocab_size(self) -> int:
        """Rows of the LM head: the width of the log-probabilities (may exceed the tokenizer's size)."""
        return int(self.model.get_output_embeddings().weight.shape[0])

    # ------------------------------------------------------------------------------------------ inputs

    def prompt_texts(self, prompts: Sequence[str]) -> list[str]:
        """Each prompt as the model's own input text: a chat turn with the image, or ``<image>`` + prompt."""
        template = getattr(self.processor, "chat_template", None)
        if not template:
            image_token = getattr(self.processor, "image_token", "") or ""
            return [image_token + prompt for prompt in prompts]
        texts = []
        for prompt in prompts:
            messages: list[dict[str, object]] = []
            if self.config.system_prompt:
                messages.append({"role": "system", "content": [{"type": "text", "text": self.config.system_prompt}]})
            messages.append({"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]})
            texts.append(self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False))
        return texts

    def encode_prompts(self, prompts: Sequence[str], image_features: torch.Tensor,
                       padding_side: str) -> dict[str, torch.Tensor]:
        """The processor's model inputs for the prompts and their current screens, on the model's device."""
        if image_features.shape[0] != len(prompts):
            raise ValueError(f"HFVLMPolicy: {len(prompts)} prompts but {image_features.shape[0]} image feature rows")
        screens = screens_from_features(image_features, self.config.screen_width, self.config.screen_height)
        side = self.tokenizer.padding_side
        self.tokenizer.padding_side = padding_side
        try:
            batch = self.processor(text=self.prompt_texts(prompts), images=[[screen] for screen in screens],
                                   padding=True, return_tensors="pt")
        finally:
            self.tokenizer.padding_side = side
        dtype = self.model.get_input_embeddings().weight.dtype  # the base weights' (peft keeps adapters in fp32)
        return {name: value.to(self.device, dtype=dtype if value.is_floating_point() else None)
                for name, value in batch.items() if isinstance(value, torch.Tensor) and name not in NOT_INPUTS}

    def action_ids(self, actions: Sequence[str]) -> list[list[int]]:
        """Each action's token ids (no special tokens) + EOS, at most ``max_action_tokens``."""
        eos = int(self.tokenizer.eos_token_id)
        encoded = self.tokenizer(list(actions), add_special_tokens=False)["input_ids"]
        return [list(ids)[: self.config.max_action_tokens - 1] + [eos] for ids in encoded]

    # ------------------------------------------------------------------------------------------ acting

    def generate(self, prompts: Sequence[str], image_features: torch.Tensor, *, do_sample: bool = True,
                 temperature: float = 1.0, max_new_tokens: int = 128, generator: torch.Generator | None = None,
                 constraint: GrammarConstraint | None = None) -> list[str]:
        """Write one action text per observation; greedy when ``do_sample`` is False.

        Sampling draws from the full softmax at ``temperature`` (no top-k / top-p), seeded from ``generator``.
        With ``constraint`` every step is masked to the action grammar and a row the budget cuts off gets the
        grammar's closing text, so every text parses. Any text may come back; the parser never raises.
        """
        tokens = self.generate_tokens(prompts, image_features, do_sample=do_sample, temperature=temperature,
                                      max_new_tokens=max_new_tokens, generator=generator, constraint=constraint)
        return self.tokenizer.batch_decode(tokens, skip_special_tokens=True, clean_up_tokenization_spaces=False)

    def generate_tokens(self, prompts: Sequence[str], image_features: torch.Tensor, *, do_sample: bool = True,
                        temperature: float = 1.0, max_new_tokens: int = 128, generator: torch.Generator | None = None,
                        constraint: GrammarConstraint | None = None) -> list[list[int]]:
        """The written token ids of each row, EOS included where the model wrote it (no padding)."""
        from transformers import GenerationConfig, LogitsProcessorList

        if do_sample and not temperature > 0.0:
            raise ConfigError(f"generate: temperature must be > 0 when sampling, got {temperature}")
        if max_new_tokens < 1:
            raise ConfigError(f"generate: max_new_tokens must be >= 1, got {max_new_tokens}")
        eos, pad = int(self.tokenizer.eos_token_id), int(self.tokenizer.pad_token_id)
        settings = GenerationConfig(do_sample=bool(do_sample), temperature=float(temperature) if do_sample else 1.0,
                                    max_new_tokens=int(max_new_tokens), eos_token_id=eos, pad_token_id=pad,
                                    **FULL_DISTRIBUTION)
        # generate samples from torch's global RNG: seed a forked RNG from ``generator`` so rollouts repeat
        seed = (int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))
                if generator is not None else None)
        with evaluation_mode(self), torch.random.fork_rng(devices=self._cuda_devices()):
            if seed is not None:
                torch.manual_seed(seed)
            inputs = self.encode_prompts(prompts, image_features, padding_side="left")
            width = inputs["input_ids"].shape[1]
            processors = LogitsProcessorList([GrammarLogitsProcessor(constraint, width)] if constraint else [])
            written = self.model.generate(**inputs, generation_config=settings, logits_processor=processors)
        rows = []
        for row in written[:, width:].tolist():
            ids = row[: row.index(eos) + 1] if eos in row else row
            rows.append([token for token in ids if token != pad or token == eos])
        if constraint is not None:
            rows = [_closed(row, constraint, eos) for row in rows]
        return rows

    def _cuda_devices(self) -> list[int]:
        device = self.device
        return [device.index or 0] if device.type == "cuda" else []

    # ------------------------------------------------------------------------------------------ scoring

    def token_stats(self, prompts: Sequence[str], image_features: torch.Tensor, actions: Sequence[str], *,
                    with_hidden: bool = False) -> TokenStats:
        """Teacher-forced log pi and entropy of every action token (EOS included); differentiable. ``with_hidden``:
        also the last layer's states at the positions that predict each action token (``TokenStats.hidden_states``
        ``[B, T, H]``, the LM head's input: what AFSFT's Q head reads).

        Each row is its prompt followed by its action, right-padded, so every position keeps its natural
        index (no left padding for the position ids to correct); the LM head runs only from the earliest
        answer onwards."""
        if len(actions) != len(prompts):
            raise ValueError(f"token_stats: {len(prompts)} prompts but {len(actions)} actions")
        inputs = self.encode_prompts(prompts, image_features, padding_side="right")
        prompt_lengths = inputs["attention_mask"].sum(dim=1).long()
        answers = self.action_ids(actions)
        sequence = self._joined(inputs, prompt_lengths, answers)
        width = max(len(ids) for ids in answers)
        keep = int(sequence["input_ids"].shape[1] - (int(prompt_lengths.min()) - 1))
        outputs = self.model(**sequence, use_cache=False, output_hidden_states=with_hidden, logits_to_keep=keep)
        offset = sequence["input_ids"].shape[1] - keep  # logits[:, k] is position offset + k
        steps = torch.arange(width, device=self.device)
        positions = prompt_lengths[:, None] - 1 + steps[None, :]  # the position predicting answer token t
        mask = torch.tensor([[1.0] * len(ids) + [0.0] * (width - len(ids)) for ids in answers], device=self.device)
        positions = torch.where(mask.bool(), positions, prompt_lengths[:, None] - 1)
        labels = torch.tensor([ids + [int(self.tokenizer.pad_token_id)] * (width - len(ids)) for ids in answers],
                              device=self.device)
        logits = outputs.logits.gather(1, (positions - offset)[..., None].expand(-1, -1, outputs.logits.shape[-1]))
        log_softmax = F.log_softmax(logits.float(), dim=-1)
        log_probs = log_softmax.gather(-1, labels[..., None]).squeeze(-1) * mask
        entropies = -(log_softmax.exp() * log_softmax).sum(dim=-1) * mask
        hidden = None
        if with_hidden:
            last = outputs.hidden_states[-1]
            hidden = last.gather(1, positions[..., None].expand(-1, -1, last.shape[-1]))
        return TokenStats(log_probs, entropies, mask, labels, vocab_log_probs=log_softmax, hidden_states=hidden)

    def _joined(self, inputs: Mapping[str, torch.Tensor], prompt_lengths: torch.Tensor,
                answers: Sequence[Sequence[int]]) -> dict[str, torch.Tensor]:
        """The processor's inputs with each row's answer written right after its prompt, right-padded."""
        batch, prompt_width = inputs["input_ids"].shape
        total = int(max(int(length) + len(ids) for length, ids in zip(prompt_lengths.tolist(), answers)))
        pad = int(self.tokenizer.pad_token_id)
        joined = {name: value for name, value in inputs.items()
                  if not (value.dim() == 2 and value.shape == (batch, prompt_width))}
        aligned = [name for name, value in inputs.items() if value.dim() == 2 and value.shape == (batch, prompt_width)]
        for name in aligned:
            fill = pad if name == "input_ids" else 1 if name == "attention_mask" else SEQUENCE_FILL.get(name, 0)
            rows = []
            for row, (length, ids) in enumerate(zip(prompt_lengths.tolist(), answers)):
                head = inputs[name][row, :length]
                tail = (torch.tensor(ids, dtype=head.dtype, device=head.device) if name == "input_ids"
                        else torch.full((len(ids),), fill, dtype=head.dtype, device=head.device))
                padding_value = pad if name == "input_ids" else 0
                padding = torch.full((total - length - len(ids),), padding_value, dtype=head.dtype,
                                     device=head.device)
                rows.append(torch.cat([head, tail, padding]))
            joined[name] = torch.stack(rows)
        return joined

    def forward(self, prompts: Sequence[str], image_features: torch.Tensor, actions: Sequence[str], *,
                with_hidden: bool = False) -> TokenStats:
        """``token_stats`` (so DDP/accelerate wrappers see the training computation)."""
        return self.token_stats(prompts, image_features, actions, with_hidden=with_hidden)

    # ------------------------------------------------------------------------------------------ files

    def save_pretrained(self, directory: str | os.PathLike) -> None:
        """Config JSON, the processor and either the LoRA adapters (``adapter/``) or the whole model."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.processor.save_pretrained(str(directory))
        if self.config.lora_rank > 0:
            self.model.save_pretrained(str(directory / ADAPTER_DIR))
        else:
            self.model.save_pretrained(str(directory))
        save_config(directory, self.CONFIG_NAME, self.config)

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike) -> HFVLMPolicy:
        """A policy written by ``save_pretrained``: the base model plus its adapters, or the whole saved model."""
        directory = require_directory(directory, what="HFVLMPolicy.from_pretrained")
        config = load_config(directory, cls.CONFIG_NAME, HFVLMConfig)
        processor = _load_processor(directory)
        if config.lora_rank == 0:
            return cls(config, _load_model(directory, config.torch_dtype()), processor)
        adapter = directory / ADAPTER_DIR
        if not (adapter / "adapter_config.json").is_file():
            raise CheckpointError(f"{directory}: lora_rank={config.lora_rank} but {adapter} holds no peft adapter "
                                  "(adapter_config.json); the checkpoint is incomplete")
        if not Path(config.base_path).is_dir():
            raise CheckpointError(f"{directory}: its LoRA adapters belong to the base model at {config.base_path!r}, "
                                  "which is not a directory; restore the base checkpoint there")
        from peft import PeftModel

        base = _load_model(config.base_path, config.torch_dtype())
        return cls(config, PeftModel.from_pretrained(base, str(adapter), is_trainable=True), processor)

    @classmethod
    def check_saved(cls, directory: str | os.PathLike) -> None:
        """Read a saved policy's config and weights header (no tensors): a damaged file is a CheckpointError."""
        from coso.models.serialization import check_weights_file

        directory = Path(directory)
        config = load_config(directory, cls.CONFIG_NAME, HFVLMConfig)
        weights = (directory / ADAPTER_DIR / "adapter_model.safetensors" if config.lora_rank > 0
                   else directory / "model.safetensors")
        if weights.is_file() or config.lora_rank > 0:
            check_weights_file(weights)


def _closed(row: list[int], constraint: GrammarConstraint, eos: int) -> list[int]:
    """A constrained row the token budget cut off, completed with the grammar's shortest closing text."""
    if row and row[-1] == eos:
        return row
    states: list[State | None] = [constraint.start()]
    for token in row:
        states = constraint.advance(states, [token])
        if states[0] is None:
            return row
    final = states[0]
    return row + constraint.completion_ids(final) if final is not None else row


def hf_vlm_config(values: Mapping[str, Any], *, base_path: str, screen_width: int, screen_height: int) -> HFVLMConfig:
    """HFVLMConfig from ``agent.hf_vlm`` settings, with the base path and the screen size set by the run."""
    from coso.config_mapping import dataclass_from_mapping

    return dataclass_from_mapping(HFVLMConfig, dict(values), "agent.hf_vlm", base_path=base_path,
                                  screen_width=screen_width, screen_height=screen_height)


__all__ = ["HFVLMConfig", "HFVLMPolicy", "hf_vlm_config", "screens_from_features"]
