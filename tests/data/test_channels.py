"""Input channels follow the data: grey images load as 1 channel, normalised with the grey-pixel statistics."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from scaler.data import (
    GREY_MEAN,
    GREY_STD,
    IMAGENET_MEAN,
    IMAGENET_STD,
    SegmentationDataset,
    default_normalization,
    make_dataset,
)
from scaler.errors import DataError
from tests.data.fakes import H, W, labels, make_camvid, make_folder, write_image


def _error(**kwargs: object) -> str:
    """The one-line message of the DataError make_dataset(**kwargs) raises."""
    with pytest.raises(DataError) as info:
        make_dataset(**kwargs)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_grey_normalisation_is_the_grey_pixel_imagenet_statistics():
    assert GREY_MEAN == pytest.approx(sum(IMAGENET_MEAN) / 3, abs=5e-4)
    assert GREY_STD == pytest.approx(sum(IMAGENET_STD) / 3, abs=5e-4)
    assert default_normalization(3) == (IMAGENET_MEAN, IMAGENET_STD)
    assert default_normalization(1) == ((GREY_MEAN,), (GREY_STD,))
    assert default_normalization(4) == ((GREY_MEAN,) * 4, (GREY_STD,) * 4)


def test_folder_of_grey_images_loads_one_channel(tmp_path):
    make_folder(tmp_path, count=2, mode="L")
    dataset = make_dataset("folder", root=tmp_path, num_classes=3)
    assert dataset.in_channels == 1
    image, _ = dataset[1]
    assert image.shape == (1, H, W)
    pixels = np.asarray(Image.open(tmp_path / "train" / "images" / "img1.png"), dtype=np.float32)
    expected = (torch.from_numpy(pixels) / 255 - GREY_MEAN) / GREY_STD
    assert torch.allclose(image[0], expected, atol=1e-6)


def test_mixed_grey_and_rgb_load_as_rgb_with_grey_replicated(tmp_path):
    make_folder(tmp_path, count=2)
    grey = write_image(tmp_path / "train" / "images" / "img1.png", seed=7, mode="L")
    dataset = make_dataset("folder", root=tmp_path, num_classes=3)
    assert dataset.in_channels == 3
    assert np.array_equal(dataset.source(1)[0], np.repeat(grey[:, :, None], 3, axis=2))
    assert dataset[0][0].shape == (3, H, W)


def test_explicit_channels_convert_every_image(tmp_path):
    make_folder(tmp_path, count=2)
    rgb = np.asarray(Image.open(tmp_path / "train" / "images" / "img0.png"))
    as_grey = make_dataset("folder", root=tmp_path, num_classes=3, channels=1)
    assert as_grey.in_channels == 1
    assert np.array_equal(as_grey.source(0)[0][:, :, 0], np.asarray(Image.fromarray(rgb).convert("L")))
    make_folder(tmp_path / "grey", count=1, mode="L")
    as_rgb = make_dataset("folder", root=tmp_path / "grey", num_classes=3, channels=3)
    assert as_rgb.in_channels == 3 and as_rgb[0][0].shape == (3, H, W)
    assert "channels must be one of 1, 3 or None" in _error(name="folder", root=tmp_path, num_classes=3, channels=2)


def test_sixteen_bit_grey_is_kept_when_it_fits_and_refused_when_it_would_clip(tmp_path):
    make_folder(tmp_path, count=1)
    path = tmp_path / "train" / "images" / "img0.png"
    values = np.random.default_rng(0).integers(0, 256, (H, W)).astype(np.uint16)
    Image.fromarray(values).save(path)
    assert Image.open(path).mode.startswith("I")
    dataset = make_dataset("folder", root=tmp_path, num_classes=3)
    assert dataset.in_channels == 1 and np.array_equal(dataset.source(0)[0][:, :, 0], values)
    values[2, 3] = 4095
    Image.fromarray(values).save(path)
    message = _error(name="folder", root=tmp_path, num_classes=3)
    assert str(path) in message and "4095" in message and "8-bit" in message


def test_rgb_datasets_stay_three_channels(tmp_path):
    make_camvid(tmp_path)
    assert make_dataset("camvid", root=tmp_path).in_channels == 3
    assert make_dataset("shapes", length=1).in_channels == 3


def test_shapes_grey_variant_is_the_luma_of_the_rgb_images():
    rgb = make_dataset("shapes", length=2, source_size=(32, 32))
    grey = make_dataset("shapes", length=2, source_size=(32, 32), channels=1, input_size=(24, 24), augment=True)
    assert grey.in_channels == 1
    assert np.array_equal(grey.source(1)[0][:, :, 0], np.asarray(Image.fromarray(rgb.source(1)[0]).convert("L")))
    assert np.array_equal(grey.source(1)[1], rgb.source(1)[1])
    images, masks = next(iter(torch.utils.data.DataLoader(grey, batch_size=2)))
    assert images.shape == (2, 1, 24, 24) and masks.shape == (2, 24, 24)


def _arrays(channels: tuple[int, ...]) -> dict[str, object]:
    """SegmentationDataset arguments with one random image per entry of `channels`."""
    rng = np.random.default_rng(0)
    return dict(name="arrays", split="train", num_classes=2, ignore_index=255, class_names=("a", "b"),
                images=[rng.integers(0, 256, (H, W, c), dtype=np.uint8) for c in channels],
                masks=[labels(i, 2, 255) for i in range(len(channels))])


def test_any_channel_count_and_explicit_statistics():
    four = SegmentationDataset(**_arrays((4, 4)))
    assert four.in_channels == 4 and four[0][0].shape == (4, H, W)
    source = torch.from_numpy(four.source(0)[0].transpose(2, 0, 1).astype(np.float32))
    assert torch.allclose(four[0][0], (source / 255 - GREY_MEAN) / GREY_STD, atol=1e-6)
    custom = SegmentationDataset(**_arrays((2,)), mean=(0.5, 0.25), std=(0.5, 0.125))
    source = torch.from_numpy(custom.source(0)[0].transpose(2, 0, 1).astype(np.float32))
    expected = (source / 255 - torch.tensor([0.5, 0.25]).view(2, 1, 1)) / torch.tensor([0.5, 0.125]).view(2, 1, 1)
    assert torch.allclose(custom[0][0], expected, atol=1e-6)


def test_bad_channel_data_is_one_line_naming_the_file():
    with pytest.raises(DataError, match=r"^image #1: 3 channel\(s\) but image #0 has 1; valid: one channel count"):
        SegmentationDataset(**_arrays((1, 3)))
    with pytest.raises(DataError, match=r"mean and std need 2 value\(s\)"):
        SegmentationDataset(**_arrays((2,)), mean=(0.5,), std=(0.5,))
    with pytest.raises(DataError, match="std > 0"):
        SegmentationDataset(**_arrays((1,)), std=(0.0,))
