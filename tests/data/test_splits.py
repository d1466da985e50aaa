"""Splits: test where a layout has one, one-line refusals naming the split and the valid ones for that folder."""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

from scaler.data import DATASETS, default_camvid_root, make_dataset
from scaler.errors import DataError
from scaler.vocabulary import SPLITS
from tests.conftest import camvid_root_or_skip
from tests.data.fakes import H, W, LAYOUTS, make_camvid, make_folder, make_voc


def _error(**kwargs: object) -> str:
    """The one-line message of the DataError make_dataset(**kwargs) raises."""
    with pytest.raises(DataError) as info:
        make_dataset(**kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_every_dataset_has_a_fake_layout():
    assert sorted(LAYOUTS) == sorted(DATASETS), "add a fake layout for the new dataset to tests/data/fakes.py"


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_every_dataset_refuses_an_unknown_split_naming_it_and_the_valid_ones(name, tmp_path):
    kwargs = LAYOUTS[name](tmp_path)
    assert len(make_dataset(name, "train", **kwargs)) >= 1
    message = _error(name=name, split="holdout", **kwargs)
    assert message.startswith(f"{name}: unknown split 'holdout'; valid")
    assert "train" in message


# ---------------------------------------------------------------- camvid


def test_camvid_test_split_from_test_txt(tmp_path):
    make_camvid(tmp_path, "train", count=2)
    make_camvid(tmp_path, "test", count=3)
    test = make_dataset("camvid", "test", root=tmp_path, input_size=(8, 16))
    assert len(test) == 3 and test.split == "test" and test.image_files[0].endswith("test/f0.png")
    assert test[2][0].shape == (3, 8, 16)


def test_camvid_without_test_txt_names_the_split_and_the_folders_splits(tmp_path):
    make_camvid(tmp_path, "train")
    make_camvid(tmp_path, "val")
    message = _error(name="camvid", split="test", root=tmp_path)
    assert message == f"camvid: no 'test' split in {tmp_path} (no test.txt); valid there: train, val"
    assert _error(name="camvid", split="tset", root=tmp_path) == (
        f"camvid: unknown split 'tset'; valid for {tmp_path}: train, val")


@pytest.mark.camvid
def test_real_camvid_files_with_a_test_list(tmp_path):
    """Real CamVid files (4 val images) copied under a folder whose test.txt lists them."""
    root = camvid_root_or_skip()
    lines = (root / "val.txt").read_text().split("\n")[:4]
    for line in lines:
        for name in line.split():
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(root / name, tmp_path / name)
    (tmp_path / "test.txt").write_text("\n".join(lines) + "\n")
    test = make_dataset("camvid", "test", root=tmp_path, input_size=(96, 128))
    assert len(test) == 4 and test.num_classes == 11 and test.in_channels == 3
    assert test.source(0)[0].shape == (180, 240, 3)
    assert test[3][0].shape == (3, 96, 128) and set(test[3][1].unique().tolist()) <= set(range(12))
    assert "valid there: test" in _error(name="camvid", split="train", root=tmp_path)


@pytest.mark.camvid
def test_the_shared_camvid_copy_has_no_test_split():
    root = camvid_root_or_skip()
    assert default_camvid_root() is not None
    assert _error(name="camvid", split="test", root=root) == (
        f"camvid: no 'test' split in {root} (no test.txt); valid there: train, val")


# ---------------------------------------------------------------- folder


def test_folder_test_split(tmp_path):
    make_folder(tmp_path, "train", count=2)
    make_folder(tmp_path, "test", count=4)
    test = make_dataset("folder", "test", root=tmp_path, num_classes=3)
    assert len(test) == 4 and test.split == "test" and "/test/images/" in test.image_files[0]


def test_folder_absent_split_lists_the_folders_splits(tmp_path):
    make_folder(tmp_path, "train", count=1)
    make_folder(tmp_path, "val", count=1)
    message = _error(name="folder", split="test", root=tmp_path, num_classes=3)
    assert message == f"folder: no 'test' split in {tmp_path} (no test/images/); valid there: train, val"


def test_folder_explicit_dirs_take_any_known_split_name(tmp_path):
    make_folder(tmp_path, "anything", count=1)
    dirs = {"images": tmp_path / "anything" / "images", "masks": tmp_path / "anything" / "masks"}
    assert make_dataset("folder", "test", num_classes=3, **dirs).split == "test"
    assert _error(name="folder", split="holdout", num_classes=3, **dirs) == (
        f"folder: unknown split 'holdout'; valid for the folder dataset: {', '.join(SPLITS)}")


# ---------------------------------------------------------------- voc, cityscapes


def test_voc_test_split_with_masks(tmp_path):
    values = make_voc(tmp_path, "test")
    test = make_dataset("voc", "test", root=tmp_path, input_size=(H, W))
    assert len(test) == 2 and np.array_equal(test[1][1].numpy(), values)


def test_voc_test_list_without_masks_is_refused(tmp_path):
    make_voc(tmp_path, "test", with_masks=False)
    message = _error(name="voc", split="test", root=tmp_path, input_size=(H, W))
    assert message.startswith("voc: split 'test' lists 2 images but")
    assert "not public" in message and "valid: train, val" in message


def test_voc_absent_split(tmp_path):
    make_voc(tmp_path, "val")
    message = _error(name="voc", split="test", root=tmp_path)
    assert message.startswith("voc: no 'test' split in") and message.endswith("(no test.txt); valid there: val")


def test_cityscapes_test_is_refused_pointing_to_val(tmp_path):
    message = _error(name="cityscapes", split="test", root=tmp_path)
    assert message.startswith("cityscapes: split 'test' has no public labels") and "valid: train, val" in message


# ---------------------------------------------------------------- shapes


def _digests(dataset) -> set[str]:
    """SHA-256 of every source image."""
    return {hashlib.sha256(dataset.source(i)[0].tobytes()).hexdigest() for i in range(len(dataset))}


def test_shapes_test_stream_is_disjoint_from_train_and_val():
    test = make_dataset("shapes", "test", source_size=(32, 32))
    assert len(test) == 64 and test.split == "test"
    train = make_dataset("shapes", "train", source_size=(32, 32))
    val = make_dataset("shapes", "val", source_size=(32, 32))
    test_digests = _digests(test)
    assert len(test_digests) == 64
    assert not test_digests & _digests(train) and not test_digests & _digests(val)
    again = make_dataset("shapes", "test", source_size=(32, 32), length=3)
    assert np.array_equal(again.source(2)[1], test.source(2)[1])


def test_split_names_come_from_the_vocabulary():
    assert SPLITS == ("train", "val", "test")
    for split in SPLITS:
        assert make_dataset("shapes", split, length=1, source_size=(32, 32)).split == split


def test_missing_root_folder_for_a_test_split(tmp_path: Path):
    assert _error(name="camvid", split="test", root=tmp_path / "nowhere") == (
        f"camvid root folder not found: {tmp_path / 'nowhere'}")
