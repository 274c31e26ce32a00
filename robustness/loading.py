"""Data loading for large evaluations (ImageNet-C is 3.75M images): worker pools, pinned memory and an
optional GPU JPEG path.

* CPU path: :class:`~robustness.datasets.WnidImageFolder` + PIL decode and transform in ``num_workers``
  processes, pinned batches copied to the device asynchronously.
* GPU path (``decode='gpu'``): workers only read file bytes (:class:`EncodedImageFolder`);
  ``torchvision.io.decode_jpeg(..., device='cuda')`` decodes the whole batch on the GPU (nvJPEG), and the
  resize / crop / normalise run there too (:class:`GpuEvalTransform`). Non-JPEG files, and batches nvJPEG
  rejects, fall back to a CPU decode of each image.
"""
from typing import Iterator, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset
from torchvision.io import ImageReadMode, decode_image, decode_jpeg, read_file

from .datasets.wnid_folder import CorruptImageError, WnidImageFolder
from .transforms import IMAGENET_MEAN, IMAGENET_STD

DECODES = ('cpu', 'gpu')


class EncodedImageFolder(Dataset):
    """``(uint8 file bytes, label)`` of ``(path, label)`` samples: the worker-side half of GPU decoding."""

    def __init__(self, samples: Sequence[Tuple[str, int]]) -> None:
        self.samples = list(samples)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> Tuple[torch.Tensor, int, str]:
        path, label = self.samples[index]
        return read_file(path), label, path


def collate_encoded(batch: List[Tuple[torch.Tensor, int, str]]) -> Tuple[List[torch.Tensor], torch.Tensor, List[str]]:
    data, labels, paths = zip(*batch)
    return list(data), torch.as_tensor(labels), list(paths)


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
        batch = torch.cat([self.one(image) for image in images]) / 255.0
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


def iterate_batches(samples: Sequence[Tuple[str, int]], transform, *, decode: str, device: torch.device,
                    batch_size: int, num_workers: int, crop_size: int = 224,
                    resize: Optional[int] = 256) -> Iterator[Tuple[torch.Tensor, torch.Tensor]]:
    """``(normalised images on device, labels)`` batches of ``samples`` with the chosen decode path."""
    if decode not in DECODES:
        raise ValueError(f'decode must be one of {DECODES}, got {decode!r}')
    pin = device.type == 'cuda'
    if decode == 'gpu':
        if device.type != 'cuda':
            raise ValueError('GPU JPEG decoding needs a CUDA device: use --decode cpu or --device cuda')
        gpu_transform = GpuEvalTransform(crop_size, resize)
        loader = make_loader(EncodedImageFolder(samples), batch_size, num_workers, False, collate_encoded)
        for data, labels, paths in loader:
            yield gpu_transform(gpu_decode(data, paths, device)), labels.to(device)
        return
    dataset = WnidImageFolder(root='', transform=transform, samples=list(samples))
    for batch in make_loader(dataset, batch_size, num_workers, pin):
        yield batch['inputs'].to(device, non_blocking=pin), batch['label'].to(device, non_blocking=pin)
