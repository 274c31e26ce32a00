"""Checkpoints in the layouts of DINO, iBOT, DINOv2, CLIP, I-JEPA and Hugging Face, written from random-init tiny
models of the source's own model code where a package holds it (timm, open_clip, transformers); each comes with
the oracle whose features the suite's backbone must reproduce after loading.

Where no package holds the source's model code the layout was read from the source repository, named per
builder: DINO from facebookresearch/dino ``main_dino.py`` (``save_dict``) and ``vision_transformer.py``; iBOT
from bytedance/ibot ``main_ibot.py``, ``models/vision_transformer.py`` (``masked_embed``) and ``models/head.py``
(``last_layer2``); DINOv2 from facebookresearch/dinov2 ``dinov2/models/vision_transformer.py``
(``register_tokens``, ``mask_token``, ``BlockChunk``) and ``dinov2/train/train.py`` (``{'teacher': ...}``);
I-JEPA from facebookresearch/ijepa ``src/train.py`` (``save_dict``) and ``src/models/vision_transformer.py``
(column-first sin-cos table without cls row, ``module.`` from DDP); OpenAI CLIP's TorchScript buffers from
openai/CLIP ``clip/model.py`` (``build_model`` deletes ``input_resolution``, ``context_length``, ``vocab_size``).
"""
import copy
import dataclasses
import os
from typing import Any, Callable, Dict

import pytest
import timm
import torch
import torch.nn as nn

from siameseim.layers import sincos_2d

WIDTH, DEPTH, HEADS = 64, 2, 4


@dataclasses.dataclass
class Source:
    """A checkpoint as the source writes it (``path``: file or folder), the oracle's features for ``images`` and
    the backbone options of the recipe loading it (the backbone adapts the rest to the checkpoint)."""

    format: str
    path: str
    features: Callable[[torch.Tensor], torch.Tensor]
    img_size: int
    patch_size: int
    backbone: Dict[str, Any] = dataclasses.field(default_factory=dict)
    width: int = WIDTH
    heads: int = HEADS


def randomized(model: nn.Module, seed: int) -> nn.Module:
    """Every parameter perturbed (unit norms, zero biases and LayerScale init would hide mapping bugs)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.1 * torch.randn(param.shape, generator=generator))
    return model.eval()


def images(size: int, batch: int = 2, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))


def save(obj: Any, path: str) -> str:
    torch.save(obj, path)
    return path


def timm_model(name: str, seed: int, **kwargs) -> nn.Module:
    """A random-init timm model of ``name`` at the tiny width (no download)."""
    kwargs = {'embed_dim': WIDTH, 'depth': DEPTH, 'num_heads': HEADS, 'num_classes': 0, **kwargs}
    return randomized(timm.create_model(name, pretrained=False, **kwargs), seed)


def timm_tokens(model: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda x: model.forward_features(x)


# ----------------------------------------------------------------------------------------------------------------
# DINO, iBOT (facebookresearch/dino, bytedance/ibot): timm's VisionTransformer is their ViT


def _dino_head(prefix: str, ibot: bool) -> Dict[str, torch.Tensor]:
    head = {f'{prefix}head.mlp.0.weight': torch.randn(32, WIDTH), f'{prefix}head.mlp.0.bias': torch.zeros(32),
            f'{prefix}head.mlp.2.weight': torch.randn(16, 32), f'{prefix}head.last_layer.weight_g': torch.ones(8, 1),
            f'{prefix}head.last_layer.weight_v': torch.randn(8, 16)}
    if ibot:
        head.update({f'{prefix}head.last_layer2.weight_g': torch.ones(8, 1),
                     f'{prefix}head.last_layer2.weight_v': torch.randn(8, 16)})
    return head


def dino(folder: str, ibot: bool = False, patch_size: int = 8) -> Source:
    """main_dino.py / main_ibot.py ``save_dict``: the DDP student (``module.backbone.``) and the teacher."""
    img = 4 * patch_size
    teacher = timm_model('vit_small_patch16_224', 11, patch_size=patch_size, img_size=img)
    student = timm_model('vit_small_patch16_224', 12, patch_size=patch_size, img_size=img)
    student_state = {f'module.backbone.{k}': v for k, v in student.state_dict().items()}
    student_state.update(_dino_head('module.', ibot))
    teacher_state = {f'backbone.{k}': v for k, v in teacher.state_dict().items()}
    teacher_state.update(_dino_head('', ibot))
    if ibot:
        student_state['module.backbone.masked_embed'] = torch.randn(1, WIDTH)
    checkpoint = {'student': student_state, 'teacher': teacher_state, 'optimizer': {'state': {}, 'param_groups': []},
                  'epoch': 100, ('ibot_loss' if ibot else 'dino_loss'): {'center': torch.zeros(1, 8)}}
    name = 'ibot' if ibot else 'dino'
    return Source(name, save(checkpoint, os.path.join(folder, f'{name}_checkpoint.pth')), timm_tokens(teacher), img,
                  patch_size)


def ibot_state_dict(folder: str) -> Source:
    """extract_backbone_weights.py input: ``{'state_dict': {'module.backbone.*', 'module.head.*'}}``."""
    model = timm_model('vit_small_patch16_224', 13, img_size=64)
    state = {f'module.backbone.{k}': v for k, v in model.state_dict().items()}
    state.update(_dino_head('module.', True))
    return Source('ibot', save({'state_dict': state}, os.path.join(folder, 'ibot_state_dict.pth')),
                  timm_tokens(model), 64, 16)


# ----------------------------------------------------------------------------------------------------------------
# DINOv2 (facebookresearch/dinov2), oracles from timm's vit_*_dinov2 / vit_*_reg4_dinov2


def dinov2(folder: str, registers: bool = False, giant: bool = False, teacher_checkpoint: bool = False) -> Source:
    """The released backbone layout (``mask_token``, ``register_tokens``, ``w12`` / ``w3`` for ViT-g), or
    ``teacher_checkpoint.pth`` (``{'teacher': {'backbone.*' in chunks, 'dino_head.*'}}``)."""
    name = 'vit_small_patch14_reg4_dinov2' if registers else 'vit_small_patch14_dinov2'
    kwargs = dict(img_size=56)
    if giant:
        name = 'vit_giant_patch14_dinov2'
        kwargs.update(embed_dim=48, num_heads=3)
    model = timm_model(name, 21 + registers + 2 * giant, **kwargs)
    state = dict(model.state_dict())
    if registers:  # timm folds the cls position into the token (no_embed_class); DINOv2 keeps the row
        state['register_tokens'] = state.pop('reg_token')
        state['pos_embed'] = torch.cat([torch.zeros_like(state['pos_embed'][:, :1]), state['pos_embed']], dim=1)
    if giant:
        state = {k.replace('.mlp.fc1.', '.mlp.w12.').replace('.mlp.fc2.', '.mlp.w3.'): v for k, v in state.items()}
    state['mask_token'] = torch.zeros(1, state['cls_token'].shape[-1])
    if teacher_checkpoint:  # block_chunks=2: chunk c holds blocks of global index c * depth / 2 + ...
        chunked = {}
        for key, value in state.items():
            if key.startswith('blocks.'):
                index = int(key.split('.')[1])
                key = f'blocks.{index // (DEPTH // 2)}.{key[len("blocks."):]}'
            chunked[f'backbone.{key}'] = value
        chunked.update({'dino_head.mlp.0.weight': torch.randn(32, WIDTH), 'ibot_head.mlp.0.weight': torch.randn(32, WIDTH)})
        state = {'teacher': chunked}
    file = f"dinov2{'_reg' if registers else ''}{'_g' if giant else ''}{'_teacher' if teacher_checkpoint else ''}.pth"
    return Source('dinov2', save(state, os.path.join(folder, file)), timm_tokens(model), 56, 14,
                  width=model.embed_dim, heads=model.blocks[0].attn.num_heads)


# ----------------------------------------------------------------------------------------------------------------
# CLIP: open_clip's own model (OpenAI layout with QuickGELU, OpenCLIP with GELU), timm's *_clip_* towers


def open_clip_model(quick_gelu: bool, seed: int, layer_scale: bool = False) -> nn.Module:
    open_clip = pytest.importorskip('open_clip', reason='open_clip_torch is an optional test dependency: '
                                                        'pip install open_clip_torch')
    from open_clip.model import CLIPTextCfg, CLIPVisionCfg

    torch.manual_seed(seed)
    vision = CLIPVisionCfg(layers=DEPTH, width=WIDTH, head_width=WIDTH // HEADS, patch_size=8, image_size=32,
                           ls_init_value=0.5 if layer_scale else None)
    text = CLIPTextCfg(context_length=8, vocab_size=64, width=32, heads=2, layers=1)
    model = open_clip.model.CLIP(embed_dim=24, vision_cfg=vision, text_cfg=text, quick_gelu=quick_gelu)
    return randomized(model, seed)


def clip_features(model: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """open_clip's image tower with every token after ``ln_post``: the pooled (cls) token, then the others; the
    image-text projection, which the backbone drops, is left out."""
    visual = copy.deepcopy(model.visual)
    visual.output_tokens, visual.proj = True, None

    def features(x: torch.Tensor) -> torch.Tensor:
        pooled, tokens = visual(x)
        return torch.cat([pooled[:, None], tokens], dim=1)
    return features


def clip_openai(folder: str) -> Source:
    model = open_clip_model(quick_gelu=True, seed=31)
    state = dict(model.state_dict())
    state.update(input_resolution=torch.tensor(32), context_length=torch.tensor(8), vocab_size=torch.tensor(64))
    return Source('clip-openai', save(state, os.path.join(folder, 'openai_clip.pt')), clip_features(model), 32, 8)


def openclip(folder: str, layer_scale: bool = False) -> Source:
    """open_clip's training checkpoint: ``{'epoch', 'name', 'state_dict': {'module.' + model keys}}``."""
    model = open_clip_model(quick_gelu=False, seed=32, layer_scale=layer_scale)
    state = {f'module.{k}': v for k, v in model.state_dict().items()}
    checkpoint = {'epoch': 32, 'name': 'laion-run', 'state_dict': state, 'optimizer': {}}
    return Source('openclip', save(checkpoint, os.path.join(folder, 'openclip_epoch_32.pt')), clip_features(model),
                  32, 8)


def timm_clip(folder: str) -> Source:
    model = timm_model('vit_base_patch16_clip_224', 33, img_size=32)
    return Source('timm', save(model.state_dict(), os.path.join(folder, 'timm_clip.pth')), timm_tokens(model), 32, 16,
                  backbone=dict(norm_eps=1e-5))


# ----------------------------------------------------------------------------------------------------------------
# I-JEPA (facebookresearch/ijepa), oracles from timm's vit_huge_patch14_gap_224 / vit_huge_patch16_gap_448


def ijepa(folder: str, patch_size: int = 14) -> Source:
    name = 'vit_huge_patch14_gap_224' if patch_size == 14 else 'vit_huge_patch16_gap_448'
    img = 4 * patch_size
    networks = {}
    for seed, entry in ((41, 'encoder'), (42, 'target_encoder')):
        model = timm_model(name, seed, img_size=img, patch_size=patch_size)
        with torch.no_grad():  # get_2d_sincos_pos_embed(..., cls_token=False): meshgrid(grid_w, grid_h)
            model.pos_embed.copy_(sincos_2d(WIDTH, (4, 4), row_first=False))
        networks[entry] = model
    predictor = {'module.predictor_embed.weight': torch.randn(32, WIDTH), 'module.mask_token': torch.zeros(1, 1, 32),
                 'module.predictor_blocks.0.attn.qkv.weight': torch.randn(96, 32)}
    checkpoint = {entry: {f'module.{k}': v for k, v in model.state_dict().items()} for entry, model in networks.items()}
    checkpoint.update(predictor=predictor, opt={}, scaler=None, epoch=300, loss=0.1, batch_size=16, world_size=1,
                      lr=1e-3)
    return Source('ijepa', save(checkpoint, os.path.join(folder, f'ijepa_h{patch_size}.pth.tar')),
                  timm_tokens(networks['target_encoder']), img, patch_size)


# ----------------------------------------------------------------------------------------------------------------
# Hugging Face transformers: random-init models written by save_pretrained


def _transformers():
    return pytest.importorskip('transformers', reason='transformers is an optional test dependency: '
                                                      'pip install transformers')


def hf(folder: str, kind: str, safe_serialization: bool = True) -> Source:
    """``kind``: vit, vit_mae, dinov2, dinov2_reg, beit, data2vec; the folder save_pretrained writes."""
    transformers = _transformers()
    torch.manual_seed(51)
    common = dict(hidden_size=WIDTH, num_hidden_layers=DEPTH, num_attention_heads=HEADS,
                     intermediate_size=4 * WIDTH, image_size=32, patch_size=8)
    if kind == 'vit':
        model = transformers.ViTModel(transformers.ViTConfig(**common, layer_norm_eps=1e-12))
    elif kind == 'vit_mae':
        model = transformers.ViTMAEModel(transformers.ViTMAEConfig(**common, mask_ratio=0.0))
    elif kind == 'dinov2':
        model = transformers.Dinov2Model(transformers.Dinov2Config(**{**common, 'image_size': 56, 'patch_size': 14},
                                                                   mlp_ratio=4))
    elif kind == 'dinov2_reg':
        config = transformers.Dinov2WithRegistersConfig(**{**common, 'image_size': 56, 'patch_size': 14},
                                                        mlp_ratio=4, num_register_tokens=4)
        model = transformers.Dinov2WithRegistersModel(config)
    elif kind in ('beit', 'data2vec'):
        options = dict(**common, use_relative_position_bias=True, use_mean_pooling=True,
                       layer_scale_init_value=0.1)
        model = (transformers.BeitModel(transformers.BeitConfig(**options)) if kind == 'beit' else
                 transformers.Data2VecVisionModel(transformers.Data2VecVisionConfig(**options)))
    else:
        raise ValueError(kind)
    model = randomized(model, 52)
    path = os.path.join(folder, f'hf_{kind}')
    model.save_pretrained(path, safe_serialization=safe_serialization)
    config = model.config
    num_patches = (config.image_size // config.patch_size)**2

    def features(x: torch.Tensor) -> torch.Tensor:
        if kind == 'vit_mae':  # noise = arange keeps every patch in raster order (mask_ratio 0)
            noise = torch.arange(num_patches, dtype=torch.float32).expand(x.shape[0], -1)
            return model(pixel_values=x, noise=noise).last_hidden_state
        return model(pixel_values=x).last_hidden_state

    fmt = {'vit': 'hf-vit', 'vit_mae': 'hf-vit-mae', 'dinov2': 'hf-dinov2', 'dinov2_reg': 'hf-dinov2',
           'beit': 'hf-beit', 'data2vec': 'hf-data2vec-vision'}[kind]
    backbone = dict(final_norm=False) if kind in ('beit', 'data2vec') else {}
    if kind in ('beit', 'data2vec'):
        backbone.update(use_rel_pos_bias=True, pos_embed='none')
    return Source(fmt, path, features, config.image_size, config.patch_size, backbone)


__all__ = ['Source', 'dino', 'ibot_state_dict', 'dinov2', 'clip_openai', 'openclip', 'timm_clip', 'ijepa', 'hf']
