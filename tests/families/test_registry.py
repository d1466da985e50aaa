"""The registry: presets, every family's own check, and plug-in families loaded from entry points."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from scaler import SpecError, base_spec, complexity
from scaler.families import FAMILIES, Family, _registry, families, get_family
from scaler.families.fcn_vgg import PAPER


def test_every_family_has_a_paper_preset_and_presets_are_overridable():
    assert all("paper" in fam.presets for fam in FAMILIES.values())
    assert base_spec("fcn_vgg", preset="paper") == base_spec("fcn_vgg", **PAPER)
    assert base_spec("fcn_vgg", preset="paper", skips=False).option("skips") is False
    with pytest.raises(SpecError, match="unknown fcn_vgg preset 'tiny'; valid: paper"):
        base_spec("fcn_vgg", preset="tiny")


def test_a_family_must_bring_its_check():
    fam = get_family("unet")
    with pytest.raises(SpecError, match="needs a check"):
        Family("x", fam.make_base, fam.builder, None)  # type: ignore[arg-type]
    assert all(callable(f.check) and callable(f.cost) for f in FAMILIES.values())


def test_flags_must_be_booleans():
    with pytest.raises(SpecError, match="unknown sim 1; valid: True, False"):
        base_spec("ednet", sim=1)
    with pytest.raises(SpecError, match="unknown output_stride True"):
        base_spec("deeplabv3", output_stride=True)


def _entry_point(name: str, load) -> SimpleNamespace:
    """A stand-in for an importlib.metadata EntryPoint."""
    return SimpleNamespace(name=name, value=f"pkg:{name}", load=load)


@pytest.fixture
def registry(monkeypatch):
    """A private copy of the registry whose entry points the test supplies (nothing installed is read)."""
    monkeypatch.setattr(_registry, "FAMILIES", dict(FAMILIES))
    monkeypatch.setitem(_registry._plugins, "loaded", False)
    points: list = []
    calls = []
    monkeypatch.setattr(_registry, "entry_points", lambda group: calls.append(group) or list(points))
    return SimpleNamespace(points=points, calls=calls)


def test_plugins_load_once_on_the_first_unknown_name(registry):
    unet = get_family("unet")
    made = Family("toy", unet.make_base, unet.builder, unet.check, "a toy")
    registry.points.append(_entry_point("toy", lambda: lambda: made))
    assert get_family("unet") is unet and registry.calls == []  # known names never look for plug-ins
    assert get_family("toy") is made and registry.calls == ["scaler.families"]
    assert "toy" in families() and registry.calls == ["scaler.families"]  # loaded once per process
    with pytest.raises(SpecError, match="unknown model family 'nope'; valid: .*toy"):
        get_family("nope")


def test_a_plugin_module_that_registers_itself_and_a_family_object_both_work(registry):
    unet = get_family("unet")
    first = Family("first", unet.make_base, unet.builder, unet.check)
    second = Family("second", unet.make_base, unet.builder, unet.check)
    registry.points += [_entry_point("first", lambda: _registry.register(first) and _registry),
                        _entry_point("second", lambda: second)]
    assert {"first", "second"} <= set(families())
    assert complexity(base_spec("unet", width=8)).params > 0


def test_a_broken_plugin_is_one_line_naming_it(registry):
    registry.points.append(_entry_point("broken", lambda: (_ for _ in ()).throw(ImportError("no module torchy"))))
    with pytest.raises(SpecError) as info:
        families()
    assert str(info.value) == ("family plug-in 'broken' (pkg:broken) failed to load: "
                               "ImportError: no module torchy")
