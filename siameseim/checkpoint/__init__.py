"""Checkpoint import: read any supported ViT checkpoint, map it onto the canonical backbone, load it.

Pipeline (docs/method.md §6.7), one module per step:

* :mod:`.reading`: :func:`read_checkpoint`, safe unpickling on the CPU with the suite's one allow-list
  (:mod:`.hf_folder`: Hugging Face model folders, ``config.json`` with the weights);
* :mod:`.detect`: :func:`detect_format`, the format (a key of :data:`FORMATS`, :mod:`.formats`) from keys and tables;
* :mod:`.converters`: one converter per source format onto timm's canonical names;
* :mod:`.arch`: :func:`infer_arch` / :func:`check_architecture`, sizes and options of a canonical state dict;
* :mod:`.canonical`: :func:`to_canonical` (detect, convert, keep the backbone, record metadata and why keys were
  dropped) and :func:`converted_checkpoint`, the suite's own format;
* :mod:`.loading`: :func:`load_pretrained` (check the architecture, resize position tables and patch embeddings
  to the model, load) and its :class:`LoadReport`; :mod:`.pretrained_init` makes it the backbone's
  ``pretrained=`` initializer, with :mod:`.adapt` (the backbone options a checkpoint needs) beside it.

Position tables are resized by :mod:`siameseim.layers` beside the rest of the position code.

Formats: SiameseIM pretraining (online or target encoder) and fine-tuning, MAE (encoder-only, ``_full`` with
decoder, fine-tuned), MoCo-v3, BEiT, DeiT (plain, distilled), timm, mmpretrain, mmseg, DINO, iBOT, DINOv2 (with
registers, ViT-g), CLIP (OpenAI, OpenCLIP), I-JEPA, Hugging Face ``transformers`` folders and files (ViT, ViTMAE,
Dinov2, BEiT, Data2VecVision), any of them as ``.safetensors``, the mmengine checkpoints of this suite's
downstream runs and the suite's own converted format (:data:`SUITE_FORMAT`, written by
``siameseim-convert``).
"""
from ..layers import resize_rel_pos, resize_rel_pos_bias_table
from .arch import check_architecture, infer_arch
from .canonical import converted_checkpoint, to_canonical
from .detect import detect_format
from .errors import CheckpointError, UntrustedPickleWarning
from .formats import FORMATS, SUITE_FORMAT, SUITE_FORMAT_VERSION, rename_keys
from .loading import LoadReport, load_pretrained
from .pretrained_init import PretrainedAnyFormat
from .reading import check_finite, read_checkpoint

__all__ = [
    'SUITE_FORMAT', 'SUITE_FORMAT_VERSION', 'FORMATS', 'CheckpointError', 'UntrustedPickleWarning', 'LoadReport',
    'PretrainedAnyFormat', 'read_checkpoint', 'check_finite', 'detect_format', 'rename_keys', 'to_canonical',
    'converted_checkpoint', 'infer_arch', 'check_architecture', 'resize_rel_pos_bias_table', 'resize_rel_pos',
    'load_pretrained'
]
