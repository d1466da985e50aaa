"""The multimodal family keeps the family contract with both heads, both image encoders and every fusion."""
from __future__ import annotations

from tests.families.contract import FamilyContract

#: Text sizes small enough for the real modules the contract builds (the defaults hold a 1.3M-param table).
TEXT = {"vocab_size": 300, "embed_dim": 16, "hidden_size": 16, "max_tokens": 12}


class TestMultimodal(FamilyContract):
    family = "multimodal"
    variants = {
        "resnet+classification": {"width": 64, "classes": 3, "input_size": (64, 64), **TEXT},
        "unet+gated": {"image_encoder": "unet", "width": 32, "classes": 3, "input_size": (64, 64),
                       "fusion": "gated", "image_pool": "max", **TEXT},
        "resnet+product,no attention": {"width": 64, "classes": 3, "input_size": (64, 64), "fusion": "product",
                                        "text_attention": False, **TEXT},
        "unet+segmentation+film": {"image_encoder": "unet", "head": "segmentation", "width": 32, "classes": 3,
                                   "input_size": (64, 64), **TEXT},
        "resnet+segmentation+concat": {"head": "segmentation", "fusion": "concat", "width": 64, "classes": 3,
                                       "input_size": (64, 64), **TEXT},
    }
    small_width_factor = 1 / 4
    small_size = (32, 32)
    bad_option = ("fusion", "bilinear", ("concat",))
