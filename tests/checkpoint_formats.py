"""Checkpoints of every supported format, built from small random timm models that serve as oracles.

Each :class:`Case` holds what ``torch.save`` writes for one format, the timm model whose outputs the suite's
backbone must reproduce after loading it, and the backbone options equivalent to that timm model. Layouts follow
docs/method.md §6 (SiameseIM, MAE, MoCo-v3, BEiT, DeiT, timm) and the mmpretrain / mmseg / mmengine naming.
"""
import argparse
import dataclasses
import pickle
import re
from pathlib import Path
from typing import Any, Callable, Dict

import numpy as np
import torch
import torch.nn as nn
from mmengine.logging import MessageHub
from timm.models.beit import Beit
from timm.models.deit import VisionTransformerDistilled
from timm.models.vision_transformer import VisionTransformer

from siameseim.checkpoint import converted_checkpoint, to_canonical
from siameseim.layers import beit_relative_position_index, sincos_2d

IMG, PATCH, DIM, DEPTH, HEADS = 32, 8, 192, 2, 3  # width of the 'tiny' preset: heads inferable
GRID = (IMG // PATCH, IMG // PATCH)
TIMM_SIZES = dict(img_size=IMG, patch_size=PATCH, embed_dim=DIM, depth=DEPTH, num_heads=HEADS)
VIT_SIZES = dict(arch=None, img_size=IMG, patch_size=PATCH, embed_dim=DIM, depth=DEPTH, num_heads=HEADS)


@dataclasses.dataclass
class Case:
    """One checkpoint format: the saved object, the timm oracle and the matching backbone options."""

    format: str
    checkpoint: Dict[str, Any]
    oracle: nn.Module
    vit_kwargs: Dict[str, Any]
    keep_head: bool = False
    use_target_encoder: bool = False
    pos_embed_convention: str = 'learned'


def randomize(model: nn.Module, seed: int) -> nn.Module:
    """Perturb every parameter (zero biases, unit norms, zero rel-pos tables would hide mapping bugs)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.1 * torch.randn(param.shape, generator=generator))
    return model.eval()


def timm_vit(seed: int = 0, **kwargs) -> VisionTransformer:
    return randomize(VisionTransformer(**{**TIMM_SIZES, 'num_classes': 0, **kwargs}), seed)


def with_sincos(model: VisionTransformer, row_first: bool) -> VisionTransformer:
    """A fixed sin-cos table as SiameseIM / MoCo-v3 (row first) and MAE (column first) store it."""
    with torch.no_grad():
        model.pos_embed.copy_(sincos_2d(DIM, GRID, num_prefix_tokens=1, row_first=row_first))
    return model


def encoder_keys(model: nn.Module) -> Dict[str, torch.Tensor]:
    """The backbone part of a timm state dict (no classifier)."""
    return {k: v for k, v in model.state_dict().items() if not k.startswith(('head.', 'fc_norm.'))}


def training_args(model_name: str) -> argparse.Namespace:
    return argparse.Namespace(model=model_name, batch_size=64, blr=6.25e-5, input_size=224, mask_ratio=0.6,
                              output_dir='./output', resume='', dist_url='env://', layer_decay=None)


def siameseim_pretrain(target_encoder: bool = False) -> Case:
    online = with_sincos(timm_vit(0, global_pool='avg'), row_first=True)
    target = with_sincos(timm_vit(1, global_pool='avg'), row_first=True)
    model = encoder_keys(online)
    model.update({f'mm_{k}': v for k, v in encoder_keys(target).items() if k != 'pos_embed'})
    dd = 48
    bn = {'weight': torch.ones(dd), 'bias': torch.zeros(dd), 'running_mean': torch.zeros(dd),
          'running_var': torch.ones(dd), 'num_batches_tracked': torch.tensor(0)}
    model.update({
        'decoder_embed.weight': torch.randn(dd, DIM), 'decoder_embed.bias': torch.zeros(dd),
        'mask_token': torch.randn(1, 1, dd), 'decoder_pos_embed': torch.randn(1, 17, dd),
        'decoder_pred.weight': torch.randn(dd, dd), 'decoder_pos_mlp.weight': torch.randn(dd, 2 * dd),
        'predictor_decoder_blocks.0.attn.qkv.weight': torch.randn(3 * dd, dd),
        'mm_decoder_embed.weight': torch.randn(dd, DIM), 'mm_mask_token': torch.randn(1, 1, dd),
        **{f'projector_decoder_blocks.0.norm1.bn.{k}': v for k, v in bn.items()},
        **{f'mm_projector_decoder_blocks.0.norm1.bn.{k}': v for k, v in bn.items()},
    })
    checkpoint = {'model': model, 'optimizer': {'state': {}, 'param_groups': []}, 'epoch': 1599,
                  'scaler': {'scale': 65536.0}, 'args': training_args('sim_vit_base_patch16')}
    return Case('siameseim-pretrain', checkpoint, target if target_encoder else online,
                dict(pos_embed='sincos', final_norm=False), use_target_encoder=target_encoder,
                pos_embed_convention='row_first')


def siameseim_finetune(keep_head: bool = False) -> Case:
    oracle = with_sincos(timm_vit(2, global_pool='avg', num_classes=10), row_first=True)
    checkpoint = {'model': oracle.state_dict(), 'optimizer': {}, 'epoch': 99, 'scaler': {},
                  'args': training_args('vit_base_patch16')}
    kwargs = dict(pos_embed='sincos', final_norm=False)
    if keep_head:
        kwargs.update(global_pool='avg', num_classes=10)
    return Case('siameseim-finetune', checkpoint, oracle, kwargs, keep_head=keep_head,
                pos_embed_convention='row_first')


def mae_decoder() -> Dict[str, torch.Tensor]:
    return {'decoder_embed.weight': torch.randn(48, DIM), 'mask_token': torch.randn(1, 1, 48),
            'decoder_pos_embed': torch.randn(1, 17, 48), 'decoder_blocks.0.norm1.weight': torch.ones(48),
            'decoder_blocks.0.attn.qkv.weight': torch.randn(144, 48), 'decoder_norm.weight': torch.ones(48),
            'decoder_pred.weight': torch.randn(PATCH * PATCH * 3, 48)}


def mae(full: bool = False) -> Case:
    oracle = with_sincos(timm_vit(3), row_first=False)
    model = dict(encoder_keys(oracle), **(mae_decoder() if full else {}))
    return Case('mae-full' if full else 'mae', {'model': model}, oracle, dict(pos_embed='learned'),
                pos_embed_convention='col_first')


def mae_finetune() -> Case:
    oracle = timm_vit(4, global_pool='avg', num_classes=10)
    checkpoint = {'model': oracle.state_dict(), 'epoch': 49, 'args': training_args('vit_base_patch16')}
    return Case('mae-finetune', checkpoint, oracle, dict(pos_embed='learned', final_norm=False))


def moco_v3(target_encoder: bool = False) -> Case:
    base = with_sincos(timm_vit(5), row_first=True)
    momentum = with_sincos(timm_vit(6), row_first=True)
    projection = {'head.0.weight': torch.randn(128, DIM), 'head.1.weight': torch.ones(128),
                  'head.1.bias': torch.zeros(128), 'head.1.running_mean': torch.zeros(128),
                  'head.1.running_var': torch.ones(128), 'head.1.num_batches_tracked': torch.tensor(5),
                  'head.3.weight': torch.randn(128, 128), 'head.6.weight': torch.randn(32, 128),
                  'head.7.running_mean': torch.zeros(32)}
    state_dict = {}
    for prefix, model in (('module.base_encoder.', base), ('module.momentum_encoder.', momentum)):
        state_dict.update({prefix + k: v for k, v in {**model.state_dict(), **projection}.items()})
    state_dict.update({'module.predictor.0.weight': torch.randn(128, 32), 'module.predictor.1.weight': torch.ones(128)})
    checkpoint = {'epoch': 300, 'arch': 'vit_base', 'state_dict': state_dict, 'optimizer': {}, 'scaler': {}}
    return Case('moco-v3', checkpoint, momentum if target_encoder else base, dict(pos_embed='sincos'),
                use_target_encoder=target_encoder, pos_embed_convention='row_first')


def deit(keep_head: bool = False) -> Case:
    oracle = timm_vit(7, num_classes=10)
    checkpoint = {'model': oracle.state_dict(), 'optimizer': {}, 'lr_scheduler': {'last_epoch': 299},
                  'epoch': 299, 'scaler': {}, 'args': training_args('deit_base_patch16_224')}
    kwargs = dict(pos_embed='learned', global_pool='cls', num_classes=10) if keep_head else dict(pos_embed='learned')
    return Case('deit', checkpoint, oracle, kwargs, keep_head=keep_head)


def deit_distilled() -> Case:
    """Distilled DeiT; the oracle is the same network without the distillation token (row 1 of pos_embed)."""
    distilled = randomize(VisionTransformerDistilled(**TIMM_SIZES, num_classes=10), 8)
    state_dict = distilled.state_dict()
    plain = {k: v for k, v in state_dict.items() if k not in ('dist_token', 'head_dist.weight', 'head_dist.bias')}
    plain['pos_embed'] = torch.cat([state_dict['pos_embed'][:, :1], state_dict['pos_embed'][:, 2:]], dim=1)
    oracle = VisionTransformer(**TIMM_SIZES, num_classes=10).eval()
    oracle.load_state_dict(plain)
    return Case('deit-distilled', {'model': state_dict, 'epoch': 299}, oracle, dict(pos_embed='learned'))


def timm_train_output() -> Case:
    """timm ``train.py`` checkpoint: ``state_dict`` plus args and a numpy metric."""
    oracle = timm_vit(9, num_classes=10)
    checkpoint = {'epoch': 10, 'arch': 'vit_base_patch16_224', 'state_dict': oracle.state_dict(),
                  'optimizer': {}, 'version': 2, 'args': training_args('vit_base_patch16_224'),
                  'metric': np.float64(81.5), 'best_epoch': np.int64(9)}
    return Case('timm', checkpoint, oracle, dict(pos_embed='learned'))


def timm_bare() -> Case:
    oracle = timm_vit(10)
    return Case('timm', dict(oracle.state_dict()), oracle, dict(pos_embed='learned'))


def to_mm_names(key: str) -> str:
    """Canonical → mmpretrain ``VisionTransformer`` names, as assumed in siameseim.checkpoint's docstring."""
    rules = ((r'^patch_embed\.proj\.', 'patch_embed.projection.'),
             (r'^norm\.', 'ln1.'),
             (r'^blocks\.(\d+)\.norm([12])\.', r'layers.\1.ln\2.'),
             (r'^blocks\.(\d+)\.mlp\.fc1\.', r'layers.\1.ffn.layers.0.0.'),
             (r'^blocks\.(\d+)\.mlp\.fc2\.', r'layers.\1.ffn.layers.1.'),
             (r'^blocks\.(\d+)\.ls1\.gamma$', r'layers.\1.attn.gamma1.weight'),
             (r'^blocks\.(\d+)\.ls2\.gamma$', r'layers.\1.ffn.gamma2.weight'),
             (r'^blocks\.', 'layers.'),
             (r'^head\.', 'head.layers.head.'))
    for pattern, replacement in rules:
        key = re.sub(pattern, replacement, key)
    return key


def mmpretrain(layer_scale: bool = False, keep_head: bool = False) -> Case:
    """mmpretrain ``ImageClassifier`` with ``VisionTransformer`` backbone and ``VisionTransformerClsHead``."""
    oracle = timm_vit(11, num_classes=10, **(dict(init_values=0.5) if layer_scale else {}))
    state_dict = {}
    for key, value in oracle.state_dict().items():
        name = to_mm_names(key)
        state_dict[name if name.startswith('head.') else 'backbone.' + name] = value
    state_dict['head.layers.pre_logits.weight'] = torch.randn(DIM, DIM)
    checkpoint = {'meta': {'epoch': 300, 'mmpretrain_version': '1.2.0'}, 'state_dict': state_dict}
    kwargs = dict(pos_embed='learned', layer_scale_init=1.0 if layer_scale else None)
    if keep_head:
        kwargs.update(global_pool='cls', num_classes=10)
    return Case('mmpretrain', checkpoint, oracle, kwargs, keep_head=keep_head)


def mmseg_vit() -> Case:
    """mmseg ``VisionTransformer`` names as ``tools/model_converters/vit2mmseg.py`` writes them."""
    oracle = timm_vit(12)
    state_dict = {}
    for key, value in oracle.state_dict().items():
        key = re.sub(r'^blocks\.(\d+)\.attn\.qkv\.(weight|bias)$', r'layers.\1.attn.attn.in_proj_\2', key)
        key = re.sub(r'^blocks\.(\d+)\.attn\.proj\.', r'layers.\1.attn.attn.out_proj.', key)
        state_dict[to_mm_names(key)] = value
    return Case('mmseg', state_dict, oracle, dict(pos_embed='learned'))


def timm_beit(seed: int, shared: bool, **kwargs) -> Beit:
    return randomize(Beit(**TIMM_SIZES, num_classes=0, global_pool='token', use_abs_pos_emb=False,
                          use_rel_pos_bias=not shared, use_shared_rel_pos_bias=shared, init_values=0.1, **kwargs), seed)


def official_beit_state(model: Beit) -> Dict[str, torch.Tensor]:
    """timm Beit → official BEiT layout: persistent index buffers, mask token, MIM head (docs/method.md §6.5)."""
    state_dict = dict(model.state_dict())
    index = beit_relative_position_index(GRID, 1)
    for key in [k for k in state_dict if k.endswith('relative_position_bias_table')]:
        state_dict[key[:-len('bias_table')] + 'index'] = index
    state_dict.update({'mask_token': torch.randn(1, 1, DIM), 'lm_head.weight': torch.randn(8192, DIM),
                       'lm_head.bias': torch.zeros(8192)})
    return state_dict


BEIT_VIT_KWARGS = dict(pos_embed='none', use_rel_pos_bias=True, layer_scale_init=0.1)


def beit(shared: bool) -> Case:
    oracle = timm_beit(13, shared)
    return Case('beit', {'model': official_beit_state(oracle)}, oracle, dict(BEIT_VIT_KWARGS),
                pos_embed_convention='none')


def mmseg_beit() -> Case:
    """Official BEiT (shared table) renamed as mmseg's ``beit2mmseg.py`` does (layers, ln, ffn, projection)."""
    oracle = timm_beit(14, shared=True)
    state_dict = {}
    for key, value in official_beit_state(oracle).items():
        if key.startswith('blocks'):
            key = key.replace('blocks', 'layers').replace('norm', 'ln')
            key = key.replace('mlp.fc1', 'ffn.layers.0.0').replace('mlp.fc2', 'ffn.layers.1')
        key = key.replace('patch_embed.proj', 'patch_embed.projection')
        state_dict[key] = value
    return Case('mmseg', state_dict, oracle, dict(BEIT_VIT_KWARGS), pos_embed_convention='none')


def suite() -> Case:
    oracle = timm_vit(15)
    return Case('siameseim-suite', converted_checkpoint(*to_canonical({'model': oracle.state_dict()})), oracle,
                dict(pos_embed='learned'))


def suite_downstream() -> Case:
    """mmengine checkpoint of a downstream run: ``backbone.``-prefixed canonical names, neck, heads, message hub."""
    oracle = timm_vit(16)
    hub = MessageHub('checkpoint_formats')  # not get_instance: leaves mmengine's current hub alone
    hub.update_scalar('train/loss', 0.5)
    hub.update_info('iter', 1000)
    state_dict = {'backbone.' + k: v for k, v in oracle.state_dict().items()}
    state_dict.update({'neck.lateral_convs.0.conv.weight': torch.randn(8, DIM, 1, 1),
                       'decode_head.conv_seg.weight': torch.randn(150, 8, 1, 1)})
    checkpoint = {'meta': {'epoch': 1, 'iter': 1000, 'mmengine_version': '0.10.7', 'seed': 0,
                           'dataset_meta': {'classes': ('wall', 'building')}},
                  'state_dict': state_dict, 'message_hub': hub.state_dict(), 'optimizer': {}}
    return Case('siameseim-suite-downstream', checkpoint, oracle, dict(pos_embed='learned'))


CASES: Dict[str, Callable[[], Case]] = {
    'siameseim-pretrain': siameseim_pretrain,
    'siameseim-pretrain-target': lambda: siameseim_pretrain(target_encoder=True),
    'siameseim-finetune': siameseim_finetune,
    'siameseim-finetune-head': lambda: siameseim_finetune(keep_head=True),
    'mae': mae,
    'mae-full': lambda: mae(full=True),
    'mae-finetune': mae_finetune,
    'moco-v3': moco_v3,
    'moco-v3-momentum': lambda: moco_v3(target_encoder=True),
    'deit': deit,
    'deit-head': lambda: deit(keep_head=True),
    'deit-distilled': deit_distilled,
    'timm-train-output': timm_train_output,
    'timm-bare': timm_bare,
    'mmpretrain': mmpretrain,
    'mmpretrain-layerscale-head': lambda: mmpretrain(layer_scale=True, keep_head=True),
    'mmseg-vit': mmseg_vit,
    'mmseg-beit': mmseg_beit,
    'beit-shared': lambda: beit(shared=True),
    'beit-per-block': lambda: beit(shared=False),
    'siameseim-suite': suite,
    'siameseim-suite-downstream': suite_downstream,
}


def images(batch: int = 2, size: int = IMG) -> torch.Tensor:
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(123))


@torch.no_grad()
def outputs(model: nn.Module, x: torch.Tensor, logits: bool) -> torch.Tensor:
    """Classifier logits, or all tokens after the last block (and final norm)."""
    return model(x) if logits else model.forward_features(x)


def write_bad_file(folder: Path, kind: str) -> Path:
    """A file that is not a usable checkpoint, of the given kind."""
    path = folder / f'{kind}.pth'
    if kind == 'empty':
        path.write_bytes(b'')
    elif kind == 'truncated':
        torch.save({'model': timm_vit(0).state_dict()}, path)
        path.write_bytes(path.read_bytes()[:50_000])
    elif kind == 'text':
        path.write_text('model: vit_base_patch16_224\nlr: 0.001\n')
    elif kind == 'plain-pickle':
        path.write_bytes(pickle.dumps([1, 2, 3], protocol=4))
    elif kind == 'list':
        torch.save([torch.zeros(1)], path)
    elif kind == 'bad-safetensors':
        path = folder / 'weights.safetensors'
        path.write_bytes(b'\x10\x00\x00\x00\x00\x00\x00\x00{"a": broken json')
    return path
