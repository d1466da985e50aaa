"""Network families: each is a base-spec factory plus ONE builder that makes every size (see _registry).

Importing this package registers the built-in families (each module registers itself); installed
packages add theirs through the entry point group `scaler.families` (loaded on first need), built
from the same public pieces: `SegmentationNet` and the cost-carrying blocks (examples/my_family).
"""
from __future__ import annotations

from scaler.families._registry import (
    ENTRY_POINT_GROUP, FAMILIES, Family, base_spec, build, check_choice, check_options, check_stages, families,
    get_family, load_plugins, register, validate,
)
from scaler.families._blocks import (
    ASPP, ATTENTION_MODES, AttentionFusion, ConvBNReLU, PoolBranch, SqueezeExcite, collect, init_weights, resize,
)
from scaler.families._base import SegmentationNet
from scaler.families import deeplabv3, ednet, fcn_vgg, fpn, multimodal, unet  # noqa: F401  (register the built-in families)

__all__ = [
    "Family", "FAMILIES", "ENTRY_POINT_GROUP", "SegmentationNet", "register", "get_family", "families",
    "load_plugins", "base_spec", "build", "check_choice", "check_options", "check_stages", "validate",
    "ASPP", "ATTENTION_MODES", "AttentionFusion", "ConvBNReLU", "PoolBranch", "SqueezeExcite", "collect", "init_weights",
    "resize",
]
