"""The ablation's configs (docs/ablation.md): one per paper row, each setting exactly that row's switches on one
shared recipe; every row and MoCo-v3 train at the toy scale through ``tools/train.py`` and lower their loss."""
import glob
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook

from siameseim.cli import train
from siameseim.pretrain.ablation import (ABLATION_CONFIG_DIR, ROWS, SWITCH_NAMES, config_switches, row_config_path,
                                         tiny_config)
from siameseim.registry import HOOKS, MODELS

CONFIG_DIR = osp.dirname(ABLATION_CONFIG_DIR)
BASE = osp.join(ABLATION_CONFIG_DIR, '_base_', 'siameseim-ablation_vit-base-p16_8xb512-amp-coslr-400e_in1k.py')
MOCO_DIR = osp.join(CONFIG_DIR, 'mocov3')
# Model arguments that are switches (or follow from the head type); everything else is the shared recipe.
MODEL_SWITCH_KEYS = ('target', 'head', 'loss', 'loss_form', 'loss_region', 'projector_norm', 'predictor_norm',
                     'projector_depth', 'predictor_depth')
RECORDED_LOSSES = []


def without_switches(model) -> dict:
    """A model config without its switch arguments: what every row must share."""
    return {key: value for key, value in model.to_dict().items() if key not in MODEL_SWITCH_KEYS}


def test_one_config_per_row_and_nothing_else():
    files = sorted(osp.basename(path) for path in glob.glob(osp.join(ABLATION_CONFIG_DIR, '*.py')))
    assert [name[0] for name in files] == list(ROWS)
    assert [osp.basename(row_config_path(row)) for row in ROWS] == files


@pytest.mark.parametrize('row', list(ROWS))
def test_row_config_sets_the_papers_switches_on_the_shared_recipe(row):
    cfg, base = Config.fromfile(row_config_path(row)), Config.fromfile(BASE)
    assert config_switches(cfg) == ROWS[row].switches
    assert set(config_switches(cfg)) == set(SWITCH_NAMES)
    assert without_switches(cfg.model) == without_switches(base.model)
    for key in ('optim_wrapper', 'param_scheduler', 'train_cfg', 'custom_hooks', 'auto_scale_lr', 'sync_bn'):
        assert cfg[key] == base[key], key
    transform = {k: v for k, v in cfg.train_dataloader.dataset.transform.items() if k not in ('views', 'color_aug')}
    assert transform == {k: v for k, v in base.train_dataloader.dataset.transform.items()
                         if k not in ('views', 'color_aug')}
    assert cfg.train_cfg.max_epochs == 400 and cfg.train_dataloader.batch_size * 8 == 4096


def test_base_is_the_released_siameseim_at_400_epochs():
    cfg = Config.fromfile(BASE)
    released = Config.fromfile(osp.join(CONFIG_DIR, 'siameseim_vit-base-p16_8xb512-amp-coslr-400e_in1k.py'))
    assert config_switches(cfg) == config_switches(released) == ROWS['i'].switches
    model = {k: v for k, v in cfg.model.to_dict().items() if k not in ('target', 'head', 'loss', 'loss_form',
                                                                        'loss_region', 'mlp_hidden_dim')}
    assert model == released.model.to_dict()


def test_mask_switch_keeps_each_kinds_released_ratio():
    for row in ROWS:
        generator = Config.fromfile(row_config_path(row)).train_dataloader.dataset.mask_generator
        expected = 147 if ROWS[row].switches['mask'] == 'random' else 118
        assert generator.num_masking_patches == expected and generator.input_size == 14


@pytest.mark.parametrize('row', list(ROWS))
def test_tiny_row_builds_with_its_switches(row):
    cfg = tiny_config(Config.fromfile(row_config_path(row)), 'unused')
    model = MODELS.build(cfg.model)
    switches = ROWS[row].switches
    assert (model.target, model.head, model.loss_form) == (switches['target'], switches['head'],
                                                          switches['loss_form'])
    assert model.encoder.embed_dim == 64 and model.encoder.grid_size == (4, 4)
    assert cfg.train_dataloader.dataset.mask_generator.input_size == 4


def test_mocov3_vit_b_recipe():
    cfg = Config.fromfile(osp.join(MOCO_DIR, 'mocov3_vit-base-p16_8xb512-amp-coslr-300e_in1k.py'))
    assert cfg.model.type == 'MoCoV3' and cfg.model.temperature == 0.2
    assert (cfg.model.dim, cfg.model.mlp_dim, cfg.model.train_patch_embed) == (256, 4096, False)
    assert cfg.model.encoder.final_norm and cfg.model.encoder.arch == 'base'
    optimizer = cfg.optim_wrapper.optimizer
    assert (optimizer.type, optimizer.lr, optimizer.betas, optimizer.weight_decay) == ('AdamW', 1.5e-4, (0.9, 0.999),
                                                                                       0.1)
    assert cfg.optim_wrapper.paramwise_cfg.decay_norm_and_bias and cfg.optim_wrapper.clip_grad is None
    assert cfg.auto_scale_lr == dict(enable=True, base_batch_size=256) and cfg.train_dataloader.batch_size == 512
    assert cfg.train_cfg.max_epochs == 300 and cfg.param_scheduler[0].end == 40
    assert cfg.param_scheduler[1].T_max == 260 and cfg.param_scheduler[1].end == 300
    momentum = next(hook for hook in cfg.custom_hooks if hook.type == 'MomentumUpdateHook')
    assert (momentum.base_momentum, momentum.schedule) == (0.99, 'cosine')
    dataset = cfg.train_dataloader.dataset
    assert dataset.mask_generator is None and dataset.transform.crop_min == 0.08


class RecordLossHook(Hook):
    """Keeps every iteration's loss."""

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        RECORDED_LOSSES.append(outputs['loss'].item())


@pytest.fixture(scope='module')
def record_loss_hook():
    HOOKS.register_module(module=RecordLossHook, force=True)
    yield
    HOOKS._module_dict.pop(RecordLossHook.__name__)  # mmengine registries have no public unregister


def train_tiny(cfg: Config, work_dir) -> list:
    """Train ``cfg`` for 8 epochs of 2 iterations through ``tools/train.py``; every iteration's loss."""
    RECORDED_LOSSES.clear()
    cfg.custom_hooks = list(cfg.custom_hooks) + [dict(type='RecordLossHook')]
    cfg.train_cfg.max_epochs = 8
    cfg.default_hooks.checkpoint.interval = 8
    cfg.default_hooks.logger.interval = 8
    work_dir.mkdir(parents=True, exist_ok=True)
    config = work_dir / 'config.py'
    cfg.dump(str(config))
    train.main([str(config), '--work-dir', str(work_dir)])
    return list(RECORDED_LOSSES)


def assert_learns(losses) -> None:
    """Finite, and lower over the last 4 iterations than over the first 4 (the toy schedule warms up for 4)."""
    assert len(losses) == 16 and all(np.isfinite(losses))
    assert np.mean(losses[-4:]) < np.mean(losses[:4]), losses


@pytest.mark.slow
@pytest.mark.parametrize('row', list(ROWS))
def test_every_rows_tiny_variant_trains_and_lowers_its_loss(row, tmp_path, image_folder, record_loss_hook):
    torch.manual_seed(0)
    losses = train_tiny(tiny_config(Config.fromfile(row_config_path(row)), image_folder), tmp_path / row)
    assert_learns(losses)
    assert osp.isfile(tmp_path / row / 'epoch_8.pth')


@pytest.mark.slow
def test_mocov3_toy_config_trains_and_lowers_its_loss(tmp_path, image_folder, record_loss_hook):
    cfg = Config.fromfile(osp.join(MOCO_DIR, 'mocov3_vit-tiny-p16_1xb8-20e_toy.py'))
    cfg.train_dataloader.dataset.root = image_folder
    assert_learns(train_tiny(cfg, tmp_path / 'mocov3'))
