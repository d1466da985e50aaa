"""The parameter-free attention fusion on every host: exactly 0 params and exactly its declared MACs.

Parametrized over every built-in family, so a new family must host the attention (or say here why not).
"""
from __future__ import annotations

import pytest

from scaler import base_spec, build, complexity, traced_complexity
from scaler.families import FAMILIES
from scaler.families._blocks import ATTENTION_MODES, AttentionFusion

#: Attention sites of each host's base network: the upsamplings that precede a fusion (see each module).
SITES = {"unet": 4, "ednet": 3, "fcn_resnet": 3, "fcn_vgg": 5, "deeplabv3": 1, "fpn": 6, "upernet": 9, "multimodal": 3}
#: Options that make a family's base network a host (the multimodal family's default head classifies: no upsampling).
HOST_OPTIONS = {"multimodal": {"head": "segmentation"}}
HOSTS = sorted(FAMILIES)  # the built-in families (plug-ins load later, on demand)


def test_every_built_in_family_is_a_host():
    assert sorted(SITES) == HOSTS


@pytest.mark.parametrize("mode", ATTENTION_MODES[1:])
@pytest.mark.parametrize("family", HOSTS)
def test_attention_adds_exactly_zero_params_and_its_declared_macs(family, mode):
    size = (256, 320)
    plain, attended = (base_spec(family, input_size=size, fusion_attention=m, **HOST_OPTIONS.get(family, {}))
                       for m in ("none", mode))
    a, b = complexity(plain), complexity(attended)
    rows = [row for row in b.layers if row.kind == AttentionFusion.kind]
    assert len(rows) == SITES[family] and not any(row.kind == AttentionFusion.kind for row in a.layers)
    assert b.params == a.params and all(row.params == 0 for row in rows)
    assert b.macs - a.macs == sum(row.macs for row in rows) > 0
    assert b.activations - a.activations == sum(row.activations for row in rows)
    # the declared numbers are those of the tensors the built module really attends (C*H*W and H*W of each)
    model = build(attended, "meta")
    modules = [m for m in model.modules() if isinstance(m, AttentionFusion)]
    assert len(modules) == SITES[family] and {m.mode for m in modules} == {mode}
    traced = [row for row in traced_complexity(attended, model).layers if row.kind == AttentionFusion.kind]
    assert sorted((r.stage, r.macs, r.activations) for r in traced) == \
        sorted((r.stage, r.macs, r.activations) for r in rows)
