"""MoCo-v3 baseline: InfoNCE against a direct statement of the official loss, the model's branches, EMA and init."""
import math
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from siameseim.pretrain.losses import InfoNCELoss, infonce_loss
from siameseim.pretrain.models import MLPHead, MoCoV3, TokenBatchNorm

ENCODER = dict(arch=None, embed_dim=32, depth=2, num_heads=4, img_size=32, patch_size=8, final_norm=True)


def direct_infonce(query: torch.Tensor, key: torch.Tensor, temperature: float, offset: int = 0) -> torch.Tensor:
    """``2τ · mean_n −log( exp(q̂ₙ·k̂ₙ₊ₒ/τ) / Σₘ exp(q̂ₙ·k̂ₘ/τ) )`` in fp64, written out per sample; the positive of
    query ``n`` is key ``n + offset``."""
    query, key = query.double(), key.double()
    query = query / query.norm(dim=1, keepdim=True)
    key = key / key.norm(dim=1, keepdim=True)
    terms = []
    for n in range(query.shape[0]):
        similarities = [float(query[n] @ key[m]) / temperature for m in range(key.shape[0])]
        log_denominator = math.log(sum(math.exp(s) for s in similarities))
        terms.append(log_denominator - similarities[n + offset])
    return torch.tensor(2 * temperature * sum(terms) / len(terms), dtype=torch.float64)


def randn(*shape, seed):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize('temperature', [0.2, 1.0])
def test_infonce_equals_the_direct_formula_with_the_two_tau_scaling(temperature):
    query, key = 3 * randn(6, 5, seed=0), randn(6, 5, seed=1) + 0.5
    assert float(infonce_loss(query, key, temperature)) == pytest.approx(
        float(direct_infonce(query, key, temperature)), rel=1e-6)
    unscaled = torch.nn.functional.cross_entropy(
        torch.nn.functional.normalize(query) @ torch.nn.functional.normalize(key).T / temperature, torch.arange(6))
    assert float(infonce_loss(query, key, temperature)) == pytest.approx(2 * temperature * float(unscaled), rel=1e-6)


def test_two_crop_loss_is_symmetrised_and_the_keys_get_no_gradient():
    q1, q2 = randn(4, 8, seed=2).requires_grad_(), randn(4, 8, seed=3).requires_grad_()
    k1, k2 = randn(4, 8, seed=4).requires_grad_(), randn(4, 8, seed=5).requires_grad_()
    loss = InfoNCELoss(0.2)(q1, q2, k1, k2)
    expected = direct_infonce(q1.detach(), k2.detach(), 0.2) + direct_infonce(q2.detach(), k1.detach(), 0.2)
    assert float(loss.detach()) == pytest.approx(float(expected.detach()), rel=1e-6)
    loss.backward()
    assert q1.grad is not None and q2.grad is not None and k1.grad is None and k2.grad is None
    # each query is contrasted with the other crop's keys: swapping the keys changes the loss
    assert float(InfoNCELoss(0.2)(q1, q2, k2, k1).detach()) != pytest.approx(float(loss.detach()), rel=1e-3)


def test_infonce_checks_its_inputs():
    with pytest.raises(ValueError, match='temperature must be positive'):
        InfoNCELoss(0.0)
    with pytest.raises(ValueError, match=r'query and key must be \[N, D\]'):
        infonce_loss(randn(4, 8, seed=0), randn(3, 8, seed=1))


WORLD_SIZE = 2


def gather_worker(rank: int, init_file: str, out_dir: str) -> None:
    """One rank: InfoNCE of its half of the queries against the keys of both ranks."""
    torch.set_num_threads(1)
    dist.init_process_group('gloo', init_method=f'file://{init_file}', rank=rank, world_size=WORLD_SIZE)
    try:
        query, key = randn(8, 5, seed=0), randn(8, 5, seed=1)
        shard = slice(rank * 4, (rank + 1) * 4)
        torch.save(infonce_loss(query[shard], key[shard], 0.2), Path(out_dir, f'rank{rank}.pt'))
    finally:
        dist.destroy_process_group()


def test_keys_of_every_rank_are_negatives_and_each_ranks_positives_are_offset(tmp_path):
    mp.spawn(gather_worker, args=(str(tmp_path / 'init'), str(tmp_path)), nprocs=WORLD_SIZE)
    losses = [torch.load(tmp_path / f'rank{rank}.pt') for rank in range(WORLD_SIZE)]
    query, key = randn(8, 5, seed=0), randn(8, 5, seed=1)
    for rank, loss in enumerate(losses):
        expected = direct_infonce(query[rank * 4:(rank + 1) * 4], key, 0.2, offset=rank * 4)
        assert float(loss) == pytest.approx(float(expected), rel=1e-6)
    # the mean over ranks (what DDP optimises) is the one-process loss over the global batch
    assert float(sum(losses) / WORLD_SIZE) == pytest.approx(float(direct_infonce(query, key, 0.2)), rel=1e-6)
    assert float(losses[0]) != pytest.approx(float(direct_infonce(query[:4], key[:4], 0.2)), rel=1e-3)


def tiny_moco() -> MoCoV3:
    torch.manual_seed(0)
    return MoCoV3(encoder=ENCODER, dim=16, mlp_dim=24).train()


def test_mocov3_heads_follow_the_reference_layout():
    model = tiny_moco()
    layers = [type(module).__name__ for module in model.projector]
    assert layers == ['Linear', 'TokenBatchNorm', 'ReLU', 'Linear', 'TokenBatchNorm', 'ReLU', 'Linear',
                      'TokenBatchNorm']
    assert [type(module).__name__ for module in model.predictor] == ['Linear', 'TokenBatchNorm', 'ReLU', 'Linear',
                                                                      'TokenBatchNorm']
    assert all(module.bias is None for module in model.projector if isinstance(module, torch.nn.Linear))
    last_bn = model.projector[-1]
    assert isinstance(last_bn, TokenBatchNorm) and last_bn.bn.weight is None, "the last BN has no affine"
    assert isinstance(model.predictor, MLPHead) and model.predictor[-1].bn.weight is None
    assert not any(p.requires_grad for p in model.encoder.patch_embed.parameters()), 'stop-grad patch projection'
    assert not any(p.requires_grad for p in model.target_encoder.parameters())
    assert not any(p.requires_grad for p in model.target_projector.parameters())


def test_mocov3_init_treats_q_k_v_as_three_matrices():
    model = tiny_moco()
    qkv = model.encoder.blocks[0].attn.qkv.weight
    bound = math.sqrt(6.0 / (32 + 32))
    assert qkv.abs().max() <= bound and qkv.abs().max() > 0.9 * bound
    assert model.encoder.cls_token.abs().max() < 1e-4
    assert torch.count_nonzero(model.encoder.patch_embed.proj.bias) == 0
    assert torch.equal(model.encoder.blocks[0].attn.qkv.weight, model.target_encoder.blocks[0].attn.qkv.weight)


def test_mocov3_forward_contrasts_each_crops_query_with_the_other_crops_key():
    model = tiny_moco()
    view1, view2 = randn(4, 3, 32, 32, seed=0), randn(4, 3, 32, 32, seed=1)
    out = model(view1, view2, mode='tensor')
    assert {key: tuple(value.shape) for key, value in out.items()} == {
        'query1': (4, 16), 'query2': (4, 16), 'key1': (4, 16), 'key2': (4, 16)}
    loss = model(view1, view2, relpos=torch.zeros(4, 6))['loss']
    expected = InfoNCELoss(0.2)(out['query1'], out['query2'], out['key1'], out['key2'])
    assert float(loss.detach()) == pytest.approx(float(expected.detach()), rel=1e-6)
    loss.backward()
    assert model.encoder.blocks[0].attn.qkv.weight.grad is not None
    assert model.target_encoder.blocks[0].attn.qkv.weight.grad is None
    with pytest.raises(ValueError, match="MoCoV3 supports mode='loss' or 'tensor'"):
        model(view1, view2, mode='predict')


def test_mocov3_momentum_update_moves_encoder_and_projector_only():
    model = tiny_moco()
    with torch.no_grad():
        for parameter in list(model.encoder.parameters()) + list(model.projector.parameters()):
            if parameter.requires_grad:
                parameter.add_(1.0)
    before = {key: value.clone() for key, value in model.state_dict().items()}
    model.momentum_update(0.75)
    after = model.state_dict()
    for key, value in after.items():
        if key.startswith(('target_encoder.', 'target_projector.')) and 'running' not in key and \
                'num_batches' not in key and 'patch_embed' not in key and 'pos_embed' not in key:
            online = before[key.replace('target_', '', 1)]
            torch.testing.assert_close(value, 0.75 * before[key] + 0.25 * online)
        elif not key.startswith(('target_encoder.', 'target_projector.')):
            assert torch.equal(value, before[key])
    assert torch.equal(after['target_encoder.patch_embed.proj.weight'], after['encoder.patch_embed.proj.weight'])
