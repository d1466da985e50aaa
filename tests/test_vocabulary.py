"""The vocabulary has one home: every user-facing list of names is scaler.vocabulary's, nowhere spelled again."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from scaler import vocabulary as vocab
from tests.cli_helpers import run_cli

PACKAGE = Path(__file__).resolve().parents[1] / "scaler"

#: Name lists that must never be written out again outside vocabulary.py: (what, names, how many shared
#: names make a literal a copy of the list).
#: (Metric names are left out: they are also record fields and table columns, where listing them is natural;
#: "depth", "width", "resolution" are factor names too, hence 4 for methods.)
LISTS = (
    ("methods", set(vocab.METHODS), 4),
    ("depth roundings", set(vocab.DEPTH_ROUNDINGS), 2),
    ("trial/record statuses", set(vocab.RECORD_STATUSES) - {"completed", "running"}, 3),
    ("run statuses", set(vocab.RUN_STATUSES) - {"completed", "running"}, 3),
)


def _string_literals(node: ast.AST) -> list[str]:
    """The string constants of a tuple/list/set literal, or the string keys of a dict literal."""
    items = node.keys if isinstance(node, ast.Dict) else getattr(node, "elts", [])
    return [i.value for i in items if isinstance(i, ast.Constant) and isinstance(i.value, str)]


def _copies() -> list[str]:
    """Every literal outside vocabulary.py that spells out (most of) one of the vocabulary's lists."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "vocabulary.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, (ast.Tuple, ast.List, ast.Set, ast.Dict)):
                continue
            strings = set(_string_literals(node))
            for what, names, threshold in LISTS:
                if len(strings & names) >= threshold:
                    found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: a copy of the {what} "
                                 f"{sorted(strings & names)}")
    return found


def test_no_module_spells_out_a_vocabulary_list_again() -> None:
    assert _copies() == []


def test_the_guard_finds_a_copy(tmp_path, monkeypatch) -> None:
    """The scan above would catch a copy: plant one in a scratch package and look."""
    fake = tmp_path / "scaler"
    fake.mkdir()
    (fake / "copy.py").write_text('NAMES = ("depth", "width", "compound", "custom")\nDEPTH = ["floor", "uniform"]\n')
    monkeypatch.setattr(__import__(__name__, fromlist=["PACKAGE"]), "PACKAGE", fake)
    copies = _copies()
    assert len(copies) == 2 and "methods" in copies[0] and "depth roundings" in copies[1]


def test_scale_help_lists_every_method_and_depth_rounding(capsys) -> None:
    out = run_cli(capsys, "scale", "--help").stdout
    flat = "".join(out.split())  # rich wraps help text at any character
    assert all(m in flat for m in vocab.METHODS)
    assert all(p in flat for p in vocab.DEPTH_ROUNDINGS)


def test_a_bad_method_and_depth_rounding_name_the_vocabulary(capsys) -> None:
    bad = run_cli(capsys, "scale", "--method", "diagonal", "--budget", "params=2x")
    assert bad.returncode == 2 and vocab.choices_text(vocab.METHODS) in bad.stderr
    bad = run_cli(capsys, "scale", "--method", "depth", "--budget", "params=2x", "--depth-rounding", "round")
    assert bad.returncode == 2 and vocab.choices_text(vocab.DEPTH_ROUNDINGS) in bad.stderr


@pytest.mark.parametrize("policy", vocab.DEPTH_ROUNDINGS)
def test_every_depth_rounding_works_from_the_cli(capsys, policy) -> None:
    done = run_cli(capsys, "scale", "--base-width", "8", "--input", "32x32", "--method", "depth",
                   "--budget", "params=2x", "--depth-rounding", policy, "--json")
    assert done.returncode == 0, done.stderr


def test_report_legend_order_is_the_vocabulary() -> None:
    from scaler.report import METHOD_ORDER, PAPER_NAMES
    from scaler.report._plots import _METHOD_COLORS

    assert METHOD_ORDER[:len(vocab.METHODS)] == vocab.METHODS
    assert set(_METHOD_COLORS) == set(METHOD_ORDER) and set(PAPER_NAMES) == set(METHOD_ORDER)
