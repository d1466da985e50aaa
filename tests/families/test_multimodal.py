"""The multimodal family keeps the family contract with both heads, both image encoders and every fusion."""
from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from scaler import SpecError, base_spec, build, complexity, solve
from scaler.complexity import budget_complexity
from scaler.data import make_dataset
from scaler.families._text import BiLSTM, lstm_cost, reverse_within
from scaler.metrics import ConfusionMatrix
from tests.families.contract import FamilyContract

#: Text sizes small enough for the real modules the contract builds (the defaults hold a 1.3M-param table).
TEXT = {"vocab_size": 300, "embed_dim": 16, "hidden_size": 16, "max_tokens": 12}


class TestMultimodal(FamilyContract):
    family = "multimodal"
    variants = {
        "paper": {"preset": "paper", "width": 64, "classes": 3, "input_size": (64, 64), **TEXT},
        "unet+gated": {"image_encoder": "unet", "width": 32, "classes": 3, "input_size": (64, 64),
                       "fusion": "gated", "image_pool": "max", **TEXT},
        "resnet+product,no attention": {"width": 64, "classes": 3, "input_size": (64, 64), "fusion": "product",
                                        "text_attention": False, **TEXT},
        "unet+segmentation+film+attention": {"image_encoder": "unet", "head": "segmentation", "width": 32,
                                             "classes": 3, "input_size": (64, 64), "fusion_attention": "avg", **TEXT},
        "resnet+segmentation+concat": {"head": "segmentation", "fusion": "concat", "width": 64, "classes": 3,
                                       "input_size": (64, 64), **TEXT},
    }
    small_width_factor = 1 / 4
    small_size = (32, 32)
    bad_option = ("fusion", "bilinear", ("concat",))


def test_blank_input_is_the_same_network_reading_one_modality():
    full = base_spec("multimodal", width=16, input_size=(32, 32), **TEXT)
    assert "blank_input" not in full.opts
    torch.manual_seed(0)
    model = build(full).eval()
    image, tokens = model.example_inputs(2)
    for blank, same in (("image", (torch.zeros_like(image), tokens)), ("report", (image, torch.zeros_like(tokens)))):
        spec = base_spec("multimodal", width=16, input_size=(32, 32), blank_input=blank, **TEXT)
        assert complexity(spec) == complexity(full)
        ablated = build(spec).eval()
        ablated.load_state_dict(model.state_dict())
        with torch.no_grad():
            torch.testing.assert_close(ablated(image, tokens), model(*same))


# -- the family's own rules -------------------------------------------------------------------------------


def _stage(cost, key: str) -> tuple[int, int, int]:
    rows = [r for r in cost.layers if r.stage == key]
    return sum(r.params for r in rows), sum(r.macs for r in rows), sum(r.activations for r in rows)


@pytest.mark.parametrize(("e", "h"), [(16, 16), (128, 64), (7, 33)])
def test_lstm_params_are_4h_e_plus_h_plus_8h_per_direction(e, h):
    per_direction = 4 * h * (e + h) + 8 * h
    assert lstm_cost(10, e, h)[0] == per_direction
    assert sum(p.numel() for p in BiLSTM(e, h).parameters()) == 2 * per_direction
    assert sum(p.numel() for p in nn.LSTM(e, h, bidirectional=True).parameters()) == 2 * per_direction


def test_text_branch_count_by_hand():
    v, e, h, t = 300, 16, 16, 12
    d = 2 * h
    with_attention = _stage(complexity(base_spec("multimodal", **TEXT)), "text")
    without = _stage(complexity(base_spec("multimodal", text_attention=False, **TEXT)), "text")
    lstm_params, lstm_macs = 2 * (4 * h * (e + h) + 8 * h), 2 * t * 4 * h * (e + h)
    assert without == (v * e + lstm_params, lstm_macs, t * d)
    # q, k, v projections (d x d + d each, t rows) and QK^T + AV (2 t^2 d MACs, t^2 scores)
    assert with_attention == (v * e + lstm_params + 3 * (d * d + d), lstm_macs + 3 * t * d * d + 2 * t * t * d,
                              t * d + 3 * t * d + t * t)


def test_budget_scope_image_leaves_the_text_branch_out_and_all_counts_it():
    big_text = {**TEXT, "vocab_size": 50000, "embed_dim": 256}
    image = base_spec("multimodal", width=32, input_size=(64, 64), **big_text)
    whole = base_spec("multimodal", width=32, input_size=(64, 64), budget_scope="all", **big_text)
    text = _stage(complexity(image), "text")[0]
    assert text > complexity(image).params - text  # the table dwarfs the CNN: why "image" is the default
    assert budget_complexity(image).params == complexity(image).params - text
    assert budget_complexity(whole).params == complexity(whole).params
    grown, diluted = solve(image, "width", "params=2x"), solve(whole, "width", "params=2x")
    assert budget_complexity(grown.spec).params <= 2 * budget_complexity(image).params
    assert budget_complexity(grown.spec).params > 1.8 * budget_complexity(image).params
    # counted whole, doubling means the image part grows by the whole text branch: far more than 2x
    assert budget_complexity(diluted.spec).params - text > 4 * (complexity(whole).params - text)


def test_asymmetric_scales_the_image_encoder_only():
    base = base_spec("multimodal", **TEXT)
    scaled = solve(base, "asymmetric", "params=2x").spec
    assert scaled.options == base.options and scaled.decoder == base.decoder
    before, after = build(base, "meta"), build(scaled, "meta")
    assert {n: p.shape for n, p in before.text.named_parameters()} == \
        {n: p.shape for n, p in after.text.named_parameters()}


def test_fusion_and_options_are_checked_per_head():
    with pytest.raises(SpecError, match="segmentation fusion 'gated'.*film, concat"):
        base_spec("multimodal", head="segmentation", fusion="gated")
    segmentation = base_spec("multimodal", head="segmentation")
    with pytest.raises(SpecError, match="image_pool applies to the classification head only"):
        build(replace(segmentation, options={**segmentation.opts, "image_pool": "max"}), "meta")
    with pytest.raises(SpecError, match="fusion_attention applies to the segmentation head only"):
        base_spec("multimodal", fusion_attention="max")
    with pytest.raises(SpecError, match="vocab_size must be an integer >= 2"):
        base_spec("multimodal", vocab_size=1)


def test_tokens_that_do_not_fit_are_refused_in_one_line():
    spec = base_spec("multimodal", width=16, input_size=(32, 32), **TEXT)
    model = build(spec)
    image = torch.zeros(2, 3, 32, 32)
    for tokens in (torch.ones(2, 13, dtype=torch.long), torch.ones(3, 5, dtype=torch.long), torch.ones(2, 5)):
        with pytest.raises(SpecError, match="valid: N x T integer ids with T <= 12") as info:
            model(image, tokens)
        assert "\n" not in str(info.value)


def test_padding_is_ignored_and_an_empty_report_still_gives_finite_logits():
    spec = base_spec("multimodal", width=16, input_size=(32, 32), **TEXT)
    torch.manual_seed(0)
    model = build(spec).eval()
    image = torch.randn(1, 3, 32, 32)
    short = torch.tensor([[5, 9, 7]])
    padded = torch.tensor([[5, 9, 7] + [0] * 9])
    with torch.no_grad():  # both LSTM directions, the attention and the pooling ignore the padding
        torch.testing.assert_close(model(image, short), model(image, padded))
        assert torch.isfinite(model(image, torch.zeros(1, 12, dtype=torch.long))).all()


def test_reverse_within_reverses_the_real_tokens_only_and_is_its_own_inverse():
    x = torch.tensor([[1, 2, 3, 0, 0], [4, 5, 6, 7, 8]]).unsqueeze(-1)
    mask = x.squeeze(-1) != 0
    flipped = reverse_within(x, mask)
    assert flipped.squeeze(-1).tolist() == [[3, 2, 1, 0, 0], [8, 7, 6, 5, 4]]
    assert torch.equal(reverse_within(flipped, mask), x)


# -- a plain training loop on shape_reports: the fused model needs both modalities -----------------------------

def _train_and_score(train, val, blank_input: str, steps: int = 100, seed: int = 0) -> float:
    """Validation accuracy of the small multimodal net after `steps` Adam steps; `blank_input` ("image" or
    "report") replaces that modality by a constant in training and evaluation: the ablation."""
    torch.manual_seed(seed)
    spec = base_spec("multimodal", width=8, classes=train.num_classes, input_size=train.input_size, fusion_width=32,
                     vocab_size=train.vocab_size, embed_dim=16, hidden_size=16, max_tokens=train.max_tokens,
                     blank_input=blank_input)
    model = build(spec)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)

    loader = DataLoader(train, batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(seed))
    step = 0
    while step < steps:
        for batch in loader:
            loss = nn.functional.cross_entropy(model(batch["image"], batch["tokens"]), batch["label"])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
            if step == steps:
                break
    model.eval()
    matrix = ConfusionMatrix(train.num_classes, ignore_index=-1)
    with torch.no_grad():
        for batch in DataLoader(val, batch_size=len(val)):
            matrix.update(model(batch["image"], batch["tokens"]), batch["label"])
    return matrix.compute_classification()["accuracy"]


def test_fused_beats_image_only_and_report_only_on_shape_reports():
    """Each modality holds half of the label (4 classes = colour x size): alone, one is right about half the
    time; fused, nearly always. ~25 s on one CPU thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train, val = make_dataset("shape_reports", "train"), make_dataset("shape_reports", "val")
        fused = _train_and_score(train, val, "none")
        image_only = _train_and_score(train, val, "report")
        report_only = _train_and_score(train, val, "image")
    finally:
        torch.set_num_threads(threads)
    assert fused >= 0.9, (fused, image_only, report_only)
    assert max(image_only, report_only) <= 0.7, (fused, image_only, report_only)
    assert fused - max(image_only, report_only) >= 0.25
