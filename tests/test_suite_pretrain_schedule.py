"""The demo's tiny pretraining schedule: every run, however short, reaches its full learning rate."""
import pytest
import torch
from mmengine.optim import OptimWrapper
from mmengine.registry import PARAM_SCHEDULERS

from siameseim.suite.demo import pretrain_config, pretrain_schedule


def _learning_rates(param_scheduler, total_iters: int, lr: float, epoch_length: int = 1):
    """The lr of each of ``total_iters`` iterations under the schedulers of ``param_scheduler``, built as
    mmengine's runner builds them (``convert_to_iter_based`` ones with the epoch length); epoch-based ones step
    at the end of each epoch."""
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    wrapper = OptimWrapper(optimizer)
    schedulers = []
    for cfg in param_scheduler:
        cfg = dict(cfg, optimizer=wrapper)
        if cfg.get('convert_to_iter_based'):
            cfg['epoch_length'] = epoch_length
        schedulers.append(PARAM_SCHEDULERS.build(cfg))
    rates = []
    for step in range(total_iters):
        rates.append(optimizer.param_groups[0]['lr'])
        for scheduler in schedulers:
            if not scheduler.by_epoch or (step + 1) % epoch_length == 0:
                scheduler.step()
    return rates


@pytest.mark.parametrize('total_iters', [3, 4, 8, 31, 300])
def test_schedule_warms_up_to_the_full_lr_and_anneals(total_iters):
    rates = _learning_rates(pretrain_schedule(total_iters), total_iters, lr=1.5e-3)
    assert rates[0] == pytest.approx(1.5e-6)
    assert max(rates) == pytest.approx(1.5e-3, rel=1e-6)
    peak = rates.index(max(rates))
    assert all(later <= earlier for earlier, later in zip(rates[peak:], rates[peak + 1:]))


def test_schedule_refuses_a_run_too_short_to_warm_up():
    with pytest.raises(ValueError, match='at least 3 iterations'):
        pretrain_schedule(2)


@pytest.mark.parametrize('method', ['siameseim', 'mae'])
def test_a_one_iteration_epoch_still_trains_at_the_configured_lr(tmp_path, method):
    """40 images at batch 32 make one iteration an epoch: a warm-up of one epoch stayed at 1e-3 of the lr."""
    images = tmp_path / 'imagenet' / 'train' / 'n01440764'
    images.mkdir(parents=True)
    for index in range(40):
        (images / f'{index}.JPEG').write_bytes(b'')
    cfg = pretrain_config(method, str(tmp_path), iterations=8, batch_size=32)
    total = cfg.train_cfg.max_epochs * (40 // 32)
    assert total >= 8
    lr = cfg.optim_wrapper.optimizer.lr
    rates = _learning_rates(cfg.param_scheduler, total, lr, epoch_length=40 // 32)
    assert max(rates) == pytest.approx(lr, rel=1e-6)
