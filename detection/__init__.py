"""Detection task of SiameseIM Suite: ViTDet Mask R-CNN on COCO and LVIS v1 with the shared backbone.

Importing the package (``custom_imports=dict(imports=['siameseim.detection'])`` in a config) registers into
mmdet's registries what mmdet 3.3 does not ship or ships wrong for the ViTDet recipe (docs/protocols.md §1–2):

* models: ``LN2d`` (channels-first LayerNorm), ``SimpleFPN`` (neck), ``FederatedLoss`` (LVIS sigmoid CE);
* datasets: ``CheckedCocoDataset`` / ``CheckedLVISV1Dataset`` (clear errors for bad dataset files) and the
  ``RepeatFactorSampler`` (LVIS repeat-factor sampling with stochastic rounding);
* metrics: ``CheckedCocoMetric`` (pycocotools values with no detections, clear label errors) and
  ``LVISEvalMetric`` (lvis API, APr/APc/APf, predictions held once);
* hooks: ``Fp16CompressionHook`` (DDP gradients all-reduced in fp16).

It also lets lvis 0.5.3's evaluator run on numpy >= 1.24 (:mod:`siameseim.detection.lvis_numpy`).
"""
import siameseim  # noqa: F401  (compatibility fixes, siameseim.ViT)

from . import datasets, hooks, metrics, models  # noqa: F401  (register the modules)
from .lvis_numpy import patch_lvis_np_float

patch_lvis_np_float()
