"""The NaN guard: no checkpoint with NaN/inf weights or optimizer state is written, and a resumed run can take a
new (lower) lr from the config, as the guards' messages say (docs/reliability.md)."""

import pytest
import torch

import toy_run
from siameseim.pretrain.hooks import FiniteLossHook
from siameseim.engine import RESUME_WITH_LOWER_LR

from siameseim.cli import train

RESUME_OPTION = '--cfg-options optim_wrapper.optimizer.lr=<lower lr>'


def _train(config, work_dir, *options):
    return train.main(toy_run.tool_argv(config, work_dir, *options))


# linear.weight is the first parameter with optimizer state (the frozen padding has none)
@pytest.mark.parametrize('target, bad_key', [('weights', 'state_dict.linear.weight'),
                                             ('optimizer', 'optimizer.state.0.momentum_buffer')])
def test_non_finite_state_is_never_saved(target, bad_key, tmp_path, capsys):
    """The last iteration of epoch 2 poisons the weights or the optimizer state just before epoch 2 is saved."""
    config = toy_run.write_config(tmp_path, max_keep_ckpts=1, extra=(
        f"custom_hooks = [dict(type='PoisonHook', at_iter=8, target='{target}')]"))
    work_dir = tmp_path / 'work'
    assert _train(config, work_dir) == 1
    error = capsys.readouterr().err.strip().splitlines()[-1]
    epoch_1 = work_dir / 'epoch_1.pth'
    assert error == (f'error: training diverged: 1 tensors hold NaN or inf at iteration 8 ({bad_key}); no checkpoint '
                     f'was written and the last checkpoint, {epoch_1}, is unchanged: resume with a lower lr: '
                     f'{RESUME_WITH_LOWER_LR}')
    assert RESUME_OPTION in error
    assert not (work_dir / 'epoch_2.pth').exists()
    assert toy_run.pointer(work_dir) == str(epoch_1)
    saved = torch.load(epoch_1, weights_only=True)
    assert all(torch.isfinite(value).all() for value in saved['state_dict'].values())


def test_divergence_before_the_first_checkpoint_says_there_is_none(tmp_path, capsys):
    config = toy_run.write_config(tmp_path, extra="custom_hooks = [dict(type='PoisonHook', at_iter=4)]")
    assert _train(config, tmp_path / 'work') == 1
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert 'no checkpoint was written and there is no earlier checkpoint: resume with a lower lr' in error
    assert not list((tmp_path / 'work').glob('*.pth'))


def _lrs(config, work_dir, *options):
    toy_run.RECORDED_LRS.clear()
    assert _train(config, work_dir, *options) == 0
    return dict(toy_run.RECORDED_LRS)


def test_resume_with_a_lower_lr_follows_the_config(tmp_path):
    """Without the rescale the resumed optimizer and scheduler states brought the old lr back."""
    config = toy_run.write_config(tmp_path)
    uninterrupted = _lrs(config, tmp_path / 'whole', 'train_cfg.max_epochs=4')
    _lrs(config, tmp_path / 'split', 'train_cfg.max_epochs=2')
    resumed = _lrs(config, tmp_path / 'split', 'train_cfg.max_epochs=4', 'optim_wrapper.optimizer.lr=0.01')
    assert sorted(resumed) == list(range(8, 16))
    for iteration, lrs in resumed.items():  # every group (bias at half the lr) and the logged base lr
        assert len(lrs) == 3 and lrs == pytest.approx([0.1 * lr for lr in uninterrupted[iteration]], rel=1e-9)
    assert 'resumed lr rescaled to the config: base lr 0.1 -> 0.01 (x0.1)' in toy_run.log_text(tmp_path / 'split')
    optimizer = torch.load(tmp_path / 'split' / 'epoch_4.pth', weights_only=True)['optimizer']
    assert [group['initial_lr'] for group in optimizer['param_groups']] == pytest.approx([0.01, 0.005])
    assert optimizer['base_param_settings']['initial_lr'] == pytest.approx(0.01)


def test_resume_with_the_same_lr_is_unchanged(tmp_path):
    config = toy_run.write_config(tmp_path)
    uninterrupted = _lrs(config, tmp_path / 'whole', 'train_cfg.max_epochs=4')
    _lrs(config, tmp_path / 'split', 'train_cfg.max_epochs=2')
    resumed = _lrs(config, tmp_path / 'split', 'train_cfg.max_epochs=4')
    assert resumed == {iteration: uninterrupted[iteration] for iteration in range(8, 16)}
    assert 'resumed lr rescaled' not in toy_run.log_text(tmp_path / 'split')


def test_finite_loss_hook_names_the_way_to_resume_with_a_lower_lr():
    class Runner:
        iter = 41

    with pytest.raises(FloatingPointError) as raised:
        FiniteLossHook().after_train_iter(Runner(), 0, outputs=dict(loss=torch.tensor(float('inf'))))
    assert 'loss is inf at iteration 42' in str(raised.value) and RESUME_OPTION in str(raised.value)
