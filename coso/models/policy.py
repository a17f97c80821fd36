"""The policies the trainer, the agents and the algorithms take, and loading a saved one of any kind.

Two policies implement it: the built-in AutoUI policy (``coso.models.autoui``) and a local Hugging Face VLM
(``coso.models.hf_vlm``). A saved policy directory says which it is by its config file's name.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TypeAlias

from coso.models.autoui import AutoUIPolicy
from coso.models.hf_vlm import HFVLMPolicy

# The policies the trainer, the agents and the algorithms take. Each is an nn.Module with this interface:
#   tokenizer                                   the causal model and the built-in critics read its ids
#   device, null_token_id                       where the weights live; CoSo's counterfactual <null> id
#   generate(prompts, image_features, *, do_sample, temperature, max_new_tokens, generator, constraint) -> texts
#   token_stats(prompts, image_features, actions) -> TokenStats (also the module call: DDP / accelerate wrap it)
#   save_pretrained(directory), from_pretrained(directory), CONFIG_NAME (the config file that names the kind)
# A union rather than a Protocol: the training code also uses the nn.Module side (eval, to, parameters).
Policy: TypeAlias = AutoUIPolicy | HFVLMPolicy


# the kinds, told apart by the config file each writes (CONFIG_NAME)
POLICY_CLASSES: tuple[type[HFVLMPolicy] | type[AutoUIPolicy], ...] = (HFVLMPolicy, AutoUIPolicy)


def load_policy(directory: str | os.PathLike) -> Policy:
    """A policy written by ``save_pretrained``, of whichever kind its config file names (AutoUI when none does,
    whose loader then says what is missing)."""
    return (saved_policy_class(directory) or AutoUIPolicy).from_pretrained(directory)


def saved_policy_class(directory: str | os.PathLike) -> type[HFVLMPolicy] | type[AutoUIPolicy] | None:
    """The policy class whose config file ``directory`` holds, or None."""
    path = Path(directory)
    return next((cls for cls in POLICY_CLASSES if (path / cls.CONFIG_NAME).is_file()), None)
