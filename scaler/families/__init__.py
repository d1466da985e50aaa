"""Network families: each is a base-spec factory plus ONE builder that makes every size (see _registry).

Importing this package registers the built-in families (each module registers itself).
"""
from __future__ import annotations

from scaler.families._registry import (
    FAMILIES, Family, base_spec, build, check_choice, get_family, register, validate,
)
from scaler.families import deeplab_fpn, ednet, fcn_vgg, unet  # noqa: F401  (register the built-in families)

__all__ = ["Family", "FAMILIES", "register", "get_family", "base_spec", "build", "check_choice", "validate"]
