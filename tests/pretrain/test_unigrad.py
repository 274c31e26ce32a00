"""UniGrad loss: formula, norms, fp32 under autocast, DDP equivalence and no N×N matrix (docs/method.md §2, §8)."""
from pathlib import Path
from typing import Dict, Tuple

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel
from torch.overrides import TorchFunctionMode

from siameseim.pretrain.losses import UniGradLoss, target_second_moment, unigrad_loss


def randn(*shape: int, seed: int = 0, scale: float = 1.0, shift: float = 0.0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)) * scale + shift


def reference(pred: torch.Tensor, target: torch.Tensor, neg_weight: float, form: str) -> Dict[str, torch.Tensor]:
    """Direct fp64 transcription of docs/method.md §2, ``neg`` in the official diagonal or the Frobenius form."""
    p = pred.reshape(-1, pred.shape[-1]).double()
    t = target.reshape(-1, target.shape[-1]).double()
    n, d = p.shape
    c = t.T @ t / n
    pos = ((p - t)**2).sum(dim=1).mean()
    if form == 'diagonal':
        neg = torch.diagonal(p @ c @ p.T).mean()
    else:
        neg = (c * (p.T @ p)).sum() / n
    return dict(loss=(pos + neg_weight * neg) / d, pos=pos, neg=neg)


def layer_norm(x: torch.Tensor, eps: float) -> torch.Tensor:
    """LayerNorm over the last dimension without affine, written out."""
    x = x.double()
    return (x - x.mean(-1, keepdim=True)) / torch.sqrt(x.var(-1, unbiased=False, keepdim=True) + eps)


def assert_rel_close(actual: torch.Tensor, expected: torch.Tensor, rtol: float) -> None:
    """``|a − e| ≤ rtol·max|e|`` elementwise, in fp64."""
    actual, expected = actual.double(), expected.double()
    torch.testing.assert_close(actual, expected, rtol=0, atol=rtol * expected.abs().max().item())


@pytest.mark.parametrize('form', ['diagonal', 'frobenius'])
@pytest.mark.parametrize('shape', [(3, 49, 32), (150, 32)])
@pytest.mark.parametrize('neg_weight', [0.02, 0.5])
def test_matches_transcription_and_its_gradient(form, shape, neg_weight):
    pred = randn(*shape, seed=1, shift=0.3).requires_grad_()
    target = randn(*shape, seed=2, shift=-0.5).requires_grad_()
    loss, terms = unigrad_loss(pred, target, neg_weight, return_terms=True)
    loss.backward()

    pred64 = pred.detach().double().requires_grad_()
    expected = reference(pred64, target.detach(), neg_weight, form)
    expected['loss'].backward()

    assert loss.dtype == torch.float32 and loss.shape == ()
    assert_rel_close(loss, expected['loss'], 1e-6)
    assert_rel_close(terms['pos'], expected['pos'], 1e-6)
    assert_rel_close(terms['neg'], expected['neg'], 1e-6)
    assert_rel_close(pred.grad, pred64.grad, 1e-6)
    assert target.grad is None
    assert torch.equal(unigrad_loss(pred, target, neg_weight), loss)


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match='shapes differ'):
        unigrad_loss(torch.zeros(2, 4, 8), torch.zeros(2, 5, 8))


@pytest.mark.parametrize('online_ln', [False, True])
def test_norms_have_no_parameters_and_eps_1e5(online_ln):
    loss_fn = UniGradLoss(neg_weight=0.1, online_ln=online_ln)
    assert list(loss_fn.parameters()) == [] and list(loss_fn.buffers()) == []
    # Token variances of ~1e-5 make the result sensitive to the eps; the offsets to a missing mean removal.
    pred = randn(2, 16, 24, seed=3, scale=3e-3, shift=0.01).requires_grad_()
    target = randn(2, 16, 24, seed=4, scale=3e-3, shift=-0.01)
    loss = loss_fn(pred, target)
    loss.backward()

    pred64 = pred.detach().double().requires_grad_()
    student = layer_norm(pred64, 1e-5) if online_ln else pred64
    expected = reference(student, layer_norm(target, 1e-5), 0.1, 'frobenius')['loss']
    expected.backward()
    assert_rel_close(loss, expected, 1e-6)
    assert_rel_close(pred.grad, pred64.grad, 1e-5)


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
@pytest.mark.parametrize('half_inputs', [False, True])
def test_fp32_under_autocast(dtype, half_inputs):
    loss_fn = UniGradLoss(neg_weight=1.0, online_ln=True)  # a large λ: half-precision products would show
    pred = randn(4, 49, 64, seed=5).to(dtype if half_inputs else torch.float32)
    target = randn(4, 49, 64, seed=6).to(pred.dtype)
    expected, expected_terms = loss_fn(pred.float(), target.float(), return_terms=True)
    pred.requires_grad_()
    with torch.autocast('cpu', dtype=dtype):
        loss, terms = loss_fn(pred, target, return_terms=True)
    loss.backward()
    assert loss.dtype == torch.float32 and pred.grad.dtype == pred.dtype
    torch.testing.assert_close((loss, terms), (expected, expected_terms), rtol=1e-6, atol=0)


WORLD_SIZE = 2


def ddp_problem() -> Tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """A Linear predicting ``[B, N, D]`` tokens, its inputs and a fixed target; identical on every rank."""
    torch.manual_seed(0)
    return nn.Linear(8, 16), randn(4, 10, 8, seed=7), randn(4, 10, 16, seed=8, shift=0.5)


def ddp_worker(rank: int, init_file: str, out_dir: str) -> None:
    """One rank: loss on its half of the batch through DDP; saves loss, gradients and ``C``."""
    torch.set_num_threads(1)
    dist.init_process_group('gloo', init_method=f'file://{init_file}', rank=rank, world_size=WORLD_SIZE)
    try:
        model, inputs, target = ddp_problem()
        shard = slice(rank * len(inputs) // WORLD_SIZE, (rank + 1) * len(inputs) // WORLD_SIZE)
        ddp = DistributedDataParallel(model)  # keep a reference: its reducer averages the gradients
        loss = UniGradLoss()(ddp(inputs[shard]), target[shard])
        loss.backward()
        torch.save(
            dict(loss=loss.detach(), grads=[p.grad for p in model.parameters()],
                 moment=target_second_moment(target[shard])), Path(out_dir, f'rank{rank}.pt'))
    finally:
        dist.destroy_process_group()


def test_ddp_matches_one_process_on_the_whole_batch(tmp_path):
    mp.spawn(ddp_worker, args=(str(tmp_path / 'init'), str(tmp_path)), nprocs=WORLD_SIZE)
    ranks = [torch.load(tmp_path / f'rank{r}.pt') for r in range(WORLD_SIZE)]

    model, inputs, target = ddp_problem()
    loss = UniGradLoss()(model(inputs), target)  # no process group: local C
    loss.backward()

    assert_rel_close(torch.stack([r['loss'] for r in ranks]).mean(), loss, 1e-6)
    for rank in ranks:
        for grad, expected in zip(rank['grads'], model.parameters(), strict=True):
            assert_rel_close(grad, expected.grad, 1e-6)
        tokens = target.reshape(-1, target.shape[-1])
        assert_rel_close(rank['moment'], tokens.T @ tokens / len(tokens), 1e-6)


class LargestOutput(TorchFunctionMode):
    """Records the largest tensor any torch function returns while active."""

    def __init__(self) -> None:
        super().__init__()
        self.numel = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if isinstance(out, torch.Tensor):
            self.numel = max(self.numel, out.numel())
        return out


def test_never_materialises_token_by_token_matrix():
    # 2**18 tokens: an N×N fp32 matrix would need 275 GB, so a regression fails to allocate on any test
    # machine, while the inputs take 16 MB each; the function mode checks the same on bigger machines.
    num_tokens, dim = 2**18, 16
    pred = randn(num_tokens, dim, seed=9).requires_grad_()
    target = randn(num_tokens, dim, seed=10)
    with LargestOutput() as largest:
        loss = UniGradLoss(online_ln=True)(pred, target)
    loss.backward()
    assert largest.numel <= num_tokens * dim
    assert torch.isfinite(loss) and pred.grad.shape == pred.shape
