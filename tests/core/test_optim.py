"""Layer-wise lr decay groups (docs/method.md §3.4, §5.1; docs/protocols.md §1.5, §3.5) and LARS (§5.2)."""
from typing import Dict, List, Optional

import pytest
import torch
import torch.nn as nn
from mmengine.optim import CosineAnnealingLR, LinearLR, OptimWrapper, PolyLR, build_optim_wrapper
from mmengine.registry import OPTIMIZERS

import siameseim.optim as optim
from siameseim.lars import LARS
from siameseim.models.vit import ViT
from siameseim.optim import (LayerDecayOptimWrapperConstructor, find_vit_backbone, get_layer_id,
                             layer_decay_param_groups, matches_name)

DIM = 8


class StandInBlock(nn.Module):
    """Parameter names of a ViT block with LayerScale, BEiT and ViTDet relative positions."""

    def __init__(self) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(DIM)
        self.attn = nn.Module()
        self.attn.qkv = nn.Linear(DIM, 3 * DIM)
        self.attn.relative_position_bias_table = nn.Parameter(torch.zeros(7, 2))
        self.attn.rel_pos_h = nn.Parameter(torch.zeros(5, 4))
        self.attn.rel_pos_w = nn.Parameter(torch.zeros(5, 4))
        self.ls1 = nn.Module()
        self.ls1.gamma = nn.Parameter(torch.ones(DIM))
        self.norm2 = nn.LayerNorm(DIM)
        self.mlp = nn.Module()
        self.mlp.fc1 = nn.Linear(DIM, DIM)


class StandInViT(nn.Module):
    """Same attribute and parameter names as ``siameseim.models.vit.ViT`` (plus a mask token)."""

    def __init__(self, depth: int = 3) -> None:
        super().__init__()
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv2d(3, DIM, 2, 2)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, DIM))
        self.pos_embed = nn.Parameter(torch.zeros(1, 5, DIM))
        self.blocks = nn.ModuleList(StandInBlock() for _ in range(depth))
        self.norm = nn.LayerNorm(DIM)
        self.head = nn.Linear(DIM, 2)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, DIM))


class Detector(nn.Module):
    """mmdet/mmseg layout: ``backbone`` + ``neck`` + head."""

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.neck = nn.Sequential(nn.Conv2d(DIM, 4, 1), nn.GroupNorm(2, 4))
        self.bbox_head = nn.Linear(4, 3)


def groups_by_name(groups: List[dict]) -> Dict[str, dict]:
    """Map every parameter name to its group, checking each name appears exactly once."""
    by_name = {}
    for group in groups:
        assert len(group['param_names']) == len(group['params'])
        for name in group['param_names']:
            assert name not in by_name, f'{name} is in two groups'
            by_name[name] = group
    return by_name


def build(model: nn.Module, optimizer: Optional[dict] = None, **paramwise_cfg) -> OptimWrapper:
    """Build through mmengine by registry name, as a config does."""
    cfg = dict(
        type='OptimWrapper',
        constructor='siameseim.LayerDecayOptimWrapperConstructor',
        optimizer=optimizer or dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
        paramwise_cfg=paramwise_cfg)
    return build_optim_wrapper(model, cfg)


def test_layer_ids_follow_the_spec_conventions():
    assert get_layer_id('cls_token', 12) == 0
    assert get_layer_id('pos_embed', 12) == 0
    assert get_layer_id('mask_token', 12) == 0
    assert get_layer_id('patch_embed.proj.weight', 12) == 0
    assert get_layer_id('blocks.0.norm1.weight', 12) == 1
    assert get_layer_id('blocks.11.attn.rel_pos_h', 12) == 12
    assert get_layer_id('norm.weight', 12) == 13
    assert get_layer_id('fc_norm.bias', 12) == 13
    assert get_layer_id('head.weight', 12) == 13


def test_names_match_whole_dotted_components_with_wildcards():
    assert matches_name('backbone.pos_embed', 'pos_embed')
    assert matches_name('backbone.blocks.2.attn.rel_pos_h', 'rel_pos_h')
    assert matches_name('backbone.blocks.2.norm1.weight', 'blocks.*.norm*')
    assert not matches_name('backbone.pos_embed_proj.weight', 'pos_embed')
    assert not matches_name('neck.norm1.weight', 'blocks.*.norm*')


def test_backbone_is_found_in_wrappers_and_bare():
    model = Detector(StandInViT())
    assert find_vit_backbone(model) == ('backbone.', model.backbone)
    assert find_vit_backbone(model.backbone) == ('', model.backbone)
    with pytest.raises(ValueError, match='no ViT backbone'):
        find_vit_backbone(nn.Sequential(nn.Linear(2, 2)))


def test_every_parameter_gets_the_spec_lr_scale_and_weight_decay():
    model = Detector(StandInViT(depth=3))
    groups = build(model, layer_decay_rate=0.5).optimizer.param_groups
    by_name = groups_by_name(groups)
    expected_layer = {
        'backbone.patch_embed.proj.weight': 0,
        'backbone.cls_token': 0,
        'backbone.pos_embed': 0,
        'backbone.mask_token': 0,
        'backbone.blocks.0.attn.qkv.weight': 1,
        'backbone.blocks.1.attn.rel_pos_h': 2,
        'backbone.blocks.2.ls1.gamma': 3,
        'backbone.norm.weight': 4,
        'backbone.head.weight': 4,
        'neck.0.weight': 4,
        'neck.1.weight': 4,
        'bbox_head.bias': 4,
    }
    for name, layer_id in expected_layer.items():
        group = by_name[name]
        assert group['layer_id'] == layer_id, name
        assert group['lr_scale'] == pytest.approx(0.5**(4 - layer_id)), name
        assert group['lr'] == pytest.approx(1e-4 * 0.5**(4 - layer_id)), name
    decayed = {name for name, group in by_name.items() if group['weight_decay'] == 0.05}
    assert decayed == {
        'backbone.patch_embed.proj.weight', 'backbone.mask_token', 'backbone.head.weight', 'neck.0.weight',
        'bbox_head.weight', *(f'backbone.blocks.{i}.{name}' for i in range(3)
                              for name in ('attn.qkv.weight', 'mlp.fc1.weight'))
    }
    assert all(group['weight_decay'] == 0.0 for name, group in by_name.items() if name not in decayed)
    assert by_name.keys() == dict(model.named_parameters()).keys()
    assert [group['layer_id'] for group in groups] == sorted((group['layer_id'] for group in groups), reverse=True)
    assert len(groups) == len({(group['layer_id'], group['weight_decay']) for group in groups}) == 10


def test_plain_torch_groups_leave_weight_decay_to_the_optimizer_when_unset():
    groups = layer_decay_param_groups(StandInViT(), base_lr=1.0, weight_decay=None, layer_decay_rate=0.5)
    by_name = groups_by_name(groups)
    assert 'weight_decay' not in by_name['blocks.0.attn.qkv.weight']
    assert by_name['blocks.0.attn.qkv.bias']['weight_decay'] == 0.0
    optimizer = torch.optim.AdamW(groups, weight_decay=0.3)
    assert {group['weight_decay'] for group in optimizer.param_groups} == {0.0, 0.3}


def test_frozen_parameters_are_left_out():
    model = Detector(StandInViT())
    model.backbone.pos_embed.requires_grad = False
    for param in model.backbone.patch_embed.parameters():
        param.requires_grad = False
    by_name = groups_by_name(build(model, layer_decay_rate=0.65).optimizer.param_groups)
    assert 'backbone.pos_embed' not in by_name
    assert not any(name.startswith('backbone.patch_embed') for name in by_name)
    assert 'backbone.cls_token' in by_name


def test_pretraining_recipe_decays_cls_and_mask_tokens():
    """docs/method.md §3.4 / §8: no layer decay, cls/mask tokens decayed, biases and norms not."""
    by_name = groups_by_name(build(StandInViT(), layer_decay_rate=1.0, no_decay_names=()).optimizer.param_groups)
    assert {group['lr_scale'] for group in by_name.values()} == {1.0}
    assert by_name['cls_token']['weight_decay'] == 0.05
    assert by_name['mask_token']['weight_decay'] == 0.05
    assert by_name['blocks.0.norm1.weight']['weight_decay'] == 0.0
    assert by_name['blocks.0.attn.qkv.bias']['weight_decay'] == 0.0


def test_vitdet_recipe_exempts_only_block_norms_and_pos_embed():
    """docs/protocols.md §1.5: biases, rel-pos tables, patch embed and neck norms keep weight decay."""
    optimizer = dict(type='AdamW', lr=1e-4, weight_decay=0.1)
    groups = build(
        Detector(StandInViT()),
        optimizer,
        layer_decay_rate=0.7,
        no_decay_names=('pos_embed', 'blocks.*.norm*'),
        decay_norm_and_bias=True).optimizer.param_groups
    exempt = {name for name, group in groups_by_name(groups).items() if group['weight_decay'] == 0.0}
    assert exempt == {'backbone.pos_embed'} | {
        f'backbone.blocks.{i}.{norm}.{kind}'
        for i in range(3) for norm in ('norm1', 'norm2') for kind in ('weight', 'bias')
    }


def test_num_layers_override_shifts_every_scale():
    by_name = groups_by_name(build(StandInViT(depth=3), layer_decay_rate=0.5, num_layers=5).optimizer.param_groups)
    assert by_name['blocks.2.attn.qkv.weight']['lr_scale'] == pytest.approx(0.5**3)
    assert by_name['norm.weight']['lr_scale'] == 1.0
    assert by_name['cls_token']['lr_scale'] == pytest.approx(0.5**6)


@pytest.mark.parametrize(
    'paramwise_cfg, message',
    [
        (dict(), 'layer_decay_rate is required'),
        (dict(layer_decay_rate=0.0), r'outside \(0, 1\]'),
        (dict(layer_decay_rate=1.5), r'outside \(0, 1\]'),
        (dict(layer_decay_rate=0.65, num_layers=0), 'num_layers=0 must be >= 1'),
        (dict(layer_decay_rate=0.65, no_decay_names='pos_embed'), 'sequence of names'),
        (dict(decay_rate=0.65), "unknown paramwise_cfg keys \\['decay_rate'\\]"),
    ])
def test_bad_config_fails_with_one_line_message(paramwise_cfg, message):
    cfg = dict(optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.05), paramwise_cfg=paramwise_cfg)
    with pytest.raises(ValueError, match=message) as error:
        LayerDecayOptimWrapperConstructor(cfg, paramwise_cfg)
    assert '\n' not in str(error.value)


def test_model_without_vit_or_with_too_few_layers_fails():
    with pytest.raises(ValueError, match='no ViT backbone'):
        build(nn.Linear(2, 2), layer_decay_rate=0.65)
    with pytest.raises(ValueError, match='num_layers=2 is fewer than the 3 blocks'):
        build(StandInViT(depth=3), layer_decay_rate=0.65, num_layers=2)


def test_summary_is_logged_once(monkeypatch):
    messages = []
    monkeypatch.setattr(optim, 'print_log', lambda msg, **kwargs: messages.append(msg))
    build(Detector(StandInViT(depth=3)), layer_decay_rate=0.5)
    assert len(messages) == 1
    rows = messages[0].splitlines()[2:]
    assert [row.split()[0] for row in rows] == ['4', '3', '2', '1', '0']
    assert rows[0].split()[1] == '1' and rows[-1].split()[1] == '0.0625'


@pytest.mark.parametrize('decay_schedule', ['cosine', 'poly'])
def test_schedulers_keep_the_layer_ratios(decay_schedule):
    rate, warmup, total = 0.65, 3, 10
    model = Detector(StandInViT(depth=3))
    optim_wrapper = build(model, layer_decay_rate=rate)
    warmup_scheduler = LinearLR(optim_wrapper, start_factor=1e-3, by_epoch=False, begin=0, end=warmup)
    if decay_schedule == 'cosine':
        main_scheduler = CosineAnnealingLR(
            optim_wrapper, T_max=total - warmup, eta_min_ratio=1e-2, by_epoch=False, begin=warmup, end=total)
    else:
        main_scheduler = PolyLR(optim_wrapper, eta_min=0.0, power=1.0, by_epoch=False, begin=warmup, end=total)
    head_lrs = []
    for _ in range(total - 1):
        optim_wrapper.step()
        warmup_scheduler.step()
        main_scheduler.step()
        groups = optim_wrapper.optimizer.param_groups
        head_lr = groups[0]['lr']
        head_lrs.append(head_lr)
        for group in groups:
            assert group['lr'] == pytest.approx(head_lr * rate**(4 - group['layer_id']), rel=1e-9)
    assert head_lrs[warmup - 1] == pytest.approx(1e-4)
    assert head_lrs[-1] < head_lrs[warmup - 1] / 5


AMP_CFG = dict(
    type='AmpOptimWrapper',
    constructor='siameseim.LayerDecayOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.05),
    paramwise_cfg=dict(layer_decay_rate=0.65))


def assert_amp_groups(optim_wrapper):
    groups = optim_wrapper.optimizer.param_groups
    assert type(optim_wrapper).__name__ == 'AmpOptimWrapper'
    assert sorted(group['lr_scale'] for group in groups)[-1] == 1.0
    assert min(group['lr_scale'] for group in groups) == pytest.approx(0.65**4)
    assert len(groups) == len(build(Detector(StandInViT()), layer_decay_rate=0.65).optimizer.param_groups)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='AmpOptimWrapper needs a GPU')
def test_amp_optim_wrapper_gets_the_same_groups():
    assert_amp_groups(build_optim_wrapper(Detector(StandInViT()), AMP_CFG))


def test_amp_optim_wrapper_gets_the_same_groups_on_the_cpu(monkeypatch):
    """The GPU test's logic where no GPU is: mmengine's device check is bypassed (its GradScaler then disables
    itself), the constructor runs the same way."""
    import mmengine.optim.optimizer.amp_optimizer_wrapper as amp_module
    monkeypatch.setattr(amp_module, 'is_cuda_available', lambda: True)
    with pytest.warns(UserWarning, match='CUDA is not available'):
        optim_wrapper = build_optim_wrapper(Detector(StandInViT()), AMP_CFG)
    assert_amp_groups(optim_wrapper)


def test_real_vit_groups_by_parameter_name():
    model = Detector(ViT(arch='tiny', depth=4, pos_embed='learned', layer_scale_init=0.1, use_rel_pos_bias=True))
    model.neck = nn.Sequential(nn.Conv2d(192, 4, 1), nn.GroupNorm(2, 4))
    by_name = groups_by_name(build(model, layer_decay_rate=0.65).optimizer.param_groups)
    assert by_name.keys() == dict(model.named_parameters()).keys()
    for name, group in by_name.items():
        parts = name.split('.')
        if parts[:2] == ['backbone', 'blocks']:
            layer_id = int(parts[2]) + 1
        elif parts[0] == 'backbone' and parts[1] in ('cls_token', 'pos_embed', 'patch_embed'):
            layer_id = 0
        else:
            layer_id = 5
        assert group['layer_id'] == layer_id, name
        assert group['lr_scale'] == pytest.approx(0.65**(5 - layer_id)), name
    decayed = {name for name, group in by_name.items() if group['weight_decay'] == 0.05}
    assert decayed == {
        'backbone.patch_embed.proj.weight', 'neck.0.weight', 'bbox_head.weight', *(
            f'backbone.blocks.{i}.{name}' for i in range(4)
            for name in ('attn.qkv.weight', 'attn.proj.weight', 'mlp.fc1.weight', 'mlp.fc2.weight'))
    }
    assert all(group['weight_decay'] == 0.0 for name, group in by_name.items() if name not in decayed)
    assert by_name['backbone.blocks.3.attn.relative_position_bias_table']['layer_id'] == 4
    assert by_name['backbone.blocks.0.ls1.gamma']['layer_id'] == 1
    assert by_name['backbone.norm.weight']['layer_id'] == 5


def test_real_vit_frozen_sincos_pos_embed_is_not_optimised():
    model = ViT(arch='tiny', depth=4)
    by_name = groups_by_name(build(model, layer_decay_rate=0.65).optimizer.param_groups)
    assert 'pos_embed' not in by_name
    assert by_name['cls_token']['lr_scale'] == pytest.approx(0.65**5)
    assert by_name['norm.weight']['lr_scale'] == 1.0


def reference_lars(params: List[torch.Tensor], grads_per_step: List[List[torch.Tensor]], lr: float,
                   weight_decay: float) -> List[torch.Tensor]:
    """docs/method.md §5.2 transcribed: per step, decay + trust ratio for ndim > 1, then momentum 0.9."""
    params = [param.clone() for param in params]
    momenta = [torch.zeros_like(param) for param in params]
    for grads in grads_per_step:
        for index, (param, grad) in enumerate(zip(params, grads)):
            if param.ndim > 1:
                grad = grad + weight_decay * param
                param_norm, grad_norm = param.norm().item(), grad.norm().item()
                q = 0.001 * param_norm / grad_norm if param_norm > 0 and grad_norm > 0 else 1.0
                grad = q * grad
            momenta[index] = 0.9 * momenta[index] + grad
            params[index] = param - lr * momenta[index]
    return params


@pytest.mark.parametrize('weight_decay', [0.0, 0.5])
def test_lars_matches_the_spec_formula(weight_decay):
    generator = torch.Generator().manual_seed(0)
    initial = [
        torch.randn(4, 3, generator=generator),
        torch.randn(4, generator=generator),
        torch.zeros(2, 2),
    ]
    grads_per_step = [[torch.randn(p.shape, generator=generator) for p in initial] for _ in range(4)]
    grads_per_step[1][2] = torch.zeros(2, 2)
    params = [nn.Parameter(p.clone()) for p in initial]
    optimizer = LARS(params, lr=6.4, weight_decay=weight_decay)
    for grads in grads_per_step:
        for param, grad in zip(params, grads):
            param.grad = grad.clone()
        optimizer.step()
    expected = reference_lars(initial, grads_per_step, lr=6.4, weight_decay=weight_decay)
    for param, reference in zip(params, expected):
        torch.testing.assert_close(param.detach(), reference, rtol=1e-5, atol=1e-6)
    assert not torch.equal(params[0].detach(), initial[0])


def test_lars_is_registered_and_rejects_bad_values():
    model = nn.Linear(3, 2)
    optim_wrapper = build_optim_wrapper(model, dict(optimizer=dict(type='siameseim.LARS', lr=0.1)))
    assert isinstance(optim_wrapper.optimizer, LARS)
    assert optim_wrapper.optimizer.defaults == dict(lr=0.1, weight_decay=0.0, momentum=0.9, trust_coefficient=0.001)
    assert OPTIMIZERS.get('siameseim.LARS') is LARS
    with pytest.raises(ValueError, match='momentum'):
        LARS(model.parameters(), lr=0.1, momentum=1.0)
