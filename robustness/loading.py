"""Data loading for evaluations: the GPU JPEG path's decode and transform, and a plain ordered loader.

* GPU path (datasets with ``decode='gpu'``, decoded in the runner by
  :class:`~siameseim.robustness.models.ClassificationDataPreprocessor`): workers only read file bytes;
  :func:`gpu_decode` decodes the whole batch with ``torchvision.io.decode_jpeg(..., device='cuda')`` (nvJPEG),
  and :class:`GpuEvalTransform` resizes, crops and normalises there too. Non-JPEG files, and batches nvJPEG
  rejects, fall back to a CPU decode of each image.
* :func:`iterate_batches`: :class:`~siameseim.robustness.datasets.WnidImageFolder` + PIL decode and transform in
  ``num_workers`` processes, pinned batches copied to the device asynchronously (few-shot feature extraction).
"""
from typing import Iterator, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset
from torchvision.io import ImageReadMode, decode_image, decode_jpeg

from .datasets.wnid_folder import CorruptImageError, WnidImageFolder
from .transforms import IMAGENET_MEAN, IMAGENET_STD


class GpuEvalTransform:
    """Batched ``Resize(resize, bicubic) → CenterCrop(crop) → normalise`` of decoded uint8 ``[3,H,W]`` images.

    Bicubic resize of a tensor (antialiased) approximates PIL's; ``resize=None`` only crops (ImageNet-C).
    """

    def __init__(self, crop_size: int = 224, resize: Optional[int] = 256) -> None:
        self.crop_size, self.resize = crop_size, resize

    def one(self, image: torch.Tensor) -> torch.Tensor:
        image = image.float().unsqueeze(0)
        if self.resize:
            h, w = image.shape[-2:]
            scale = self.resize / min(h, w)
            size = (max(self.resize, round(h * scale)), max(self.resize, round(w * scale)))
            image = F.interpolate(image, size=size, mode='bicubic', align_corners=False, antialias=True)
        h, w = image.shape[-2:]
        if min(h, w) < self.crop_size:
            raise ValueError(f'image of {h}x{w} is smaller than the {self.crop_size} crop: pass a resize size')
        top, left = int(round((h - self.crop_size) / 2.0)), int(round((w - self.crop_size) / 2.0))
        return image[..., top:top + self.crop_size, left:left + self.crop_size].clamp_(0, 255)

    def __call__(self, images: List[torch.Tensor]) -> torch.Tensor:
        return normalize(torch.cat([self.one(image) for image in images]))


def normalize(batch: torch.Tensor) -> torch.Tensor:
    """ImageNet normalisation of a ``[B, 3, H, W]`` batch in the 0–255 range (``ToTensor`` + ``Normalize``)."""
    batch = batch / 255.0
    mean = torch.tensor(IMAGENET_MEAN, device=batch.device)[:, None, None]
    std = torch.tensor(IMAGENET_STD, device=batch.device)[:, None, None]
    return (batch - mean) / std


def _cpu_decode(data: torch.Tensor, path: str, device: torch.device) -> torch.Tensor:
    try:
        return decode_image(data, mode=ImageReadMode.RGB).to(device)
    except RuntimeError as err:
        raise CorruptImageError(f'cannot decode image {path} ({err}): delete or re-download this file') from None


def gpu_decode(data: List[torch.Tensor], paths: List[str], device: torch.device) -> List[torch.Tensor]:
    """Decode a batch of encoded images on ``device`` as RGB uint8 ``[3,H,W]``.

    JPEGs go to nvJPEG in one batched call; other formats, and every image of a batch nvJPEG rejects (CMYK
    JPEGs, for one), are decoded on the CPU one by one, so only a truly broken file stops the run.
    """
    is_jpeg = [bool(len(d) > 2 and d[0] == 0xFF and d[1] == 0xD8) for d in data]
    images: List[Optional[torch.Tensor]] = [None] * len(data)
    jpeg_ids = [i for i, flag in enumerate(is_jpeg) if flag]
    if jpeg_ids:
        try:
            decoded = decode_jpeg([data[i] for i in jpeg_ids], mode=ImageReadMode.RGB, device=device)
            for i, image in zip(jpeg_ids, decoded):
                images[i] = image
        except RuntimeError:
            pass
    return [image if image is not None else _cpu_decode(data[i], paths[i], device) for i, image in enumerate(images)]


def make_loader(dataset: Dataset, batch_size: int, num_workers: int, pin_memory: bool,
                collate_fn=None) -> DataLoader:
    """An ordered evaluation loader; workers persist across the loader's epochs and prefetch 4 batches."""
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                      pin_memory=pin_memory, collate_fn=collate_fn,
                      prefetch_factor=4 if num_workers > 0 else None, persistent_workers=False)


def iterate_batches(samples: Sequence[Tuple[str, int]], transform, *, device: torch.device, batch_size: int,
                    num_workers: int) -> Iterator[Tuple[torch.Tensor, torch.Tensor]]:
    """``(normalised images on device, labels)`` batches of ``samples``, decoded and transformed in workers."""
    pin = device.type == 'cuda'
    dataset = WnidImageFolder(root='', transform=transform, samples=list(samples))
    for batch in make_loader(dataset, batch_size, num_workers, pin):
        yield batch['inputs'].to(device, non_blocking=pin), batch['label'].to(device, non_blocking=pin)
