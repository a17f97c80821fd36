"""Tiny random-weight image-text-to-text checkpoints of each supported family, built in-process (no download).

Each builder makes a byte-level tokenizer (the 256 byte symbols, no merges) with the special tokens its
family's processor needs, the family's image processor from arguments, a chat template where the family
has one, and a model config a few hundred kilobytes large; everything is written with ``save_pretrained``
into a directory that ``agent.policy_path`` can point at, exactly as a user's real checkpoint would be.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

# A chat template in the ChatML style (Qwen's turn markers), written for these tests: an image entry of a
# message becomes the family's image placeholder, text entries are copied, the generation prompt opens the
# assistant turn.
CHATML_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for item in message['content'] %}{% if item['type'] == 'image' %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}{% endfor %}{% endif %}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# Idefics3 / SmolVLM's turn style ("User:<image>text<end_of_utterance>\nAssistant:"), written for these tests.
IDEFICS3_TEMPLATE = (
    "<|im_start|>{% for message in messages %}{{ message['role'] | capitalize }}:"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for item in message['content'] %}{% if item['type'] == 'image' %}<image>"
    "{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}{% endfor %}{% endif %}"
    "<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}Assistant:{% endif %}"
)


def byte_tokenizer(specials: Sequence[str], *, pad: str, eos: str, bos: str | None = None,
                   extra: dict[str, str] | None = None, add_bos: bool = False) -> PreTrainedTokenizerFast:
    """A byte-level BPE with no merges (every text is writable) and ``specials`` as special tokens."""
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {symbol: index for index, symbol in enumerate(sorted(alphabet))}
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    backend.decoder = decoders.ByteLevel()
    backend.add_special_tokens(list(specials))
    kwargs: dict[str, object] = {"pad_token": pad, "eos_token": eos}
    if bos is not None:
        kwargs["bos_token"] = bos
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, clean_up_tokenization_spaces=False,
                                        model_max_length=4096, **kwargs, **(extra or {}))
    if add_bos and bos is not None:
        tokenizer.add_bos_token = True
        from tokenizers import processors

        bos_id = tokenizer.convert_tokens_to_ids(bos)
        tokenizer.backend_tokenizer.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A $B", special_tokens=[(bos, bos_id)])
    return tokenizer


def _text_sizes(vocab_size: int, **extra: object) -> dict[str, object]:
    return dict(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=2048, **extra)


def _qwen_tokens() -> list[str]:
    return ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
            "<|image_pad|>", "<|video_pad|>"]


def _qwen_ids(tokenizer: PreTrainedTokenizerFast) -> dict[str, int]:
    ids = tokenizer.convert_tokens_to_ids
    return dict(image_token_id=ids("<|image_pad|>"), video_token_id=ids("<|video_pad|>"),
                vision_start_token_id=ids("<|vision_start|>"), vision_end_token_id=ids("<|vision_end|>"))


def has_torchvision() -> bool:
    """transformers builds (and loads) the Qwen-VL processors' video processor only with torchvision."""
    import importlib.util

    return importlib.util.find_spec("torchvision") is not None


def qwen_parts(family: str) -> tuple[object, type, object]:
    """A Qwen-VL family's (processor, model class, config), in memory.

    Without torchvision the processor is built with no video processor (transformers' own check wants one and is
    skipped for that argument only): it then works in memory but cannot be saved, so only the in-memory tests
    run such a processor."""
    import transformers
    from transformers.processing_utils import ProcessorMixin

    processor_class, model_class, config_class, video_class, patch = QWEN_CLASSES[family]
    tokenizer = byte_tokenizer(_qwen_tokens(), pad="<|endoftext|>", eos="<|im_end|>")
    factor = patch * 2  # merged patch
    image_processor = transformers.Qwen2VLImageProcessorPil(min_pixels=factor * factor, max_pixels=4 * factor * factor,
                                                            patch_size=patch)
    processor_type = getattr(transformers, processor_class)
    if has_torchvision():
        video = getattr(transformers, video_class)(patch_size=patch)
        processor = processor_type(image_processor=image_processor, tokenizer=tokenizer, video_processor=video,
                                   chat_template=CHATML_TEMPLATE)
    else:
        check = ProcessorMixin.check_argument_for_proper_class

        def lenient(self, name, argument):
            return None if name == "video_processor" and argument is None else check(self, name, argument)

        ProcessorMixin.check_argument_for_proper_class = lenient
        try:
            processor = processor_type(image_processor=image_processor, tokenizer=tokenizer, chat_template=CHATML_TEMPLATE)
        finally:
            ProcessorMixin.check_argument_for_proper_class = check
    ids = tokenizer.convert_tokens_to_ids
    text = _text_sizes(len(tokenizer), bos_token_id=ids("<|endoftext|>"), eos_token_id=ids("<|im_end|>"),
                       pad_token_id=ids("<|endoftext|>"),
                       rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]})
    vision = QWEN_VISION[family]
    config = getattr(transformers, config_class)(text_config=text, vision_config=vision, **_qwen_ids(tokenizer))
    return processor, getattr(transformers, model_class), config


QWEN_CLASSES = {  # family: processor, model, config, video processor class names, and the vision patch size
    "qwen2_vl": ("Qwen2VLProcessor", "Qwen2VLForConditionalGeneration", "Qwen2VLConfig", "Qwen2VLVideoProcessor", 14),
    "qwen2_5_vl": ("Qwen2_5_VLProcessor", "Qwen2_5_VLForConditionalGeneration", "Qwen2_5_VLConfig",
                   "Qwen2VLVideoProcessor", 14),
    "qwen3_vl": ("Qwen3VLProcessor", "Qwen3VLForConditionalGeneration", "Qwen3VLConfig", "Qwen3VLVideoProcessor", 16),
}
QWEN_VISION = {
    "qwen2_vl": dict(depth=1, embed_dim=32, hidden_size=32, num_heads=2, mlp_ratio=2),
    "qwen2_5_vl": dict(depth=1, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=32,
                       fullatt_block_indexes=[0], window_size=56),
    "qwen3_vl": dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=32,
                     num_position_embeddings=16, deepstack_visual_indexes=[0]),
}


def build_qwen(family: str, directory: Path) -> Path:
    """A Qwen-VL family's checkpoint: ChatML turns, <|image_pad|> expanded per merged patch (needs torchvision)."""
    processor, model_class, config = qwen_parts(family)
    return _save(directory, processor, model_class, config)


def _save(directory: Path, processor, model_class, config) -> Path:
    directory = Path(directory)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = model_class(config)
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory


def build_paligemma(directory: Path) -> Path:
    """PaliGemma: no chat template; the processor writes <image> x 4, <bos>, the prompt and a newline."""
    from transformers import PaliGemmaConfig, PaliGemmaForConditionalGeneration, PaliGemmaProcessor
    from transformers import SiglipImageProcessorPil

    tokenizer = byte_tokenizer(["<pad>", "<eos>", "<bos>", "<image>"], pad="<pad>", eos="<eos>", bos="<bos>")
    image_processor = SiglipImageProcessorPil(size={"height": 28, "width": 28}, image_seq_length=4)
    processor = PaliGemmaProcessor(image_processor=image_processor, tokenizer=tokenizer)
    ids = tokenizer.convert_tokens_to_ids
    text = _text_sizes(len(tokenizer), head_dim=16, pad_token_id=ids("<pad>"), eos_token_id=ids("<eos>"),
                       bos_token_id=ids("<bos>"))
    text["model_type"] = "gemma"
    config = PaliGemmaConfig(
        text_config=text,
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                           image_size=28, patch_size=14, projection_dim=32),
        image_token_index=ids("<image>"), projection_dim=32, hidden_size=32,
    )
    return _save(directory, processor, PaliGemmaForConditionalGeneration, config)


def build_idefics3(directory: Path) -> Path:
    """Idefics3 (SmolVLM's architecture): User:/Assistant: turns, <image> expanded around <global-img>."""
    from transformers import Idefics3Config, Idefics3ForConditionalGeneration, Idefics3ImageProcessorPil
    from transformers import Idefics3Processor

    grid = [f"<row_{row}_col_{col}>" for row in range(1, 7) for col in range(1, 7)]
    tokenizer = byte_tokenizer(["<|endoftext|>", "<|im_start|>", "<end_of_utterance>", "<fake_token_around_image>",
                                "<image>", "<global-img>", *grid], pad="<|endoftext|>", eos="<end_of_utterance>",
                               bos="<|im_start|>")
    image_processor = Idefics3ImageProcessorPil(do_image_splitting=False, size={"longest_edge": 28},
                                                max_image_size={"longest_edge": 28})
    processor = Idefics3Processor(image_processor=image_processor, tokenizer=tokenizer, image_seq_len=1,
                                  chat_template=IDEFICS3_TEMPLATE)
    ids = tokenizer.convert_tokens_to_ids
    config = Idefics3Config(
        text_config=dict(model_type="llama", **_text_sizes(len(tokenizer), pad_token_id=ids("<|endoftext|>"),
                                                           eos_token_id=ids("<end_of_utterance>"),
                                                           bos_token_id=ids("<|im_start|>"))),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                           image_size=28, patch_size=14),
        image_token_id=ids("<image>"), scale_factor=2,
    )
    return _save(directory, processor, Idefics3ForConditionalGeneration, config)


FAMILIES: dict[str, Callable[[Path], Path]] = {
    "qwen2_vl": lambda directory: build_qwen("qwen2_vl", directory),
    "qwen2_5_vl": lambda directory: build_qwen("qwen2_5_vl", directory),
    "qwen3_vl": lambda directory: build_qwen("qwen3_vl", directory),
    "paligemma": build_paligemma,
    "idefics3": build_idefics3,
}
