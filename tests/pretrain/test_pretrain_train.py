"""End-to-end pretraining through ``tools/train.py`` on the CPU: the loss falls, and a killed run resumes exactly."""
import os
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.hooks import Hook

from siameseim.cli import train
from siameseim.registry import HOOKS

from checkout import REPO_ROOT

ROOT = REPO_ROOT
TOY_CONFIG = osp.join(ROOT, 'pretrain', 'configs', 'siameseim_vit-tiny-p16_1xb8-20e_toy.py')
RECORDED_LOSSES = []


class RecordLossHook(Hook):
    """Keeps every iteration's loss, and stops the process mid-epoch when asked (a simulated kill)."""

    def __init__(self, kill_at_iter: int = -1) -> None:
        self.kill_at_iter = kill_at_iter

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter == self.kill_at_iter:
            raise KeyboardInterrupt('simulated kill')

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        RECORDED_LOSSES.append((runner.iter, outputs['loss'].item()))


@pytest.fixture(scope='module', autouse=True)
def record_loss_hook_registered():
    """``RecordLossHook`` in the project's hook registry for this module's runs only."""
    HOOKS.register_module(module=RecordLossHook)
    yield
    HOOKS._module_dict.pop(RecordLossHook.__name__)  # mmengine registries have no public unregister


def run_training(work_dir, image_folder, max_epochs, kill_at_iter=-1):
    """Train the toy config through ``tools/train.py`` (auto-resuming), recording every iteration's loss."""
    RECORDED_LOSSES.clear()
    work_dir.mkdir(parents=True, exist_ok=True)
    config = work_dir.parent / f'{work_dir.name}_config.py'
    config.write_text(f"_base_ = [{TOY_CONFIG!r}]\n"
                      "custom_hooks = [dict(type='MomentumUpdateHook', base_momentum=0.995),\n"
                      f"                dict(type='RecordLossHook', kill_at_iter={kill_at_iter})]\n")
    argv = [
        str(config), '--work-dir', str(work_dir), '--cfg-options', f'train_dataloader.dataset.root={image_folder}',
        f'train_cfg.max_epochs={max_epochs}', 'default_hooks.checkpoint.interval=1',
        'default_hooks.checkpoint.max_keep_ckpts=10', 'default_hooks.logger.interval=1'
    ]
    try:
        train.main(argv)
    except KeyboardInterrupt:
        pass
    assert 'LOCAL_RANK' not in os.environ, 'tools/train.py left its LOCAL_RANK behind'
    return list(RECORDED_LOSSES)


def load_state(path):
    return torch.load(path, map_location='cpu', weights_only=True)


@pytest.mark.slow
def test_tiny_run_lowers_the_loss(tmp_path, image_folder):
    losses = [loss for _, loss in run_training(tmp_path / 'run', image_folder, max_epochs=12)]
    assert len(losses) == 24
    assert all(np.isfinite(losses))
    assert np.mean(losses[-4:]) < 0.8 * np.mean(losses[:4])
    assert osp.isfile(tmp_path / 'run' / 'epoch_12.pth')


@pytest.mark.slow
def test_killed_run_resumes_with_identical_state_and_next_loss(tmp_path, image_folder):
    reference = dict(run_training(tmp_path / 'reference', image_folder, max_epochs=4))
    killed_dir = tmp_path / 'killed'
    before_kill = dict(run_training(killed_dir, image_folder, max_epochs=4, kill_at_iter=5))
    assert max(before_kill) == 4 and not osp.exists(killed_dir / 'epoch_3.pth')
    resumed = dict(run_training(killed_dir, image_folder, max_epochs=4))
    assert min(resumed) == 4, 'the resumed run must continue right after the last checkpoint (epoch 2)'

    checkpoint_ref = load_state(tmp_path / 'reference' / 'epoch_2.pth')
    checkpoint_killed = load_state(killed_dir / 'epoch_2.pth')
    for key, value in checkpoint_ref['state_dict'].items():
        assert torch.equal(value, checkpoint_killed['state_dict'][key]), key
    assert any(key.startswith('target_encoder.blocks') for key in checkpoint_ref['state_dict'])
    assert checkpoint_ref['param_schedulers'] == checkpoint_killed['param_schedulers']
    ref_moments = checkpoint_ref['optimizer']['state']
    for index, state in checkpoint_killed['optimizer']['state'].items():
        assert torch.equal(state['exp_avg'], ref_moments[index]['exp_avg'])

    for iteration in range(4, 8):
        assert resumed[iteration] == pytest.approx(reference[iteration], rel=1e-6), iteration
    final_ref = load_state(tmp_path / 'reference' / 'epoch_4.pth')['state_dict']
    final_resumed = load_state(killed_dir / 'epoch_4.pth')['state_dict']
    for key, value in final_ref.items():
        assert torch.allclose(value.float(), final_resumed[key].float(), atol=1e-6), key
