"""A multimodal image + report network: a scalable image encoder, a BiLSTM-with-attention text branch, fusion.

Image encoder (option `image_encoder`): "resnet" (four ResNet stages, scaler.families._resnet) or
"unet" (the U-Net's contracting path, scaler.families.unet, with its ELU); its stage records are
`spec.encoder`, widths from `width` (a ResNet's stem and first stage, a U-Net's first level).
Text branch (scaler.families._text), sized by family options that no scaling rule touches:
`vocab_size`, `embed_dim`, `hidden_size`, `max_tokens` (reports are padded or cut to it, and it is
the length the cost counts) and `text_attention` (True: self-attention after the BiLSTM).
Heads (option `head`):
- "classification": the image encoder's last feature pooled (`image_pool` avg or max), projected by
  a 1x1 conv and the text vector by a linear layer to the fusion width, fused (`fusion`: concat,
  product, or gated: g * image + (1 - g) * text with g = sigmoid(linear(concat))), then `depth`
  linear + ReLU layers (the one decoder stage, block "fusion") and a linear layer to the classes.
- "segmentation": the U-Net decoder on the encoder's features (its `fusion_attention` included),
  whose bottleneck is conditioned on the text vector first (`fusion`: "film", f * (1 + gamma) + beta
  with (gamma, beta) = linear(text); or "concat": the text tiled over the map, concatenated and
  brought back by a 1x1 conv + BN + ReLU),
  so the decoder's channel contract is the encoder's and the segmentation toolkit applies unchanged.
Ablation (option `blank_input`): "image" or "report" replaces that input by a constant (zeros; an
all-padding report) inside the forward, so the same network, counts included, is trained image-only
or report-only (the CNN-alone / BiLSTM-alone rows of the paper's Table I); "none" is the default.
Scaling rules touch the stage records only: the image encoder and the decoder (the fusion layers or
the segmentation decoder); asymmetric (encoder-only) scaling thus grows the image encoder alone.

Budget scope (option `budget_scope`): the embedding table alone can dwarf a small CNN, so a budget
such as params=2x would otherwise be spent on the fixed text branch. "image" (THE DEFAULT) makes
budgets limit everything but the text branch (stage "text": embedding, LSTM, attention); "all"
counts the whole network. Reported costs (complexity) always count the whole network, with the
text branch as its own stage row.
"""
from __future__ import annotations

import functools
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from scaler.cost import Complexity
from scaler.errors import SpecError
from scaler.families._blocks import ATTENTION_MODES, HW, ConvBNReLU, init_weights, resize
from scaler.families._registry import Family, check_choice, check_options, check_stages, register
from scaler.families._resnet import ResNetEncoder, check_resnet, resnet_stages
from scaler.families._text import TextEncoder
from scaler.families.unet import BLOCKS as UNET_BLOCKS, Decoder as UNetDecoder, Encoder as UNetEncoder
from scaler.spec import NetSpec, StageSpec

__all__ = ["multimodal_spec", "check_multimodal", "MultimodalNet", "budget_cost", "HEADS", "FUSIONS"]

IMAGE_ENCODERS = ("resnet", "unet")
HEADS = ("classification", "segmentation")
#: The fusions each head offers (the first is its default).
FUSIONS = {"classification": ("concat", "product", "gated"), "segmentation": ("film", "concat")}
BUDGET_SCOPES = ("image", "all")
#: The ablation: which input the network replaces by a constant ("none": it reads both).
BLANK_INPUTS = ("none", "image", "report")
OPTIONS = {"image_encoder": IMAGE_ENCODERS, "head": HEADS, "text_attention": (True, False),
           "fusion": tuple(dict.fromkeys(f for fs in FUSIONS.values() for f in fs)),
           "image_pool": ("avg", "max"), "budget_scope": BUDGET_SCOPES, "blank_input": BLANK_INPUTS,
           "fusion_attention": ATTENTION_MODES}
#: Options that apply to one head only (a spec of the other head that names one is refused).
HEAD_OPTIONS = {"image_pool": "classification", "fusion_attention": "segmentation"}
#: Text sizes: positive integers (a vocabulary holds at least the padding and the unknown token).
TEXT_SIZES = {"vocab_size": 2, "embed_dim": 1, "hidden_size": 1, "max_tokens": 1}
#: Text sizes default to a mid-sized report vocabulary: 10,000 words x 128 = 1.28M embedding params.
DEFAULTS = {"image_encoder": "resnet", "head": "classification", "text_attention": True, "image_pool": "avg",
            "budget_scope": "image", "blank_input": "none", "fusion_attention": "none",
            "vocab_size": 10000, "embed_dim": 128, "hidden_size": 128, "max_tokens": 64}
#: The stage key of the text branch: what budget_scope="image" leaves out.
TEXT_STAGE = "text"


def multimodal_spec(
    image_encoder: str = "resnet",
    head: str = "classification",
    width: int = 64,
    classes: int = 2,
    in_channels: int = 3,
    input_size: tuple[int, int] = (224, 224),
    resnet: str = "resnet18",
    levels: int = 4,
    fusion: str | None = None,
    fusion_width: int = 256,
    image_pool: str = "avg",
    text_attention: bool = True,
    budget_scope: str = "image",
    blank_input: str = "none",
    fusion_attention: str = "none",
    vocab_size: int = 10000,
    embed_dim: int = 128,
    hidden_size: int = 128,
    max_tokens: int = 64,
) -> NetSpec:
    """The base network: a ResNet (`resnet`, stage widths from `width`) or `levels`-level U-Net encoder,
    the text branch, and the head; `fusion` defaults to the head's first (concat; film)."""
    check_choice("head", head, HEADS)
    fusion = FUSIONS[head][0] if fusion is None else check_choice(f"{head} fusion", fusion, FUSIONS[head])
    if check_choice("image_encoder", image_encoder, IMAGE_ENCODERS) == "resnet":
        encoder = resnet_stages(resnet, width)
    else:
        if not isinstance(levels, int) or levels < 2:
            raise SpecError(f"levels must be an integer >= 2, got {levels!r}")
        encoder = tuple(StageSpec(2, width * 2**i, "conv", 1 if i == 0 else 2) for i in range(levels))
    if head == "classification":
        decoder: tuple[StageSpec, ...] = (StageSpec(1, fusion_width, "fusion", 1),)
    else:  # the U-Net decoder: each stage undoes one encoder stride, widths width * 2^i going up
        decoder = tuple(StageSpec(2, width * 2**i, "conv", encoder[i + 1].stride)
                        for i in reversed(range(len(encoder) - 1)))
    options = {"image_encoder": image_encoder, "head": head, "fusion": fusion, "text_attention": text_attention,
               "budget_scope": budget_scope, "vocab_size": vocab_size, "embed_dim": embed_dim,
               "hidden_size": hidden_size, "max_tokens": max_tokens}
    if head == "classification":
        options["image_pool"] = image_pool
    # the ablation and the decoder's attention are written only where they are on (the plain spec is unchanged)
    if blank_input != "none":
        options["blank_input"] = blank_input
    if fusion_attention != "none":
        options["fusion_attention"] = fusion_attention
    spec = NetSpec("multimodal", in_channels, classes, input_size, encoder, decoder, options)
    check_multimodal(spec)
    return spec


def check_multimodal(spec: NetSpec) -> dict[str, Any]:
    """Validate options and stage records; returns the options with defaults filled in."""
    opts = check_options(spec, OPTIONS, tuple(TEXT_SIZES), DEFAULTS)
    for name, least in TEXT_SIZES.items():
        value = opts[name]
        if not isinstance(value, int) or isinstance(value, bool) or value < least:
            raise SpecError(f"multimodal option {name} must be an integer >= {least}, got {value!r}")
    head = opts["head"]
    opts.setdefault("fusion", FUSIONS[head][0])
    check_choice(f"{head} fusion", opts["fusion"], FUSIONS[head])
    for name, only in HEAD_OPTIONS.items():
        if name in spec.opts and head != only:
            raise SpecError(f"multimodal option {name} applies to the {only} head only; valid for {head}: leave it out")
    if opts["image_encoder"] == "resnet":
        check_resnet(spec)
    else:
        for stage in spec.encoder:
            check_choice("unet block", stage.block, UNET_BLOCKS)
    if head == "classification":
        check_stages(spec, "decoder", (("fusion", 1),))
    else:  # the U-Net decoder's own rule: one stage per encoder stride, undoing it
        expected = tuple(s.stride for s in reversed(spec.encoder[1:]))
        if tuple(s.stride for s in spec.decoder) != expected:
            raise SpecError(f"multimodal decoder strides {[s.stride for s in spec.decoder]} must undo the "
                            f"encoder's {list(expected)} (deep to shallow), one stage per encoder stride")
        for stage in spec.decoder:
            check_choice("unet block", stage.block, UNET_BLOCKS)
    return opts


def _options(spec: NetSpec) -> dict[str, Any]:
    """The spec's options with the defaults filled in (the spec is already checked)."""
    opts = {**DEFAULTS, **spec.opts}
    opts.setdefault("fusion", FUSIONS[opts["head"]][0])
    return opts


def _text_args(opts: dict[str, Any]) -> tuple[int, int, int, bool]:
    """TextEncoder's arguments from the options."""
    return opts["vocab_size"], opts["embed_dim"], opts["hidden_size"], opts["text_attention"]


class FusionStage(nn.Module):
    """Project the pooled image (1x1 conv) and the text vector (linear) to `width`, fuse, then `depth` layers."""

    def __init__(self, image_channels: int, text_dim: int, stage: StageSpec, fusion: str) -> None:
        super().__init__()
        width = stage.width
        self.fusion = fusion
        self.image_proj = nn.Conv2d(image_channels, width, 1)
        self.text_proj = nn.Linear(text_dim, width)
        self.gate = nn.Linear(2 * width, width) if fusion == "gated" else None
        fused = 2 * width if fusion == "concat" else width
        self.layers = nn.ModuleList(nn.Linear(fused if j == 0 else width, width) for j in range(stage.depth))

    def forward(self, image: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        i = F.relu(self.image_proj(image)).flatten(1)
        t = F.relu(self.text_proj(text))
        if self.fusion == "concat":
            x = torch.cat([i, t], dim=1)
        elif self.fusion == "product":
            x = i * t
        else:
            g = torch.sigmoid(self.gate(torch.cat([i, t], dim=1)))
            x = g * i + (1 - g) * t
        for layer in self.layers:
            x = F.relu(layer(x))
        return x

    @staticmethod
    def cost(sheet: Any, key: str, image_channels: int, text_dim: int, stage: StageSpec, fusion: str) -> int:
        """Its projections, gate and layers (one vector each); returns the output width."""
        width = stage.width
        sheet.conv(key, (1, 1), image_channels, width, 1, bias=True)
        sheet.linear(key, 1, text_dim, width)
        if fusion == "gated":
            sheet.linear(key, 1, 2 * width, width)
        for j in range(stage.depth):
            sheet.linear(key, 1, (2 * width if fusion == "concat" else width) if j == 0 else width, width)
        return width


class FusionDecoder(nn.Module):
    """The classification head's decoder: pool the image encoder's last feature, fuse it with the text."""

    def __init__(self, spec: NetSpec, encoder_channels: tuple[int, ...], text_dim: int) -> None:
        super().__init__()
        opts = _options(spec)
        self.pool = F.adaptive_avg_pool2d if opts["image_pool"] == "avg" else F.adaptive_max_pool2d
        self.stages = nn.ModuleList([FusionStage(encoder_channels[-1], text_dim, spec.decoder[0], opts["fusion"])])
        self.out_channels = spec.decoder[0].width

    def forward(self, features: list[torch.Tensor], text: torch.Tensor) -> torch.Tensor:
        return self.stages[0](self.pool(features[-1], 1), text)


class Conditioning(nn.Module):
    """The text vector conditions the bottleneck: FiLM, or tiled + concatenated + 1x1 conv back to `channels`."""

    def __init__(self, channels: int, text_dim: int, fusion: str) -> None:
        super().__init__()
        self.fusion = fusion
        if fusion == "film":
            self.film = nn.Linear(text_dim, 2 * channels)
        else:
            self.project = ConvBNReLU(channels + text_dim, channels, 1)

    def forward(self, x: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        if self.fusion == "film":
            gamma, beta = self.film(text)[:, :, None, None].chunk(2, dim=1)
            return x * (1 + gamma) + beta
        tiled = text[:, :, None, None].expand(-1, -1, *x.shape[-2:])
        return self.project(torch.cat([x, tiled], dim=1))

    @staticmethod
    def cost(sheet: Any, key: str, hw: HW, channels: int, text_dim: int, fusion: str) -> None:
        """Its linear layer (one vector) or its conv and BN at the bottleneck's size."""
        if fusion == "film":
            sheet.linear(key, 1, text_dim, 2 * channels)
        else:
            ConvBNReLU.cost(sheet, key, hw, channels + text_dim, channels, 1)


class MultimodalNet(nn.Module):
    """Image encoder, text branch, and a classification or text-conditioned segmentation head.

    `forward(image, tokens)`: image N x in_channels x H x W, tokens N x T (T <= max_tokens, id 0 is
    padding). Classification returns N x classes logits; segmentation N x classes x H x W, padded to
    the stride and cropped back as every segmentation family.
    """

    def __init__(self, spec: NetSpec) -> None:
        super().__init__()
        opts = _options(spec)
        self.in_channels, self.input_size, self.max_tokens = spec.in_channels, spec.input_size, opts["max_tokens"]
        self.vocab_size, self.multiple = opts["vocab_size"], self.input_multiple(spec)
        self.per_pixel = opts["head"] == "segmentation"
        self.blank_input = opts["blank_input"]
        self.encoder = ResNetEncoder(spec) if opts["image_encoder"] == "resnet" else UNetEncoder(spec)
        self.text = TextEncoder(*_text_args(opts))
        if self.per_pixel:
            self.condition = Conditioning(self.encoder.out_channels[-1], self.text.out_dim, opts["fusion"])
            self.decoder: nn.Module = UNetDecoder(spec, self.encoder.out_channels)
            self.head: nn.Module = nn.Conv2d(self.decoder.out_channels, spec.classes, 1)
        else:
            self.decoder = FusionDecoder(spec, self.encoder.out_channels, self.text.out_dim)
            self.head = nn.Linear(self.decoder.out_channels, spec.classes)
        if self.head.weight.device.type != "meta":  # meta tensors hold no values to initialise
            # He init of convs and BN as the image family it borrows (linear, LSTM, embedding keep PyTorch's)
            self.apply(functools.partial(init_weights, mode="fan_in" if opts["image_encoder"] == "unet" else "fan_out"))

    @staticmethod
    def input_multiple(spec: NetSpec) -> int:
        """Sides the image encoder takes without padding: a multiple of its total stride."""
        return spec.total_stride

    def example_inputs(self, batch: int, size: tuple[int, int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """A random batch it takes: images at `size` (default: the spec's) and full-length reports."""
        device = next(self.parameters()).device
        image = torch.randn(batch, self.in_channels, *(size or self.input_size), device=device)
        return image, torch.randint(1, self.vocab_size, (batch, self.max_tokens), device=device)

    def check_inputs(self, image: torch.Tensor, tokens: torch.Tensor) -> None:
        """Refuse an image that is not N x in_channels x H x W, or tokens that are not N x T integer ids."""
        if image.dim() != 4 or image.shape[1] != self.in_channels:
            raise SpecError(f"input of shape {tuple(image.shape)} does not fit this network; "
                            f"valid: N x {self.in_channels} x H x W")
        if (tokens.dim() != 2 or tokens.shape[0] != image.shape[0] or tokens.shape[1] > self.max_tokens
                or tokens.is_floating_point()):
            raise SpecError(f"tokens of shape {tuple(tokens.shape)} and dtype {tokens.dtype} do not fit this "
                            f"network; valid: N x T integer ids with T <= {self.max_tokens}")

    def forward(self, image: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        self.check_inputs(image, tokens)
        if self.blank_input == "image":
            image = torch.zeros_like(image)
        elif self.blank_input == "report":
            tokens = torch.zeros_like(tokens)  # all padding: an empty report
        text = self.text(tokens)
        if not self.per_pixel:
            return self.head(self.decoder(self.encoder(image), text))
        h, w = image.shape[-2:]
        pad_h, pad_w = -h % self.multiple, -w % self.multiple
        x = F.pad(image, (0, pad_w, 0, pad_h)) if pad_h or pad_w else image
        features = self.encoder(x)
        features = [*features[:-1], self.condition(features[-1], text)]
        logits = self.head(self.decoder(features))
        if logits.shape[-2:] != x.shape[-2:]:
            logits = resize(logits, x.shape[-2:])
        return logits[..., :h, :w] if pad_h or pad_w else logits

    @classmethod
    def cost(cls, spec: NetSpec, sheet: Any) -> None:
        """Analytic cost: image encoder, text branch, then the head's fusion or conditioning, decoder and head."""
        opts = _options(spec)
        image_encoder = ResNetEncoder if opts["image_encoder"] == "resnet" else UNetEncoder
        features = image_encoder.cost(sheet, spec)
        text_dim = TextEncoder.cost(sheet, TEXT_STAGE, opts["max_tokens"], *_text_args(opts))
        if opts["head"] == "classification":
            width = FusionStage.cost(sheet, "decoder.0", features[-1][0], text_dim, spec.decoder[0], opts["fusion"])
            sheet.linear("head", 1, width, spec.classes)
            return
        Conditioning.cost(sheet, "condition", features[-1][1], features[-1][0], text_dim, opts["fusion"])
        channels, hw = UNetDecoder.cost(sheet, spec, features)
        sheet.conv("head", hw, channels, spec.classes, 1, bias=True)


def budget_cost(spec: NetSpec, cost: Complexity) -> Complexity:
    """The part of `cost` that budgets limit: all but the text branch under budget_scope "image" (the default)."""
    if _options(spec)["budget_scope"] == "all":
        return cost
    rows = tuple(row for row in cost.layers if row.stage != TEXT_STAGE)
    return Complexity(sum(r.params for r in rows), sum(r.macs for r in rows), sum(r.activations for r in rows),
                      cost.input_size, rows)


#: The network as its paper describes it: a ResNet-style CNN pooled by global average, a BiLSTM with
#: attention, concatenation, a classification head. The paper gives no sizes: those are the defaults.
PAPER = {"image_encoder": "resnet", "resnet": "resnet18", "head": "classification", "fusion": "concat",
         "image_pool": "avg", "text_attention": True}

register(Family("multimodal", multimodal_spec, MultimodalNet, check_multimodal,
                "image + report: a ResNet or U-Net image encoder, a BiLSTM-attention text branch, fusion; "
                "classification or text-conditioned segmentation", budget_cost=budget_cost,
                presets={"paper": PAPER}))
