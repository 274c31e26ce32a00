"""The classifier's data preprocessor: batches to the model's device, with the GPU JPEG decode option.

Batches of decoded images (``decode='cpu'`` datasets) are only moved to the device. Batches of file bytes
(``decode='gpu'``) are decoded there by :func:`~siameseim.robustness.loading.gpu_decode` (nvJPEG on CUDA, the CPU for
other formats and for what nvJPEG rejects), then resized, cropped and normalised on the device with the
geometry each item carries (:class:`~siameseim.robustness.loading.GpuEvalTransform`). Only ``inputs`` and ``label``
reach the model; the rest of the batch (ImageNet-C's corruption and severity) stays for the metric.
"""
from typing import Dict, Optional

import torch
from mmengine.model import BaseDataPreprocessor

from siameseim.registry import MODELS

from ..loading import GpuEvalTransform, gpu_decode, normalize


@MODELS.register_module()
class ClassificationDataPreprocessor(BaseDataPreprocessor):
    """``dict(inputs, label)`` on the model's device from a decoded or an encoded batch."""

    def forward(self, data: dict, training: bool = False) -> Dict[str, Optional[torch.Tensor]]:
        inputs, label = data['inputs'], data.get('label')
        if isinstance(inputs, (list, tuple)) and inputs and isinstance(inputs[0], (bytes, bytearray)):
            encoded = [torch.frombuffer(bytearray(item), dtype=torch.uint8) for item in inputs]
            images = gpu_decode(encoded, list(data['path']), self.device)
            sizes = zip(torch.as_tensor(data['crop_size']).tolist(), torch.as_tensor(data['resize']).tolist())
            inputs = normalize(torch.cat([GpuEvalTransform(crop, resize or None).one(image)
                                          for image, (crop, resize) in zip(images, sizes)]))
        else:
            inputs = self.cast_data(inputs)
        if label is not None:
            label = self.cast_data(torch.as_tensor(label))
        return dict(inputs=inputs, label=label)
