"""Per-item tensor ops: resize the cached source to the input size, augment, normalise."""
from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "resize_pair", "augment_pair", "normalize", "item_generator"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Scale jitter range for augmentation: the source is resized to s * input_size, s ~ U[1, 1.25],
# then cropped back to input_size. s >= 1 so a crop always fits and no padding (hence no
# invented ignore pixels) is ever needed.
SCALE_RANGE = (1.0, 1.25)

_MEAN = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
_STD = torch.tensor(IMAGENET_STD).view(3, 1, 1)


def _resize_image(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize a uint8 [3,h,w] image to float32 [3,H,W] in 0..255, bilinear with antialiasing."""
    if tuple(image.shape[-2:]) == size:
        return image.float()
    # antialias matters when downsizing (CamVid 180x240 -> 96x128): without it bilinear aliases.
    return F.interpolate(image.float().unsqueeze(0), size=size, mode="bilinear", antialias=True, align_corners=False)[0]


def _resize_mask(mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize an integer [h,w] mask by nearest neighbour ('nearest-exact' is pixel-centre aligned like the image)."""
    if tuple(mask.shape) == size:
        return mask
    if mask.dtype not in (torch.uint8, torch.float32):
        return F.interpolate(mask[None, None].float(), size=size, mode="nearest-exact")[0, 0].to(mask.dtype)
    return F.interpolate(mask[None, None], size=size, mode="nearest-exact")[0, 0]


def resize_pair(image: torch.Tensor, mask: torch.Tensor, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Resize a source pair to `size`: image uint8 [3,h,w] -> float [3,H,W] (0..255), mask [h,w] -> [H,W]."""
    return _resize_image(image, size), _resize_mask(mask, size)


def augment_pair(
    image: torch.Tensor, mask: torch.Tensor, size: tuple[int, int], generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random scale jitter (resize to s * size), random crop of `size`, random horizontal flip."""
    scale_u, crop_y, crop_x, flip = torch.rand(4, generator=generator).tolist()
    scale = SCALE_RANGE[0] + (SCALE_RANGE[1] - SCALE_RANGE[0]) * scale_u
    height, width = size
    scaled = (max(height, round(height * scale)), max(width, round(width * scale)))
    image, mask = resize_pair(image, mask, scaled)
    top = min(int(crop_y * (scaled[0] - height + 1)), scaled[0] - height)
    left = min(int(crop_x * (scaled[1] - width + 1)), scaled[1] - width)
    image = image[:, top : top + height, left : left + width]
    mask = mask[top : top + height, left : left + width]
    if flip < 0.5:
        image, mask = image.flip(-1), mask.flip(-1)
    return image, mask


def normalize(image: torch.Tensor) -> torch.Tensor:
    """Map a float [3,H,W] image in 0..255 to ImageNet-normalised values, contiguous float32."""
    return ((image / 255.0 - _MEAN) / _STD).contiguous()


def item_generator(seed: int, epoch: int, index: int) -> torch.Generator:
    """A torch.Generator seeded from (seed, epoch, index), so an augmented item is reproducible."""
    # A fixed odd-multiplier mix keeps nearby (seed, epoch, index) triples far apart in seed space.
    mixed = (seed * 0x9E3779B97F4A7C15 + epoch * 0xBF58476D1CE4E5B9 + index * 0x94D049BB133111EB) % (2**63)
    return torch.Generator().manual_seed(mixed)
