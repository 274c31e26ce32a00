"""The real detection configs: recipe values (docs/protocols.md §1–2), layer decay, each builds scaled down."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmdet.registry import MODELS
from mmdet.testing import demo_mm_inputs

from siameseim.detection.toy import COCO_CATEGORIES, LVIS_CATEGORIES, make_toy_coco, make_toy_lvis, scale_down

from checkout import REPO_ROOT

CONFIG_DIR = osp.join(REPO_ROOT, 'detection', 'configs')
CONFIGS = sorted(glob.glob(osp.join(CONFIG_DIR, '*.py')))



def load(name):
    return Config.fromfile(osp.join(CONFIG_DIR, name))


def test_coco_vit_b_recipe():
    cfg = load('mask-rcnn_vit-b_lsj-100e_coco.py')
    backbone = cfg.model.backbone
    assert (backbone.window_size, backbone.global_attn_indexes, backbone.use_rel_pos) == (14, (2, 5, 8, 11), True)
    assert (backbone.drop_path_rate, backbone.cls_token, backbone.final_norm, backbone.norm_eps) == (0.1, False, False, 1e-6)
    assert cfg.model.neck.norm_cfg.eps == 1e-6 and cfg.model.rpn_head.num_convs == 2
    assert cfg.model.roi_head.bbox_head.type == 'Shared4Conv1FCBBoxHead'
    assert cfg.model.roi_head.mask_head.norm_cfg.type == 'LN2d'
    assert cfg.model.data_preprocessor.pad_size_divisor == 1024 and 'pad_value' not in cfg.model.data_preprocessor
    resize = cfg.train_pipeline[3]
    assert resize.ratio_range == (0.1, 2.0) and resize.scale == (1024, 1024)
    assert not any(t.type == 'Pad' for t in cfg.train_pipeline + cfg.test_pipeline)  # mean-colour padding only
    optim = cfg.optim_wrapper
    assert (optim.optimizer.lr, optim.optimizer.weight_decay, optim.paramwise_cfg.layer_decay_rate) == (1e-4, 0.1, 0.7)
    warmup, steps = cfg.param_scheduler
    assert (warmup.end, warmup.start_factor) == (250, 0.001) and steps.milestones == [163889, 177546]
    assert cfg.train_cfg.max_iters == 184375 and cfg.train_dataloader.batch_size * 8 == 64
    assert any(h.type == 'Fp16CompressionHook' for h in cfg.custom_hooks)


def test_lvis_vit_b_recipe():
    cfg = load('mask-rcnn_vit-b_lsj-100e_lvis-v1.py')
    bbox_head = cfg.model.roi_head.bbox_head
    assert bbox_head.num_classes == cfg.model.roi_head.mask_head.num_classes == 1203
    assert (bbox_head.loss_cls.type, bbox_head.loss_cls.num_fed_classes, bbox_head.loss_cls.freq_weight_power) == \
        ('FederatedLoss', 50, 0.5)
    assert (cfg.model.test_cfg.rcnn.score_thr, cfg.model.test_cfg.rcnn.max_per_img) == (0.02, 300)
    assert cfg.train_dataloader.sampler == dict(type='RepeatFactorSampler', repeat_thr=0.001)
    assert cfg.optim_wrapper.optimizer.lr == 2e-4 and cfg.train_cfg.max_iters == 156250
    assert cfg.param_scheduler[1].milestones == [138889, 150463]
    assert cfg.val_evaluator.type == 'LVISEvalMetric' and cfg.val_evaluator.max_dets == 300


@pytest.mark.parametrize('name', ['mask-rcnn_vit-l_lsj-100e_coco.py', 'mask-rcnn_vit-l_lsj-100e_lvis-v1.py'])
def test_vit_l_variants(name):
    cfg = load(name)
    assert cfg.model.backbone.arch == 'large' and cfg.model.backbone.global_attn_indexes == (5, 11, 17, 23)
    assert cfg.model.neck.backbone_channel == 1024


def test_layer_decay_groups_of_the_vitdet_recipe():
    cfg = load('mask-rcnn_vit-b_lsj-100e_coco.py')
    cfg.model.backbone.update(img_size=(64, 64))
    model = MODELS.build(cfg.model)
    cfg.optim_wrapper.type = 'OptimWrapper'
    cfg.optim_wrapper.pop('loss_scale')
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    group_of = {name: g for g in optim.optimizer.param_groups for name in g['param_names']}
    assert group_of['roi_head.bbox_head.fc_cls.weight']['lr'] == pytest.approx(1e-4)
    assert group_of['backbone.blocks.11.attn.qkv.weight']['lr'] == pytest.approx(1e-4 * 0.7)
    assert group_of['backbone.blocks.0.mlp.fc1.weight']['lr'] == pytest.approx(1e-4 * 0.0138, rel=1e-2)
    assert group_of['backbone.patch_embed.proj.weight']['lr'] == pytest.approx(1e-4 * 0.0097, rel=1e-2)
    exempt = {name for name, g in group_of.items() if g['weight_decay'] == 0}
    assert exempt == {'backbone.pos_embed'} | {f'backbone.blocks.{i}.{n}.{p}' for i in range(12)
                                              for n in ('norm1', 'norm2') for p in ('weight', 'bias')}


@pytest.mark.parametrize('path', CONFIGS, ids=osp.basename)
def test_config_builds_and_trains_one_step_scaled_down(path, tmp_path):
    lvis = 'lvis' in osp.basename(path)
    root = (make_toy_lvis if lvis else make_toy_coco)(str(tmp_path))
    categories = LVIS_CATEGORIES if lvis else COCO_CATEGORIES
    cfg = scale_down(Config.fromfile(path), root, image_size=64, categories=categories)
    model = MODELS.build(cfg.model)
    model.init_weights()
    packed = demo_mm_inputs(2, [[3, 64, 64], [3, 48, 64]], num_items=[2, 3], num_classes=len(categories),
                            with_mask=True)
    data = model.data_preprocessor(packed, True)
    assert data['inputs'].shape[-2:] == (64, 64)  # square padding
    losses = model(**data, mode='loss')
    loss, _ = model.parse_losses(losses)
    assert torch.isfinite(loss)
    loss.backward()
    assert model.backbone.blocks[0].attn.qkv.weight.grad is not None
