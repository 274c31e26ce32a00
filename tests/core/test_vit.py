"""The shared ViT backbone: options, shapes, dtypes and numerical equivalence with timm's models."""
import functools

import pytest
import timm
import torch
import torch.nn as nn
from timm.models.vision_transformer_sam import VisionTransformerSAM

from resize_oracles import bicubic_resize

from siameseim.layers import resize_patch_positions as resize_pos_embed
from siameseim.layers import sincos_2d
from siameseim.models.vit import ViT, build_backbone, resolve_arch

TINY = dict(arch=None, embed_dim=64, depth=4, num_heads=4)


def tiny_vit(**kwargs) -> ViT:
    torch.manual_seed(0)
    return ViT(**{**TINY, **kwargs}).eval()


def images(batch=2, size=64):
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize('name, expected', [
    ('base', (768, 12, 12, 16)),
    ('vit-b', (768, 12, 12, 16)),
    ('ViT-L/16', (1024, 24, 16, 16)),
    ('vit_small_patch16_224', (384, 12, 6, 16)),
    ('vit-h/14', (1280, 32, 16, 14)),
    ('h', (1280, 32, 16, 14)),
])
def test_arch_presets_and_aliases(name, expected):
    arch = resolve_arch(name)
    assert (arch['embed_dim'], arch['depth'], arch['num_heads'], arch['patch_size']) == expected


def test_unknown_arch_names_the_choices():
    with pytest.raises(ValueError, match="unknown ViT arch 'vit-xl'.*base"):
        resolve_arch('vit-xl')


@pytest.mark.parametrize('kwargs, message', [
    (dict(pos_embed='rope'), 'pos_embed must be one of'),
    (dict(global_pool='max'), 'global_pool must be one of'),
    (dict(global_pool='cls', cls_token=False), 'needs cls_token=True'),
    (dict(num_classes=10), 'needs global_pool'),
    (dict(window_size=4), 'window attention needs a model without cls token'),
    (dict(use_rel_pos=True), 'decomposed relative positions need a model without cls token'),
    (dict(num_heads=5), 'not divisible by 5 heads'),
    (dict(frozen_stages=9), 'exceeds the 4 blocks'),
    (dict(attn_impl='flash'), 'attn_impl must be one of'),
    (dict(cls_token=False, window_size=2, use_rel_pos_bias=True), 'do not combine'),
])
def test_bad_config_values_name_the_problem(kwargs, message):
    with pytest.raises(ValueError, match=message):
        tiny_vit(img_size=64, **kwargs)


@pytest.mark.parametrize('kwargs, expected_shape', [
    (dict(), (2, 1 + 16, 64)),
    (dict(cls_token=False), (2, 16, 64)),
    (dict(pos_embed='learned'), (2, 17, 64)),
    (dict(pos_embed='none'), (2, 17, 64)),
    (dict(layer_scale_init=0.1), (2, 17, 64)),
    (dict(qkv_bias=False), (2, 17, 64)),
    (dict(use_rel_pos_bias=True), (2, 17, 64)),
    (dict(use_rel_pos_bias=True, cls_token=False), (2, 16, 64)),
    (dict(cls_token=False, window_size=2, global_attn_indexes=(1, 3), use_rel_pos=True), (2, 16, 64)),
    (dict(global_pool='avg'), (2, 64)),
    (dict(global_pool='cls'), (2, 64)),
    (dict(global_pool='avg', num_classes=7), (2, 7)),
])
@pytest.mark.parametrize('dtype', [torch.float32, torch.bfloat16])
def test_output_shapes_and_dtypes(kwargs, expected_shape, dtype):
    model = tiny_vit(img_size=64, **kwargs).to(dtype)
    with torch.no_grad():
        out = model(images().to(dtype))
    assert out.shape == expected_shape
    assert out.dtype == dtype
    assert torch.isfinite(out.float()).all()


def test_bf16_autocast_matches_fp32():
    model = tiny_vit(img_size=64)
    x = images()
    with torch.no_grad():
        reference = model.forward_features(x)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            mixed = model.forward_features(x)
    assert torch.allclose(mixed.float(), reference, atol=0.1)


def test_dense_outputs_are_nchw_maps_of_the_requested_blocks():
    model = tiny_vit(img_size=64, out_indices=(0, 1, -1), final_norm=False)
    with torch.no_grad():
        maps = model(images())
        tokens = model.forward_features(images())
    assert [tuple(m.shape) for m in maps] == [(2, 64, 4, 4)] * 3
    expected_last = tokens[:, 1:].transpose(1, 2).reshape(2, 64, 4, 4)
    assert torch.allclose(maps[-1], expected_last)


def test_any_input_size_resizes_the_position_embedding_bicubically():
    model = tiny_vit(img_size=64, pos_embed='learned')
    x = torch.randn(1, 3, 96, 48)
    with torch.no_grad():
        out = model.forward_features(x)
        patch_pos = bicubic_resize(model.pos_embed[:, 1:], (4, 4), (6, 3))
        tokens = model.patch_embed.proj(x).flatten(2).transpose(1, 2) + patch_pos
        cls = model.cls_token + model.pos_embed[:, :1]
        manual = torch.cat([cls, tokens], 1)
        for block in model.blocks:
            manual = block(manual, (6, 3))
        manual = model.norm(manual)
    assert out.shape == (1, 1 + 18, 64)
    assert torch.allclose(out, manual, atol=1e-6)


def test_vitdet_pretrain_sized_pos_embed_is_resized_at_every_forward():
    model = tiny_vit(img_size=128, pretrain_img_size=64, cls_token=False, out_indices=(3, ))
    assert model.pos_embed.shape == (1, 16, 64)
    with torch.no_grad():
        (feature_map, ) = model(torch.randn(1, 3, 128, 128))
    assert feature_map.shape == (1, 64, 8, 8)


def test_sincos_conventions_row_first_and_mae_column_first():
    siameseim = sincos_2d(32, (3, 5), num_prefix_tokens=1)
    mae = sincos_2d(32, (3, 5), num_prefix_tokens=1, row_first=False)
    assert siameseim.shape == (1, 16, 32)
    assert torch.equal(siameseim[0, 0], torch.zeros(32))
    assert torch.equal(mae[..., :16], siameseim[..., 16:]) and torch.equal(mae[..., 16:], siameseim[..., :16])
    row, col, token = 2, 3, 1 + 2 * 5 + 3
    omega = 1.0 / 10000**(torch.arange(8, dtype=torch.float64) / 8)
    expected = torch.cat([torch.sin(row * omega), torch.cos(row * omega), torch.sin(col * omega), torch.cos(col * omega)])
    assert torch.allclose(siameseim[0, token].double(), expected, atol=1e-7)
    assert not siameseim.requires_grad


def test_default_pos_embed_is_the_frozen_row_first_table():
    model = tiny_vit(img_size=64)
    assert torch.equal(model.pos_embed.data, sincos_2d(64, (4, 4), 1))
    assert not model.pos_embed.requires_grad
    assert tiny_vit(img_size=64, pos_embed='learned').pos_embed.requires_grad


def test_resize_pos_embed_identity_and_smooth_fields():
    table = torch.randn(1, 1 + 16, 8)
    assert torch.equal(resize_pos_embed(table, (4, 4), (4, 4), 1), table)
    constant = torch.cat([torch.randn(1, 1, 8), torch.full((1, 16, 8), 0.5)], 1)
    resized = resize_pos_embed(constant, (4, 4), (7, 5), 1)
    assert resized.shape == (1, 1 + 35, 8)
    assert torch.equal(resized[:, :1], constant[:, :1])
    assert torch.allclose(resized[:, 1:], torch.full((1, 35, 8), 0.5), atol=1e-6)
    with pytest.raises(ValueError, match='does not match a 5x5 grid'):
        resize_pos_embed(table, (5, 5), (4, 4), 1)


@pytest.mark.parametrize('kwargs', [
    dict(),
    dict(use_rel_pos_bias=True, layer_scale_init=0.5),
    dict(cls_token=False, window_size=3, global_attn_indexes=(2, ), use_rel_pos=True),
])
def test_sdpa_equals_eager_attention(kwargs):
    sdpa = tiny_vit(img_size=64, **kwargs)
    positional = [param for name, param in sdpa.named_parameters() if 'rel_pos' in name or 'relative_position' in name]
    assert bool(positional) == any(kwargs.get(flag) for flag in ('use_rel_pos_bias', 'use_rel_pos'))
    for param in positional:
        nn.init.normal_(param, std=0.2)
    eager = tiny_vit(img_size=64, attn_impl='eager', **kwargs)
    eager.load_state_dict(sdpa.state_dict())
    with torch.no_grad():
        assert torch.allclose(sdpa.forward_features(images()), eager.forward_features(images()), atol=1e-5)


@pytest.mark.parametrize('use_rel_pos', [False, True])
def test_window_attention_equals_global_attention_when_the_window_covers_the_grid(use_rel_pos):
    common = dict(img_size=64, cls_token=False, use_rel_pos=use_rel_pos)
    global_model = tiny_vit(**common)
    positional = [param for name, param in global_model.named_parameters() if 'rel_pos' in name]
    assert bool(positional) == use_rel_pos
    for param in positional:
        nn.init.normal_(param, std=0.2)
    windowed = tiny_vit(window_size=4, **common)
    assert windowed.blocks[0].window_size == 4
    windowed.load_state_dict(global_model.state_dict())
    with torch.no_grad():
        assert torch.allclose(windowed(images()), global_model(images()), atol=1e-6)


def test_smaller_windows_differ_from_global_attention():
    global_model = tiny_vit(img_size=64, cls_token=False)
    padded = tiny_vit(img_size=64, cls_token=False, window_size=3)
    padded.load_state_dict(global_model.state_dict())
    with torch.no_grad():
        assert not torch.allclose(padded(images()), global_model(images()), atol=1e-3)


def test_matches_timm_vision_transformer():
    reference = timm.create_model('vit_small_patch16_224', pretrained=False, num_classes=0).eval()
    model = ViT('small', pos_embed='learned').eval()
    assert not model.load_state_dict(reference.state_dict(), strict=True).missing_keys
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        assert torch.allclose(model.forward_features(x), reference.forward_features(x), atol=1e-5)


def test_window_and_decomposed_rel_pos_match_timm_sam_vit():
    """timm's SAM ViT is ViTDet's backbone: window attention with padding, global blocks, decomposed rel-pos."""
    reference = VisionTransformerSAM(
        img_size=256, embed_dim=64, depth=4, num_heads=4, use_rel_pos=True, window_size=7,
        global_attn_indexes=(1, 3), neck_chans=0, num_classes=0,
        norm_layer=functools.partial(nn.LayerNorm, eps=1e-6)).eval()
    for name, param in reference.named_parameters():
        if 'rel_pos' in name or 'pos_embed' in name:
            nn.init.normal_(param, std=0.1)
    state = {key.replace('neck.', 'norm.'): value for key, value in reference.state_dict().items()}
    state['pos_embed'] = state['pos_embed'].reshape(1, -1, 64)
    model = tiny_vit(
        img_size=256, cls_token=False, pos_embed='learned', window_size=7, global_attn_indexes=(1, 3),
        use_rel_pos=True, out_indices=(3, ))
    model.load_state_dict(state, strict=True)
    x = torch.randn(1, 3, 256, 256)
    with torch.no_grad():
        assert torch.allclose(model(x)[0], reference.forward_features(x), atol=1e-5)


def test_forward_on_visible_tokens_only():
    model = tiny_vit(img_size=64)
    x = images()
    all_ids = torch.arange(16).expand(2, -1)
    with torch.no_grad():
        assert torch.allclose(model.forward_features(x, ids_keep=all_ids), model.forward_features(x), atol=1e-6)
        ids_keep = torch.stack([torch.randperm(16)[:6].sort().values for _ in range(2)])
        out = model.forward_features(x, ids_keep=ids_keep)
        tokens, grid = model.embed_tokens(x)
        visible = torch.cat([tokens[:, :1], torch.gather(tokens[:, 1:], 1, ids_keep[..., None].expand(-1, -1, 64))], 1)
        for block in model.blocks:
            visible = block(visible, grid)
    assert out.shape == (2, 1 + 6, 64)
    assert torch.allclose(out, model.norm(visible), atol=1e-6)
    with pytest.raises(ValueError, match='needs plain global attention'):
        tiny_vit(img_size=64, use_rel_pos_bias=True).forward_features(x, ids_keep=ids_keep)


def test_gradient_checkpointing_gives_the_same_gradients():
    plain = tiny_vit(img_size=64, drop_path_rate=0.0).train()
    checkpointed = tiny_vit(img_size=64, grad_checkpointing=True).train()
    checkpointed.load_state_dict(plain.state_dict())
    for model in (plain, checkpointed):
        model.forward_features(images()).square().mean().backward()
    with_grad = [name for name, param in plain.named_parameters() if param.grad is not None]
    assert with_grad == [name for name, param in checkpointed.named_parameters() if param.grad is not None]
    assert all(f'blocks.{i}.attn.qkv.weight' in with_grad for i in range(len(plain.blocks)))
    for (name, a), (_, b) in zip(plain.named_parameters(), checkpointed.named_parameters()):
        if name in with_grad:
            assert torch.allclose(a.grad, b.grad, atol=1e-6), name


def test_drop_path_is_stochastic_in_training_only():
    model = tiny_vit(img_size=64, drop_path_rate=0.5).train()
    x = images()
    assert not torch.allclose(model(x), model(x))
    model.eval()
    assert torch.equal(model(x), model(x))


def test_frozen_stages_freeze_embeddings_and_first_blocks():
    model = tiny_vit(img_size=64, frozen_stages=2, drop_path_rate=0.2, pos_embed='learned').train()
    assert not model.patch_embed.proj.weight.requires_grad
    assert not model.cls_token.requires_grad and not model.pos_embed.requires_grad
    assert all(not p.requires_grad for p in model.blocks[1].parameters())
    assert all(p.requires_grad for p in model.blocks[2].parameters())
    assert not model.blocks[1].training and model.blocks[2].training


def test_layer_scale_and_rel_pos_parameters_have_canonical_names():
    model = tiny_vit(img_size=64, layer_scale_init=0.1, use_rel_pos_bias=True, global_pool='avg', num_classes=3)
    state = model.state_dict()
    assert torch.equal(state['blocks.0.ls1.gamma'], torch.full((64, ), 0.1))
    assert state['blocks.0.attn.relative_position_bias_table'].shape == ((2 * 4 - 1)**2 + 3, 4)
    assert 'blocks.0.attn.relative_position_index' not in state
    assert {'fc_norm.weight', 'head.weight', 'norm.weight', 'cls_token', 'pos_embed'} <= set(state)
    vitdet = tiny_vit(img_size=64, cls_token=False, window_size=2, global_attn_indexes=(3, ), use_rel_pos=True)
    assert vitdet.state_dict()['blocks.0.attn.rel_pos_h'].shape == (3, 16)
    assert vitdet.state_dict()['blocks.3.attn.rel_pos_h'].shape == (7, 16)


def test_build_backbone_from_name_dict_and_downstream_registries():
    from mmdet.registry import MODELS as MMDET_MODELS
    from mmseg.registry import MODELS as MMSEG_MODELS

    assert build_backbone('vit-s', depth=2).embed_dim == 384
    assert build_backbone(dict(arch='tiny', depth=2)).depth == 2
    for registry in (MMDET_MODELS, MMSEG_MODELS):
        model = registry.build(dict(type='siameseim.ViT', arch='tiny', depth=1, img_size=32))
        assert isinstance(model, ViT)


def test_init_cfg_pretrained_is_taken_as_the_checkpoint_path():
    model = ViT(**TINY, img_size=32, init_cfg=dict(type='Pretrained', checkpoint='weights.pth'))
    assert model.pretrained == 'weights.pth'


def test_init_weights_loads_the_pretrained_checkpoint_strictly(tmp_path):
    source = tiny_vit(img_size=64, pos_embed='learned')
    path = tmp_path / 'deit.pth'
    torch.save({'model': source.state_dict()}, path)
    detector = tiny_vit(img_size=128, pretrain_img_size=64, cls_token=False, pos_embed='learned', window_size=4,
                        global_attn_indexes=(3, ), use_rel_pos=True, final_norm=False, pretrained=str(path))
    detector.init_weights()
    assert torch.equal(detector.blocks[2].mlp.fc1.weight, source.blocks[2].mlp.fc1.weight)
    assert torch.equal(detector.pos_embed, source.pos_embed[:, 1:])

    state = source.state_dict()
    del state['blocks.1.mlp.fc1.weight']
    torch.save({'model': state}, path)
    from siameseim import CheckpointError
    with pytest.raises(CheckpointError, match=r'strict load failed: 1 unexpected missing keys \(blocks.\*.mlp.fc1.weight\)'):
        tiny_vit(img_size=64, pos_embed='learned', pretrained=str(path)).init_weights()
    tiny_vit(img_size=64, pos_embed='learned', pretrained=str(path), pretrained_strict=False).init_weights()


def test_decomposed_rel_pos_without_a_bias_tensor_gives_eager_gradients():
    common = dict(img_size=64, cls_token=False, window_size=3, global_attn_indexes=(1, 3), use_rel_pos=True)
    sdpa, eager = tiny_vit(**common), tiny_vit(attn_impl='eager', **common)
    for name, param in sdpa.named_parameters():
        if 'rel_pos' in name:
            nn.init.normal_(param, std=0.2)
    eager.load_state_dict(sdpa.state_dict())
    for model in (sdpa, eager):
        model.forward_features(images()).square().mean().backward()
    trainable = [(name, a, b) for (name, a), (_, b) in zip(sdpa.named_parameters(), eager.named_parameters())
                 if a.requires_grad]
    assert len(trainable) > 4 * len(sdpa.blocks)
    for name, a, b in trainable:
        assert a.grad is not None and b.grad is not None, name
        assert torch.allclose(a.grad, b.grad, atol=1e-5), name
    assert sdpa.blocks[1].attn.rel_pos_h.grad.abs().sum() > 0
