"""ImageNet-C as one dataset: every ``<corruption>/<severity>/<wnid>/<image>`` of the 15 test corruptions.

One test loop covers all 75 folders; each item carries its ``corruption`` and ``severity`` next to the image
and label, so :class:`~siameseim.robustness.metrics.ImageNetCMetric` groups the errors whatever rank scored the image.
The 4 validation corruptions, when present, are not read.
"""
import os
from typing import Callable, Dict, Optional, Sequence, Union

from torch.utils.data import Dataset

from siameseim.registry import DATASETS

from ..labels import imagenet_1k_wnids
from ..metrics.mce import CORRUPTIONS, SEVERITIES
from .wnid_folder import build_transform, load_sample, scan_wnid_folder


def imagenet_c_folders(root: str) -> Dict[str, Dict[int, str]]:
    """``corruption → severity → folder`` for the test corruptions present under ``root``."""
    found = {}
    for corruption in CORRUPTIONS:
        for severity in SEVERITIES:
            folder = os.path.join(root, corruption, str(severity))
            if os.path.isdir(folder):
                found.setdefault(corruption, {})[severity] = folder
    if not found:
        raise FileNotFoundError(f'{root} holds none of the 15 corruption folders <corruption>/<1..5>/<wnid>/: '
                                f'point the data root at the folder that contains gaussian_noise/, shot_noise/, ...')
    return found


@DATASETS.register_module()
class ImageNetC(Dataset):
    """The corruption/severity folders of ``root`` found among ``corruptions`` × ``severities``, in that order.

    Items are ``dict(inputs, label, corruption=str, severity=int)`` (``inputs`` as in
    :class:`~siameseim.robustness.datasets.WnidImageFolder`, ``decode`` likewise). Missing folders are left out; the
    metric then reports the incomplete corruptions and leaves mCE empty.
    """

    def __init__(self,
                 root: str,
                 transform: Optional[Union[Callable, Dict]] = None,
                 corruptions: Sequence[str] = CORRUPTIONS,
                 severities: Sequence[int] = SEVERITIES,
                 decode: str = 'cpu') -> None:
        unknown = [c for c in corruptions if c not in CORRUPTIONS]
        if unknown:
            raise ValueError(f'{", ".join(unknown)}: not ImageNet-C test corruptions; choose from {CORRUPTIONS}')
        self.root, self.decode = root, decode
        self.transform = build_transform(transform, decode)
        folders = imagenet_c_folders(root)
        self.groups = [(c, s) for c in corruptions for s in severities if s in folders.get(c, {})]
        if not self.groups:
            raise FileNotFoundError(f'{root} holds none of the requested corruption/severity folders')
        self.samples = [(path, label, c, s) for c, s in self.groups
                        for path, label in scan_wnid_folder(folders[c][s])]

    @property
    def metainfo(self) -> dict:
        """The label space and the corruption/severity folders scored, for mmengine's evaluator."""
        return dict(classes=imagenet_1k_wnids(), groups=self.groups)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict:
        path, label, corruption, severity = self.samples[index]
        return dict(load_sample(path, self.transform, self.decode), label=label, corruption=corruption,
                    severity=severity)
