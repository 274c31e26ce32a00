"""The ImageNet configs carry the published recipes (docs/method.md §5.1, §5.2)."""
import os.path as osp

import pytest
import torch.nn as nn
from mmengine.config import Config
from mmengine.registry import init_default_scope

import siameseim.robustness  # noqa: F401
from siameseim.registry import MODELS, OPTIM_WRAPPER_CONSTRUCTORS

from checkout import REPO_ROOT

CONFIGS = osp.join(REPO_ROOT, 'robustness', 'configs')


def load(name):
    return Config.fromfile(osp.join(CONFIGS, name))


def total_batch(cfg, gpus=8):
    return cfg.train_dataloader.batch_size * gpus


def test_vit_b_finetune_recipe():
    cfg = load('vit-b_ft-100e_in1k.py')
    assert cfg.train_cfg.max_epochs == 100 and cfg.param_scheduler[0].end == 5
    assert total_batch(cfg) == 1024
    assert cfg.optim_wrapper.optimizer.lr * total_batch(cfg) / cfg.auto_scale_lr.base_batch_size == pytest.approx(1e-3)
    assert cfg.optim_wrapper.optimizer.betas == (0.9, 0.999) and cfg.optim_wrapper.optimizer.weight_decay == 0.05
    assert cfg.optim_wrapper.paramwise_cfg.layer_decay_rate == 0.65
    assert cfg.param_scheduler[1].eta_min_ratio * 1e-3 == pytest.approx(1e-6)
    model = cfg.model
    assert model.backbone.drop_path_rate == 0.1 and model.backbone.global_pool == 'avg'
    assert model.backbone.final_norm is False and model.head_init_std == 2e-5
    assert model.mixup == dict(mixup_alpha=0.8, cutmix_alpha=1.0, prob=1.0, switch_prob=0.5, mode='batch',
                               label_smoothing=0.1)
    assert cfg.train_dataloader.dataset.transform.type == 'FinetuneTrainTransform'


def test_vit_l_finetune_recipe():
    cfg = load('vit-l_ft-50e_in1k.py')
    assert cfg.train_cfg.max_epochs == 50 and cfg.param_scheduler[1].end == 50
    assert cfg.model.backbone.arch == 'large' and cfg.optim_wrapper.paramwise_cfg.layer_decay_rate == 0.75


def test_linear_probe_recipe():
    cfg = load('vit-b_linear-90e_in1k.py')
    assert total_batch(cfg) == 16384 and cfg.train_cfg.max_epochs == 90 and cfg.param_scheduler[0].end == 10
    assert cfg.optim_wrapper.optimizer.type == 'LARS' and cfg.optim_wrapper.optimizer.weight_decay == 0
    assert cfg.optim_wrapper.optimizer.lr * total_batch(cfg) / 256 == pytest.approx(6.4)
    assert cfg.model.head == 'bn_linear' and cfg.model.head_init_std == 0.01
    assert cfg.train_dataloader.dataset.transform.type == 'LinearProbeTrainTransform'


def test_finetune_model_layer_decay_groups():
    cfg = load('vit-tiny_ft-4e_toy.py')
    init_default_scope('siameseim')
    model = MODELS.build(cfg.model)
    assert model.backbone.pos_embed.requires_grad is False and model.backbone.fc_norm is not None
    assert model.backbone.norm is None and model.backbone.head.out_features == 1000
    wrapper = dict(cfg.optim_wrapper)
    constructor = OPTIM_WRAPPER_CONSTRUCTORS.build(dict(type=wrapper.pop('constructor'), optim_wrapper_cfg=wrapper,
                                                        paramwise_cfg=wrapper.pop('paramwise_cfg')))
    groups = constructor(model).optimizer.param_groups
    scale = {name: group['lr_scale'] for group in groups for name in group['param_names']}
    assert scale['backbone.head.weight'] == 1.0
    assert scale['backbone.blocks.0.attn.qkv.weight'] == pytest.approx(0.65 ** 2)   # depth 2: id 1 of 3
    assert scale['backbone.patch_embed.proj.weight'] == pytest.approx(0.65 ** 3)


def test_linear_probe_model_freezes_everything_but_the_head():
    cfg = load('vit-tiny_linear-4e_toy.py')
    model = MODELS.build(cfg.model)
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    assert trainable == ['head.1.weight', 'head.1.bias']
    bn = model.head[0]
    assert isinstance(bn, nn.BatchNorm1d) and not bn.affine and bn.eps == 1e-6
    model.train()
    assert not model.backbone.training and bn.training
