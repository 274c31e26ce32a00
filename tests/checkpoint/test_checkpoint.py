"""siameseim.checkpoint: every format onto the backbone, position-table resizing, safe reading, errors, reports."""
import datetime
import os
import shutil

import numpy as np
import pytest
import timm
import torch
import torch.nn.functional as F
from checkpoint_formats import (CASES, DIM, GRID, HEADS, IMG, VIT_SIZES, images, outputs, randomize, timm_beit,
                                timm_vit, with_sincos, write_bad_file)
from resize_oracles import beit_resize, bicubic_resize

from siameseim.checkpoint import (CheckpointError, UntrustedPickleWarning, check_architecture, detect_format,
                                  infer_arch, load_pretrained, read_checkpoint, resize_rel_pos,
                                  resize_rel_pos_bias_table, to_canonical)
from siameseim.layers import resize_patch_positions
from siameseim.layers import resize_pos_embed_and_prefix as resize_pos_embed
from siameseim.layers import sincos_2d
from siameseim.models.vit import ViT


def build_vit(**kwargs) -> ViT:
    torch.manual_seed(0)
    return ViT(**{**VIT_SIZES, **kwargs}).eval()


def saved(tmp_path, obj, name='checkpoint.pth'):
    path = tmp_path / name
    torch.save(obj, path)
    return path


# ---------------------------------------------------------------------------------------------------------
# Every format reproduces its timm oracle


@pytest.mark.parametrize('name', list(CASES))
def test_every_format_loads_to_the_oracle_outputs(name, tmp_path):
    case = CASES[name]()
    vit = build_vit(**case.vit_kwargs)
    report = load_pretrained(vit, saved(tmp_path, case.checkpoint), keep_head=case.keep_head,
                             use_target_encoder=case.use_target_encoder, strict=True)
    assert report.format == case.format
    assert report.metadata['pos_embed_convention'] == case.pos_embed_convention
    assert not report.missing and not report.unexpected
    x = images()
    torch.testing.assert_close(outputs(vit, x, case.keep_head), outputs(case.oracle, x, case.keep_head),
                               atol=1e-5, rtol=0)


@pytest.mark.slow
def test_real_vit_base_patch16_224_in_mae_layout(tmp_path):
    """timm's ViT-B/16 saved as MAE's released encoder (column-first sin-cos table) loads into arch='vit-b'."""
    oracle = timm.create_model('vit_base_patch16_224', pretrained=False, num_classes=0).eval()
    with torch.no_grad():  # matrices are random already; biases and norms are not
        for param in oracle.parameters():
            if param.ndim == 1:
                param.add_(0.1 * torch.randn(param.shape, generator=torch.Generator().manual_seed(param.numel())))
        oracle.pos_embed.copy_(sincos_2d(768, (14, 14), num_prefix_tokens=1, row_first=False))
    path = saved(tmp_path, {'model': oracle.state_dict()})
    vit = ViT(arch='vit-b', pos_embed='learned').eval()
    report = load_pretrained(vit, path, strict=True)
    assert report.format == 'mae' and report.metadata['pos_embed_convention'] == 'col_first'
    arch = report.metadata['arch']
    assert (arch['name'], arch['embed_dim'], arch['depth'], arch['num_heads'], arch['patch_size']) == \
        ('base', 768, 12, 12, 16)
    assert len(report.loaded) == 4 + 12 * 12 + 2
    x = images(1, 224)
    torch.testing.assert_close(outputs(vit, x, False), outputs(oracle, x, False), atol=1e-5, rtol=0)


def test_bare_state_dict_and_safetensors_file_load(tmp_path):
    from safetensors.torch import save_file

    oracle = timm_vit(20)
    path = tmp_path / 'model.safetensors'
    save_file(oracle.state_dict(), str(path))
    for source in (path, oracle.state_dict()):
        vit = build_vit(pos_embed='learned')
        assert load_pretrained(vit, source, strict=True).format == 'timm'
        torch.testing.assert_close(outputs(vit, images(), False), outputs(oracle, images(), False), atol=1e-5, rtol=0)


def test_init_weights_loads_the_pretrained_path(tmp_path):
    case = CASES['mae']()
    vit = build_vit(pos_embed='learned', pretrained=str(saved(tmp_path, case.checkpoint)))
    vit.init_weights()
    torch.testing.assert_close(outputs(vit, images(), False), outputs(case.oracle, images(), False), atol=1e-5, rtol=0)


def test_detect_format_on_bare_state_dicts():
    assert detect_format(with_sincos(timm_vit(21), row_first=False).state_dict()) == 'mae'
    assert detect_format(with_sincos(timm_vit(21), row_first=True).state_dict()) == 'moco-v3'
    assert detect_format(timm_vit(21).state_dict()) == 'timm'


def test_canonical_metadata_records_source_facts():
    _, metadata = to_canonical(CASES['beit-shared']().checkpoint)
    assert metadata['mean'] == metadata['std'] == (0.5, 0.5, 0.5)
    assert metadata['arch']['num_heads'] == HEADS
    assert metadata['arch']['num_heads_source'] == 'relative position bias table'
    assert metadata['arch']['rel_pos_bias_grid'] == GRID and metadata['arch']['layer_scale']
    _, metadata = to_canonical(CASES['siameseim-pretrain']().checkpoint)
    assert metadata['arch']['pos_embed_grid'] == GRID and not metadata['arch']['final_norm']
    assert metadata['dropped']['mm_blocks.0.attn.qkv.weight'].startswith('SiameseIM target')
    _, metadata = to_canonical(CASES['siameseim-pretrain']().checkpoint, use_target_encoder=True)
    assert metadata['dropped']['blocks.0.attn.qkv.weight'].startswith('SiameseIM online branch')
    assert metadata['dropped']['mm_decoder_embed.weight'] == 'pretraining decoder / projector / predictor'


def test_beit_qv_bias_becomes_qkv_bias_with_zero_key_bias():
    state_dict, _ = to_canonical(CASES['beit-per-block']().checkpoint)
    source = CASES['beit-per-block']().checkpoint['model']
    bias = state_dict['blocks.1.attn.qkv.bias']
    expected = torch.cat([source['blocks.1.attn.q_bias'], torch.zeros(DIM), source['blocks.1.attn.v_bias']])
    assert torch.equal(bias, expected)
    assert torch.equal(state_dict['blocks.1.ls2.gamma'], source['blocks.1.gamma_2'])


def test_classifier_is_dropped_unless_requested():
    checkpoint = CASES['siameseim-finetune']().checkpoint
    without, metadata = to_canonical(checkpoint)
    assert not any(key.startswith(('head.', 'fc_norm.')) for key in without)
    assert 'keep_head=True' in metadata['dropped']['head.weight']
    with_head, _ = to_canonical(checkpoint, keep_head=True)
    assert {'head.weight', 'head.bias', 'fc_norm.weight', 'fc_norm.bias'} <= set(with_head)


# ---------------------------------------------------------------------------------------------------------
# Adapting to other backbones


def test_siameseim_into_backbone_with_final_norm_reports_it_expected():
    vit = build_vit(pos_embed='sincos')
    report = load_pretrained(vit, CASES['siameseim-pretrain']().checkpoint, strict=True)
    assert set(report.missing) == {'norm.weight', 'norm.bias'} and not report.unexplained_missing
    assert torch.equal(vit.norm.weight, torch.ones(DIM)) and torch.equal(vit.norm.bias, torch.zeros(DIM))
    text = str(report)
    assert 'missing: 2 (2 expected)' in text and 'checkpoint has no final norm' in text
    assert 'pretraining decoder / projector / predictor' in text and 'mm_blocks.*.attn.qkv.weight' in text


def test_larger_input_resizes_pos_embed_bicubically():
    case = CASES['deit']()
    vit = build_vit(pos_embed='learned', img_size=48)
    report = load_pretrained(vit, case.checkpoint, strict=True)
    assert report.resized == [('pos_embed', (1, 17, DIM), (1, 37, DIM))]
    stored = case.checkpoint['model']['pos_embed']
    patch_map = stored[:, 1:].reshape(1, 4, 4, DIM).permute(0, 3, 1, 2)
    expected = F.interpolate(patch_map, size=(6, 6), mode='bicubic', align_corners=False)
    assert torch.equal(vit.pos_embed[:, :1], stored[:, :1])
    torch.testing.assert_close(vit.pos_embed[:, 1:], expected.permute(0, 2, 3, 1).reshape(1, 36, DIM))


def test_vitdet_backbone_drops_cls_and_final_norm_and_keeps_rel_pos_at_zero():
    case = CASES['mae']()
    vit = build_vit(pos_embed='learned', cls_token=False, final_norm=False, img_size=64, pretrain_img_size=IMG,
                    window_size=2, global_attn_indexes=(1, ), use_rel_pos=True)
    report = load_pretrained(vit, case.checkpoint, strict=True)
    assert report.dropped['cls_token'].startswith('model has no cls token')
    assert report.dropped['norm.weight'].startswith('model has no final norm')
    assert report.resized == [('pos_embed', (1, 17, DIM), (1, 16, DIM))]
    assert torch.equal(vit.pos_embed, case.checkpoint['model']['pos_embed'][:, 1:])
    assert sorted(report.missing) == sorted(f'blocks.{i}.attn.rel_pos_{axis}' for i in range(2) for axis in 'hw')
    assert all('zero init' in reason for reason in report.missing.values())


def test_pos_embed_cls_row_without_cls_token_is_recognised():
    """detectron2 ViTDet checkpoints keep the 197-row table but no cls token."""
    state_dict = CASES['mae']().checkpoint['model']
    del state_dict['cls_token']
    vit = build_vit(pos_embed='learned', cls_token=False)
    report = load_pretrained(vit, state_dict, strict=True)
    assert report.resized == [('pos_embed', (1, 17, DIM), (1, 16, DIM))]
    assert torch.equal(vit.pos_embed, state_dict['pos_embed'][:, 1:])


def test_beit_into_backbone_with_abs_pos_embed_keeps_the_models_table():
    vit = build_vit(pos_embed='learned', use_rel_pos_bias=True, layer_scale_init=0.1)
    own_table = vit.pos_embed.detach().clone()
    report = load_pretrained(vit, CASES['beit-shared']().checkpoint, strict=True)
    assert list(report.missing) == ['pos_embed'] and 'BEiT' in report.missing['pos_embed']
    assert torch.equal(vit.pos_embed, own_table)


def test_beit_tables_resized_to_a_larger_grid_and_without_cls():
    case = CASES['beit-per-block']()
    table = case.checkpoint['model']['blocks.0.attn.relative_position_bias_table']
    vit = build_vit(pos_embed='none', use_rel_pos_bias=True, layer_scale_init=0.1, img_size=48)
    report = load_pretrained(vit, case.checkpoint, strict=True)
    assert ('blocks.0.attn.relative_position_bias_table', (52, HEADS), (124, HEADS)) in report.resized
    torch.testing.assert_close(vit.blocks[0].attn.relative_position_bias_table, beit_resize(table, GRID, (6, 6), 3),
                               atol=2e-4, rtol=0)
    no_cls = build_vit(pos_embed='none', use_rel_pos_bias=True, layer_scale_init=0.1, cls_token=False)
    load_pretrained(no_cls, case.checkpoint, strict=True)
    assert torch.equal(no_cls.blocks[0].attn.relative_position_bias_table, table[:49])


def test_decomposed_rel_pos_of_a_downstream_checkpoint_resized_linearly():
    source = randomize(build_vit(pos_embed='learned', cls_token=False, window_size=2, global_attn_indexes=(1, ),
                                 use_rel_pos=True), 30)
    checkpoint = {'meta': {'iter': 5}, 'state_dict': {'backbone.' + k: v for k, v in source.state_dict().items()}}
    target = build_vit(pos_embed='learned', cls_token=False, window_size=4, global_attn_indexes=(1, ),
                       use_rel_pos=True)
    report = load_pretrained(target, checkpoint, strict=True)
    assert report.format == 'siameseim-suite-downstream'
    assert ('blocks.0.attn.rel_pos_h', (3, DIM // HEADS), (7, DIM // HEADS)) in report.resized
    expected = F.interpolate(source.blocks[0].attn.rel_pos_w.t()[None], size=7, mode='linear')[0].t()
    torch.testing.assert_close(target.blocks[0].attn.rel_pos_w, expected)
    assert torch.equal(target.blocks[1].attn.rel_pos_h, source.blocks[1].attn.rel_pos_h)


# ---------------------------------------------------------------------------------------------------------
# Architecture and key errors


def fake_state_dict(embed_dim: int, depth: int, patch: int = 16) -> dict:
    """Shapes only (meta tensors): enough for format detection and the architecture check."""
    def meta(*shape):
        return torch.empty(*shape, device='meta')

    state_dict = {'cls_token': meta(1, 1, embed_dim), 'patch_embed.proj.weight': meta(embed_dim, 3, patch, patch)}
    for index in range(depth):
        state_dict[f'blocks.{index}.norm1.weight'] = meta(embed_dim)
        state_dict[f'blocks.{index}.mlp.fc1.weight'] = meta(4 * embed_dim, embed_dim)
    return {'model': state_dict}


def test_depth_and_width_mismatch_names_the_arch_to_build():
    with pytest.raises(CheckpointError) as error:
        load_pretrained(ViT(arch='base'), fake_state_dict(1024, 24))
    assert str(error.value) == ("checkpoint has depth 24 / width 1024 (ViT-L) but the model is depth 12 / width 768 "
                                "(ViT-B): build the backbone with arch='large'")


def test_non_preset_sizes_suggest_explicit_arguments():
    arch = infer_arch(fake_state_dict(96, 3, patch=8)['model'])
    with pytest.raises(CheckpointError, match=r"embed_dim=96, depth=3, num_heads=<heads>"):
        check_architecture(arch, embed_dim=DIM, depth=2, num_heads=HEADS, patch_size=8)


def test_patch_size_mismatch():
    with pytest.raises(CheckpointError, match=r'patch size 8 but the model has 16: .*patch_size=8'):
        load_pretrained(build_vit(patch_size=16), CASES['deit']().checkpoint)


def test_heads_known_from_rel_pos_tables_must_match():
    with pytest.raises(CheckpointError, match=r'3 heads \(from its relative position bias table\).*num_heads=3'):
        load_pretrained(build_vit(num_heads=6, **CASES['beit-shared']().vit_kwargs), CASES['beit-shared']().checkpoint)


def test_other_shape_mismatches_are_listed():
    with pytest.raises(CheckpointError, match=r'blocks\.0\.mlp\.fc1\.weight \[768, 192\] vs \[384, 192\]'):
        load_pretrained(build_vit(mlp_ratio=2.0), CASES['deit']().checkpoint)
    with pytest.raises(CheckpointError, match=r'head\.weight \[10, 192\] vs \[5, 192\]'):
        load_pretrained(build_vit(global_pool='cls', num_classes=5), CASES['deit']().checkpoint, keep_head=True)


def test_strict_raises_on_unexpected_missing_keys_only():
    checkpoint = CASES['deit']().checkpoint
    del checkpoint['model']['blocks.1.mlp.fc2.weight']
    report = load_pretrained(build_vit(pos_embed='learned'), checkpoint)
    assert report.unexplained_missing == ['blocks.1.mlp.fc2.weight'] and 'NOT EXPECTED' in str(report)
    with pytest.raises(CheckpointError, match=r'strict load failed: 1 unexpected missing keys \(blocks\.\*\.mlp'):
        load_pretrained(build_vit(pos_embed='learned'), checkpoint, strict=True)


def test_layer_scale_in_checkpoint_but_not_in_model_is_unused():
    report = load_pretrained(build_vit(**dict(CASES['beit-shared']().vit_kwargs, layer_scale_init=None)),
                             CASES['beit-shared']().checkpoint)
    assert sorted(report.unexpected) == sorted(f'blocks.{i}.ls{j}.gamma' for i in range(2) for j in (1, 2))
    with pytest.raises(CheckpointError, match='4 unused keys'):
        load_pretrained(build_vit(**dict(CASES['beit-shared']().vit_kwargs, layer_scale_init=None)),
                        CASES['beit-shared']().checkpoint, strict=True)


def test_target_encoder_of_a_format_without_one():
    with pytest.raises(CheckpointError, match='deit checkpoint has no target encoder'):
        to_canonical(CASES['deit']().checkpoint, use_target_encoder=True)


def test_resnet_state_dict_is_not_a_vit(tmp_path):
    resnet = timm.create_model('resnet18', pretrained=False)
    with pytest.raises(CheckpointError, match=r'not a ViT checkpoint .*conv1\.weight') as error:
        load_pretrained(build_vit(), saved(tmp_path, {'state_dict': resnet.state_dict()}))
    assert str(error.value).startswith(str(tmp_path)) and '\n' not in str(error.value)


# ---------------------------------------------------------------------------------------------------------
# Reading files


def test_namespace_and_numpy_values_load_without_trust(tmp_path):
    checkpoint = read_checkpoint(saved(tmp_path, CASES['timm-train-output']().checkpoint))
    assert checkpoint['args'].model == 'vit_base_patch16_224' and checkpoint['metric'] == np.float64(81.5)


def test_reading_leaves_globally_registered_safe_globals_in_place(tmp_path):
    """siameseim.compat registers numpy globals for mmengine; reading a checkpoint must not unregister them."""
    before = set(torch.serialization.get_safe_globals())
    read_checkpoint(saved(tmp_path, CASES['timm-train-output']().checkpoint))
    assert set(torch.serialization.get_safe_globals()) == before


def test_mmengine_message_hub_loads_without_trust(tmp_path):
    checkpoint = read_checkpoint(saved(tmp_path, CASES['siameseim-suite-downstream']().checkpoint))
    assert 'train/loss' in checkpoint['message_hub']['log_scalars']


BAD_FILES = {
    'missing': r'no such file: check the path',
    'folder': r'is a folder, not a checkpoint file',
    'empty': r'is empty: re-download or re-save',
    'truncated': r'is truncated or corrupted .*: re-download or re-save',
    'text': r'is not a PyTorch checkpoint \(neither a torch.save zip archive nor a pickle\)',
    'plain-pickle': r'is a plain pickle, not a PyTorch checkpoint',
    'list': r'holds a list, not a checkpoint',
    'bad-safetensors': r'is not a readable safetensors file',
}


@pytest.mark.parametrize('kind', list(BAD_FILES))
def test_bad_files_raise_one_line_naming_file_problem_and_fix(kind, tmp_path):
    path = {'missing': tmp_path / 'nope.pth', 'folder': tmp_path}.get(kind) or write_bad_file(tmp_path, kind)
    with pytest.raises(CheckpointError, match=BAD_FILES[kind]) as error:
        read_checkpoint(path)
    assert str(error.value).startswith(str(path)) and '\n' not in str(error.value)
    assert isinstance(error.value, ValueError)


def test_arbitrary_pickled_objects_need_trust(tmp_path):
    path = saved(tmp_path, {'model': timm_vit(0).state_dict(), 'saved_at': datetime.datetime(2024, 1, 1)})
    with pytest.raises(CheckpointError, match=r'arbitrary pickled objects \(datetime.datetime\).*--trust-pickle') as e:
        read_checkpoint(path)
    assert '\n' not in str(e.value)
    with pytest.warns(UntrustedPickleWarning, match='only for files you trust'):
        checkpoint = read_checkpoint(path, trust_pickle=True)
    assert checkpoint['saved_at'].year == 2024


# ---------------------------------------------------------------------------------------------------------
# Resizing position tables


def grid_table(grid, channels, fn, prefix=1):
    rows, cols = torch.meshgrid(torch.arange(grid[0], dtype=torch.float32), torch.arange(grid[1], dtype=torch.float32),
                                indexing='ij')
    patches = torch.stack([fn(rows, cols, ch) for ch in range(channels)], dim=-1).reshape(1, -1, channels)
    return torch.cat([torch.full((1, prefix, channels), 7.0), patches], dim=1)


def test_pos_embed_same_grid_is_identity():
    table = torch.randn(1, 17, 8)
    assert torch.equal(resize_pos_embed(table, (4, 4), (4, 4)), table)


def test_pos_embed_resize_keeps_constants_and_samples_smooth_functions_at_pixel_centres():
    """14x14 -> 32x32 as for ADE20k: constants exact; a smooth function lands near its value at the source
    coordinate ``(i + 0.5)·14/32 - 0.5`` (align_corners=False; align_corners=True would be off by ~0.11)."""
    table = grid_table((14, 14), 2, lambda r, c, ch: torch.full_like(r, 3.0) if ch == 0 else
                       torch.sin(0.3 * r) + torch.cos(0.2 * c))
    resized = resize_pos_embed(table, (14, 14), (32, 32))
    assert resized.shape == (1, 1 + 32 * 32, 2) and torch.equal(resized[:, 0], table[:, 0])
    patches = resized[0, 1:].reshape(32, 32, 2)
    torch.testing.assert_close(patches[..., 0], torch.full((32, 32), 3.0))
    coord = (torch.arange(32) + 0.5) * 14 / 32 - 0.5
    inside = (coord >= 1) & (coord <= 12)  # away from the clamped border taps
    expected = torch.sin(0.3 * coord[inside, None]) + torch.cos(0.2 * coord[None, inside])
    torch.testing.assert_close(patches[inside][:, inside, 1], expected, atol=0.03, rtol=0)


@pytest.mark.parametrize('src, dst', [((4, 4), (6, 3)), ((14, 14), (32, 32)), ((7, 5), (3, 9))])
def test_pos_embed_resize_equals_written_out_bicubic(src, dst):
    """Both resizers (checkpoint loading, and the backbone's per-input resize) against the bicubic oracle."""
    table = torch.randn(1, 1 + src[0] * src[1], 6, generator=torch.Generator().manual_seed(0))
    expected = bicubic_resize(table[:, 1:], src, dst)
    resized = resize_pos_embed(table, src, dst)
    assert torch.equal(resized[:, :1], table[:, :1])
    torch.testing.assert_close(resized[:, 1:], expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(resize_patch_positions(table[:, 1:], src, dst), expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize('src, dst', [((4, 4), (6, 6)), ((8, 8), (12, 12)), ((14, 14), (32, 32)), ((4, 6), (6, 5)),
                                      ((8, 8), (5, 5))])
def test_rel_pos_bias_table_resize_equals_the_cubic_spline_oracle(src, dst):
    """Growing, shrinking (a crop) and non-square grids; the tolerance covers BEiT's 1e-6 bisection of the ratio."""
    table = torch.randn((2 * src[0] - 1) * (2 * src[1] - 1) + 3, 3, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(resize_rel_pos_bias_table(table, src, dst, 3), beit_resize(table, src, dst, 3),
                               atol=2e-4, rtol=0)


def test_pos_embed_non_square_grid_keeps_orientation():
    table = grid_table((2, 3), 2, lambda r, c, ch: r if ch == 0 else c)
    patches = resize_pos_embed(table, (2, 3), (4, 6))[0, 1:].reshape(4, 6, 2)
    assert torch.allclose(patches[..., 0], patches[:, :1, 0].expand(4, 6))  # row value constant along a row
    assert torch.allclose(patches[..., 1], patches[:1, :, 1].expand(4, 6))  # column value constant down a column
    assert patches[-1, 0, 0] > patches[0, 0, 0] and patches[0, -1, 1] > patches[0, 0, 1]


def test_pos_embed_prefix_rows_dropped_kept_or_zero_padded():
    table = torch.randn(1, 2 + 16, 8)
    no_cls = resize_pos_embed(table[:, 1:], (4, 4), (6, 6), num_prefix_src=1, num_prefix_dst=0)
    with_cls = resize_pos_embed(table[:, 1:], (4, 4), (6, 6), num_prefix_src=1)
    assert no_cls.shape == (1, 36, 8) and torch.equal(no_cls, with_cls[:, 1:])
    distilled = resize_pos_embed(table, (4, 4), (4, 4), num_prefix_src=2, num_prefix_dst=1)
    assert torch.equal(distilled, torch.cat([table[:, :1], table[:, 2:]], dim=1))
    padded = resize_pos_embed(table[:, 2:], (4, 4), (4, 4), num_prefix_src=0, num_prefix_dst=1)
    assert torch.equal(padded[:, 0], torch.zeros(1, 8)) and torch.equal(padded[:, 1:], table[:, 2:])
    with pytest.raises(ValueError, match='does not match a 5x5 grid'):
        resize_pos_embed(table, (5, 5), (6, 6))


def beit_reference_nodes(src_size: int, dst_size: int) -> np.ndarray:
    """BEiT's own offset positions (``run_class_finetuning.py``), written out independently."""
    left, right = 1.01, 1.5
    while right - left > 1e-6:
        q = (left + right) / 2.0
        if (1.0 - q**(src_size // 2)) / (1.0 - q) > dst_size // 2:
            right = q
        else:
            left = q
    dis, cur = [], 1
    for i in range(src_size // 2):
        dis.append(cur)
        cur += q**(i + 1)
    return np.array([-d for d in reversed(dis)] + [0] + dis)


def test_rel_pos_bias_table_geometric_resize_matches_beit_nodes():
    """A table linear in BEiT's node positions must come out linear in the integer target offsets."""
    nodes = torch.from_numpy(beit_reference_nodes(27, 63)).float()  # 14x14 -> 32x32 grid
    offsets = (2.0 * nodes[:, None] - 0.5 * nodes[None, :] + 1.0).reshape(-1, 1).repeat(1, 2)
    table = torch.cat([offsets, torch.tensor([[5.0, 6.0], [7.0, 8.0], [9.0, 10.0]])])
    resized = resize_rel_pos_bias_table(table, (14, 14), (32, 32), num_extra=3)
    assert resized.shape == (63 * 63 + 3, 2)
    assert torch.equal(resized[-3:], table[-3:])
    target = torch.arange(-31, 32, dtype=torch.float32)
    expected = (2.0 * target[:, None] - 0.5 * target[None, :] + 1.0).reshape(-1)
    torch.testing.assert_close(resized[:-3, 0], expected, atol=2e-3, rtol=0)


def test_rel_pos_bias_table_identity_crop_constant_and_no_cls():
    table = torch.randn(15 * 15 + 3, 4)
    assert torch.equal(resize_rel_pos_bias_table(table, (8, 8), (8, 8)), table)
    cropped = resize_rel_pos_bias_table(table, (8, 8), (4, 4))
    torch.testing.assert_close(cropped[:-3], table[:-3].reshape(15, 15, 4)[4:11, 4:11].reshape(-1, 4))
    constant = resize_rel_pos_bias_table(torch.full((7 * 7 + 3, 2), 0.25), (4, 4), (7, 7))
    torch.testing.assert_close(constant, torch.full((13 * 13 + 3, 2), 0.25))
    no_cls = resize_rel_pos_bias_table(table, (8, 8), (10, 10), num_extra=3, dst_num_extra=0)
    assert no_cls.shape == (19 * 19, 4)
    non_square = resize_rel_pos_bias_table(torch.randn(7 * 11 + 3, 2), (4, 6), (6, 5))
    assert non_square.shape == (11 * 9 + 3, 2)
    with pytest.raises(ValueError, match='expected 225 offsets of a 8x8 grid'):
        resize_rel_pos_bias_table(table[:-1], (8, 8), (9, 9))


def test_decomposed_rel_pos_resize_is_linear():
    rel_pos = torch.randn(7, 4)
    assert resize_rel_pos(rel_pos, 7) is rel_pos
    ramp = torch.arange(7, dtype=torch.float32)[:, None].repeat(1, 4)
    resized = resize_rel_pos(ramp, 13)
    source_coord = (torch.arange(13) + 0.5) * 7 / 13 - 0.5  # align_corners=False, as the model resizes
    torch.testing.assert_close(resized[:, 0], source_coord.clamp(0, 6))


def test_timm_beit_oracle_tables_differ_from_zero():
    """Guards the BEiT oracle: its tables and q/v biases are random, so a dropped table would show."""
    model = timm_beit(0, shared=False)
    assert model.blocks[0].attn.relative_position_bias_table.abs().min() > 0
    assert model.blocks[0].attn.q_bias.abs().min() > 0


class _Payload:
    """Pickles as a call of ``function(*args)``: what a malicious checkpoint does."""

    def __init__(self, function, *args):
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


@pytest.mark.parametrize('function,name', [(os.system, r'posix\.system'), (eval, r'eval'),
                                           (shutil.rmtree, r'shutil\.rmtree')])
def test_malicious_pickle_refusal_names_what_the_file_tried_to_call(function, name, tmp_path):
    path = tmp_path / 'payload.pth'
    torch.save({'state_dict': {}, 'x': _Payload(function, 'echo unsafe')}, path)
    with pytest.raises(CheckpointError, match=rf'arbitrary pickled objects \({name}\).*--trust-pickle') as error:
        read_checkpoint(path)
    assert '\n' not in str(error.value)
