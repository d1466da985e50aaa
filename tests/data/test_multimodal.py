"""Paired image + report data: the tokenizer, the training-only vocabulary, shape_reports and the CSV loader."""
from __future__ import annotations

from collections import Counter

import pytest
import torch
from torch.utils.data import DataLoader

from scaler.data import make_dataset
from scaler.data._multimodal import SHAPE_REPORT_CLASSES, SIZES, Vocabulary, tokenize
from scaler.errors import DataError
from scaler.families._text import PAD_ID, UNK_ID
from tests.data.fakes import H, W, make_reports


def _error(**kwargs: object) -> str:
    with pytest.raises(DataError) as info:
        make_dataset(**kwargs)
    assert "\n" not in str(info.value)
    return str(info.value)


# -- tokenizer and vocabulary --------------------------------------------------------------------------------

def test_tokenize_lowercases_and_drops_punctuation():
    assert tokenize("A 5mm Nodule, left-upper lobe.") == ["a", "5mm", "nodule", "left", "upper", "lobe"]


def test_vocabulary_from_training_reports_with_unknown_padding_and_a_cap():
    vocab = Vocabulary.build(["b a a", "c a b"])
    assert vocab.words == ("<pad>", "<unk>", "a", "b", "c")  # most frequent first, ties alphabetical
    assert vocab.words[PAD_ID] == "<pad>" and vocab.words[UNK_ID] == "<unk>" and len(vocab) == 5
    assert vocab.encode("A zebra, c!", 5).tolist() == [2, UNK_ID, 4, PAD_ID, PAD_ID]
    assert vocab.encode("a b c a b c", 4).tolist() == [2, 3, 4, 2]  # cut to max_tokens
    assert Vocabulary.build(["b a a", "c a b"], max_words=1).words == ("<pad>", "<unk>", "a")
    assert Vocabulary.build(["b a a", "c a b"], min_count=2).words == ("<pad>", "<unk>", "a", "b")
    with pytest.raises(DataError, match="starts with"):
        Vocabulary(("a", "<pad>", "<unk>"))


# -- shape_reports ---------------------------------------------------------------------------------------------

def test_shape_reports_items_and_a_vocabulary_shared_by_the_splits():
    train, val = make_dataset("shape_reports", "train", length=64), make_dataset("shape_reports", "val", length=16)
    assert train.vocabulary == val.vocabulary and train.num_classes == 4 and train.in_channels == 3
    assert train.mask_classes == 5  # background + one per class
    batch = next(iter(DataLoader(train, batch_size=8)))
    assert batch["image"].shape == (8, 3, 32, 32) and batch["image"].dtype == torch.float32
    assert batch["tokens"].shape == (8, 16) and batch["tokens"].dtype == torch.int64
    assert batch["label"].shape == (8,) and batch["mask"].shape == (8, 32, 32)
    # the mask labels the disc with 1 + the class, the background 0
    for i in range(8):
        assert set(batch["mask"][i].unique().tolist()) == {0, 1 + int(batch["label"][i])}
    assert Counter(train.labels.tolist()).keys() == {0, 1, 2, 3}
    assert len(make_dataset("shape_reports", "test", length=5, seed=3)) == 5


def test_shape_reports_each_modality_holds_half_of_the_label():
    data = make_dataset("shape_reports", "train", length=200)
    size_of = {word: size for size, words in SIZES.items() for word in words}
    for index in range(len(data)):
        item = data[index]
        words = [data.vocabulary.words[i] for i in item["tokens"].tolist() if i != PAD_ID]
        sizes = {size_of[w] for w in words if w in size_of}
        name = SHAPE_REPORT_CLASSES[int(item["label"])]
        assert sizes == {name.split("_")[1]}  # the report states the size, once, and nothing else does
        disc = item["mask"] > 0
        red_minus_blue = (item["image"][0][disc] - item["image"][2][disc]).mean()
        assert (red_minus_blue > 0) == name.startswith("red")  # the image shows the colour
        assert disc.sum() == data[0]["mask"].gt(0).sum()  # ... and one disc size for every class


def test_shape_reports_is_reproducible_and_refuses_bad_options():
    a, b = make_dataset("shape_reports", length=4, seed=7), make_dataset("shape_reports", length=4, seed=7)
    assert torch.equal(a[3]["image"], b[3]["image"]) and torch.equal(a.tokens, b.tokens)
    assert not torch.equal(a[3]["image"], make_dataset("shape_reports", length=4, seed=8)[3]["image"])
    assert "augmentation is not offered" in _error(name="shape_reports", augment=True)
    assert "length must be an integer >= 1" in _error(name="shape_reports", length=0)
    assert "unknown split 'dev'" in _error(name="shape_reports", split="dev")


# -- reports: folder + CSV -----------------------------------------------------------------------------------

def test_reports_reads_images_reports_labels_and_masks(tmp_path):
    make_reports(tmp_path, "train")
    make_reports(tmp_path, "val", [("v", "an enormous large mass", "malignant", True)])
    train = make_dataset("reports", "train", root=tmp_path, max_tokens=6)
    val = make_dataset("reports", "val", root=tmp_path, max_tokens=6)
    assert train.class_names == ("benign", "malignant") and train.labels.tolist() == [0, 1, 0]
    assert val.vocabulary == train.vocabulary  # built from train.csv only
    words = train.vocabulary.words
    assert "enormous" not in words and "small" in words
    item = val[0]
    assert item["tokens"].tolist()[:4] == [words.index("an") if "an" in words else UNK_ID, UNK_ID,
                                           words.index("large"), words.index("mass")]
    assert item["image"].shape == (3, H, W) and item["mask"].shape == (H, W) and int(item["label"]) == 1
    resized = make_dataset("reports", "train", root=tmp_path, input_size=(8, 8))
    assert resized[0]["image"].shape == (3, 8, 8) and resized[0]["mask"].shape == (8, 8)


def test_reports_without_masks_give_items_without_a_mask(tmp_path):
    make_reports(tmp_path, rows=[("a", "small", "1", False), ("b", "large", "10", False), ("c", "x", "2", False)])
    data = make_dataset("reports", root=tmp_path)
    assert "mask" not in data[0] and data.class_names == ("1", "2", "10")  # integer labels sort as numbers
    assert data.mask_classes == 0


@pytest.mark.parametrize(("row", "fragment"), [
    (("b", "large", "unknown_class", True), "label 'unknown_class' is not a class; valid: benign"),
    (("b", "", "benign", True), "empty 'report'"),
])
def test_a_bad_row_is_one_line_naming_the_file_and_the_row(tmp_path, row, fragment):
    make_reports(tmp_path, "train")
    make_reports(tmp_path, "test", [("a", "small", "benign", True), row])
    message = _error(name="reports", split="test", root=tmp_path)
    assert message.startswith(f"{tmp_path / 'test.csv'} row 2: ") and fragment in message


def test_missing_files_columns_and_mixed_masks_are_refused(tmp_path):
    make_reports(tmp_path, "train")
    (tmp_path / "train" / "b.png").unlink()
    assert _error(name="reports", root=tmp_path).startswith(f"{tmp_path / 'train.csv'} row 2: ")
    make_reports(tmp_path, "train", [("a", "x", "l", True), ("b", "y", "l", False)])
    assert "1 of 2 rows have a mask; valid: all rows or none" in _error(name="reports", root=tmp_path)
    (tmp_path / "val.csv").write_text("image,text,label\na.png,x,l\n")
    assert "no column(s) report" in _error(name="reports", split="val", root=tmp_path)
    assert "split file not found" in _error(name="reports", split="test", root=tmp_path)
    assert "reports needs root=" in _error(name="reports", root=tmp_path / "nowhere")
