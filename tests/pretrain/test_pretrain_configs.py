"""Pretraining configs: they load, carry the released hyperparameters, and build the released model sizes."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook

from siameseim.pretrain.data import FastSiameseTwoViewTransform, SiameseTwoViewTransform
from siameseim.pretrain.hooks import FiniteLossHook
from siameseim.registry import MODELS, TRANSFORMS

from checkout import REPO_ROOT

CONFIG_DIR = osp.join(REPO_ROOT, 'pretrain', 'configs')
CONFIGS = sorted(glob.glob(osp.join(CONFIG_DIR, '*.py')))


@pytest.mark.parametrize('path', CONFIGS, ids=osp.basename)
def test_config_loads_with_a_model_data_and_schedule(path):
    cfg = Config.fromfile(path)
    assert cfg.model.type in ('SiameseIM', 'MAE')
    assert cfg.train_dataloader.drop_last
    assert cfg.train_dataloader.sampler.type == 'EpochIndexSampler'
    assert cfg.optim_wrapper.constructor == 'LayerDecayOptimWrapperConstructor'
    assert any(hook.type == 'FiniteLossHook' for hook in cfg.custom_hooks)


def test_released_vit_b_recipe():
    cfg = Config.fromfile(osp.join(CONFIG_DIR, 'siameseim_vit-base-p16_8xb512-amp-coslr-1600e_in1k.py'))
    optimizer = cfg.optim_wrapper.optimizer
    total_batch = 8 * cfg.train_dataloader.batch_size
    assert total_batch == 4096
    assert optimizer.lr * total_batch / cfg.auto_scale_lr.base_batch_size == pytest.approx(1e-3)
    assert optimizer.betas == (0.9, 0.95) and optimizer.weight_decay == 0.05
    assert cfg.optim_wrapper.clip_grad.max_norm == 1.0
    assert cfg.optim_wrapper.paramwise_cfg.no_decay_names == ()
    assert cfg.train_cfg.max_epochs == 1600
    warmup, cosine = cfg.param_scheduler
    assert (warmup.end, cosine.begin, cosine.end, cosine.eta_min) == (40, 40, 1600, 0.0)
    assert cfg.train_dataloader.dataset.mask_generator.num_masking_patches == 118
    assert cfg.train_dataloader.dataset.transform.crop_min == 0.08
    momentum = [hook for hook in cfg.custom_hooks if hook.type == 'MomentumUpdateHook'][0]
    assert (momentum.base_momentum, momentum.schedule) == (0.995, 'cosine')
    assert cfg.sync_bn == 'torch'


@pytest.mark.parametrize('path', [path for path in CONFIGS if 'siameseim' in osp.basename(path)], ids=osp.basename)
def test_siameseim_configs_default_to_the_fast_pipeline_and_keep_the_pil_one_selectable(path):
    cfg = Config.fromfile(path)
    transform = cfg.train_dataloader.dataset.transform
    assert transform.type == 'FastSiameseTwoViewTransform'
    fast = TRANSFORMS.build(transform.to_dict())
    pil = TRANSFORMS.build({**transform.to_dict(), 'type': 'SiameseTwoViewTransform'})   # the --cfg-options switch
    assert type(fast) is FastSiameseTwoViewTransform and type(pil) is SiameseTwoViewTransform
    assert (fast.input_size, fast.scale, fast.ratio) == (pil.input_size, pil.scale, pil.ratio)


def test_released_vit_b_model_has_the_spec_parameter_counts():
    cfg = Config.fromfile(osp.join(CONFIG_DIR, 'siameseim_vit-base-p16_8xb512-amp-coslr-1600e_in1k.py'))
    model = MODELS.build(cfg.model)

    def millions(module):
        return sum(p.numel() for p in module.parameters()) / 1e6

    assert millions(model.encoder.blocks) == pytest.approx(85.0, abs=0.1)
    assert millions(model.projector) == pytest.approx(14.2, abs=0.1)
    assert millions(model.predictor) == pytest.approx(28.3, abs=0.1)
    assert millions(model.decoder_pos_mlp) == pytest.approx(1.18, abs=0.01)
    assert model.predictor[0].attn.num_heads == 16
    assert model.encoder.norm is None


def test_finite_loss_hook_stops_at_nan():
    hook = FiniteLossHook()
    assert isinstance(hook, Hook)

    class Runner:
        iter = 41

    hook.after_train_iter(Runner(), 0, outputs=dict(loss=torch.tensor(0.5)))
    with pytest.raises(FloatingPointError, match='loss is nan at iteration 42'):
        hook.after_train_iter(Runner(), 0, outputs=dict(loss=torch.tensor(float('nan'))))
