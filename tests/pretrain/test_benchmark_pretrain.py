"""The pretraining benchmark: its official-style baseline computes the same step, and the CPU smoke run works."""

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from siameseim.pretrain.cli import benchmark_pretrain


def test_official_style_baseline_computes_the_same_loss_and_ema():
    cfg = Config.fromfile(benchmark_pretrain.TINY_CONFIG)
    init_default_scope('siameseim')
    torch.manual_seed(0)
    model, _ = benchmark_pretrain.build(cfg, torch.device('cpu'), 'bfloat16', False)
    batch = benchmark_pretrain.synthetic_batch(
        model, 4, torch.device('cpu'), cfg.train_dataloader.dataset.mask_generator.to_dict())
    with torch.no_grad():
        for param in model.target_encoder.blocks.parameters():
            param.add_(0.1)
    state = {key: value.clone() for key, value in model.state_dict().items()}
    fast_loss = model(**batch)['loss']
    model.momentum_update(0.9)
    fast_state = {key: value.clone() for key, value in model.state_dict().items()}
    model.load_state_dict(state)
    with benchmark_pretrain.official_style(model):
        assert model.encoder.blocks[0].attn.attn_impl == 'eager'
        slow_loss = model(**batch)['loss']
        model.momentum_update(0.9)
    assert model.encoder.blocks[0].attn.attn_impl == 'sdpa'
    assert torch.allclose(fast_loss, slow_loss, rtol=1e-5)
    for key, value in model.state_dict().items():
        assert torch.allclose(value, fast_state[key], atol=1e-6), key


def test_cpu_smoke_run_prints_measured_figures(capsys):
    threads = torch.get_num_threads()
    assert benchmark_pretrain.main(
        ['--tiny', '--device', 'cpu', '--batch-sizes', '2', '--warmup', '1', '--iters', '1', '--data-images', '4']) == 0
    out = capsys.readouterr().out
    assert 'img/s' in out and 'speed-up' in out and 'images/s per CPU core' in out
    assert torch.get_num_threads() == threads  # the single-core data measurement leaves the process as it was
