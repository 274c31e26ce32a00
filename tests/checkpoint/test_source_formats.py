"""DINO, iBOT, DINOv2, CLIP, I-JEPA and Hugging Face checkpoints: each, in its source's layout, loads into the
suite's backbone (which adapts to it) and reproduces the features of the source's own model code to 1e-5.

The layouts and the files they were read from are listed in ``source_checkpoints``.
"""
import os
import sys

import pytest
import torch
from source_checkpoints import (DEPTH, HEADS, WIDTH, clip_openai, dino, dinov2, hf, ibot_state_dict, ijepa, images,
                                openclip, timm_clip)

from siameseim.checkpoint import CheckpointError, detect_format, load_pretrained, read_checkpoint
from siameseim.models.vit import ViT

SOURCES = {
    'dino-vit-s8': lambda d: dino(d, patch_size=8),
    'dino-vit-s16': lambda d: dino(d, patch_size=16),
    'ibot-full': lambda d: dino(d, ibot=True, patch_size=16),
    'ibot-state-dict': ibot_state_dict,
    'dinov2': dinov2,
    'dinov2-registers': lambda d: dinov2(d, registers=True),
    'dinov2-teacher-checkpoint': lambda d: dinov2(d, teacher_checkpoint=True),
    'dinov2-g-swiglu': lambda d: dinov2(d, giant=True),
    'clip-openai': clip_openai,
    'openclip': openclip,
    'openclip-layer-scale': lambda d: openclip(d, layer_scale=True),
    'timm-clip': timm_clip,
    'ijepa-h14': ijepa,
    'ijepa-h16': lambda d: ijepa(d, patch_size=16),
    'hf-vit': lambda d: hf(d, 'vit'),
    'hf-vit-bin': lambda d: hf(d, 'vit', safe_serialization=False),
    'hf-vit-mae': lambda d: hf(d, 'vit_mae'),
    'hf-dinov2': lambda d: hf(d, 'dinov2'),
    'hf-dinov2-registers': lambda d: hf(d, 'dinov2_reg'),
    'hf-beit': lambda d: hf(d, 'beit'),
    'hf-data2vec-vision': lambda d: hf(d, 'data2vec'),
}


def backbone_for(source, **kwargs) -> ViT:
    """The recipe's backbone: width, depth, heads and input size; patch 16 and the rest adapt to the checkpoint."""
    options = dict(arch=None, embed_dim=source.width, depth=DEPTH, num_heads=source.heads,
                   img_size=source.img_size, pos_embed='learned', pretrained=source.path)
    return ViT(**{**options, **source.backbone, **kwargs}).eval()


@pytest.mark.parametrize('name', list(SOURCES))
def test_source_checkpoint_reproduces_its_own_model(name, tmp_path):
    source = SOURCES[name](str(tmp_path))
    backbone = backbone_for(source)
    assert backbone.patch_size == source.patch_size  # image-level recipe: the checkpoint's own patch
    backbone.init_weights()
    report = load_pretrained(backbone, source.path, strict=True)
    assert report.format == source.format
    assert not report.unexplained_missing and not report.unexpected
    x = images(source.img_size)
    with torch.no_grad():
        torch.testing.assert_close(backbone.forward_features(x), source.features(x), atol=1e-5, rtol=0)


def test_dinov2_registers_sit_after_the_cls_token_and_stay_out_of_pooling(tmp_path):
    source = dinov2(str(tmp_path), registers=True)
    backbone = backbone_for(source, global_pool='avg', fc_norm=False)
    backbone.init_weights()
    assert backbone.num_reg_tokens == 4 and 'num_reg_tokens' in backbone.adapted_options
    x = images(56)
    with torch.no_grad():
        tokens = backbone.forward_features(x)
        torch.testing.assert_close(backbone(x), tokens[:, 5:].mean(1))
        assert backbone.forward_dense(x)[0].shape == (2, WIDTH, 4, 4)


def test_ijepa_has_no_cls_token_and_pools_the_average(tmp_path):
    source = ijepa(str(tmp_path))
    backbone = backbone_for(source, global_pool='cls', fc_norm=False)
    assert backbone.cls_token is None and backbone.global_pool == 'avg'
    backbone.init_weights()
    x = images(56)
    with torch.no_grad():
        torch.testing.assert_close(backbone(x), source.features(x).mean(1), atol=1e-5, rtol=0)
        torch.testing.assert_close(backbone.image_features(backbone.forward_features(x)), source.features(x).mean(1),
                                   atol=1e-5, rtol=0)


def test_openai_clip_gets_quick_gelu_and_openclip_gelu(tmp_path):
    openai, open_clip = clip_openai(str(tmp_path)), openclip(str(tmp_path))
    assert backbone_for(openai).blocks[0].mlp.act.__class__.__name__ == 'QuickGELU'
    assert isinstance(backbone_for(open_clip).blocks[0].mlp.act, torch.nn.GELU)
    report = load_pretrained(backbone_for(open_clip), open_clip.path, strict=True)
    assert report.metadata['mean'] == (0.48145466, 0.4578275, 0.40821073)
    assert report.dropped['visual.proj'] == 'CLIP image-text projection (not a classifier)'
    assert report.dropped['token_embedding.weight'].startswith('CLIP text tower')
    assert 'activation gelu, norm eps 1e-05' in str(report)


def test_dense_recipe_resamples_the_patch_embedding_to_its_patch(tmp_path):
    source = dinov2(str(tmp_path))
    backbone = backbone_for(source, img_size=64, patch_size=16, out_indices=(1, ))
    assert backbone.patch_size == 16 and 'patch_embed' in backbone.adapted_options
    backbone.init_weights()
    report = load_pretrained(backbone, source.path, strict=True)
    resized = {key: (old, new) for key, old, new in report.resized}
    assert resized['patch_embed.proj.weight'] == ((WIDTH, 3, 14, 14), (WIDTH, 3, 16, 16))
    assert 'pos_embed' not in resized  # 4x4 tokens at 56 px / 14 and at 64 px / 16
    assert 'patch 14 resampled to 16 at load' in str(report)
    assert backbone.forward_dense(images(64))[0].shape == (2, WIDTH, 4, 4)


def test_detection_of_each_layout_without_loading(tmp_path):
    assert detect_format(read_checkpoint(dino(str(tmp_path)).path)) == 'dino'
    assert detect_format(read_checkpoint(hf(str(tmp_path), 'vit').path)) == 'hf-vit'
    weights = read_checkpoint(os.path.join(hf(str(tmp_path), 'dinov2').path, 'model.safetensors'))
    assert weights['hf_config']['model_type'] == 'dinov2'  # config.json beside a weights file is read too


# ----------------------------------------------------------------------------------------------------------------
# Bad inputs: one line naming the problem and the fix


def test_transformers_folder_without_config_json(tmp_path):
    folder = hf(str(tmp_path), 'vit').path
    os.remove(os.path.join(folder, 'config.json'))
    with pytest.raises(CheckpointError, match=r'no Hugging Face model folder \(no config.json\)') as err:
        read_checkpoint(folder)
    assert '\n' not in str(err.value)


def test_safetensors_file_with_truncated_header(tmp_path):
    save_file = pytest.importorskip('safetensors.torch', reason='safetensors is optional: pip install '
                                                               'safetensors').save_file

    path = tmp_path / 'model.safetensors'
    save_file({'w': torch.ones(4, 4)}, str(path))
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(CheckpointError, match=r'is not a readable safetensors file \(.*\): re-download') as err:
        read_checkpoint(path)
    assert '\n' not in str(err.value)


def test_clip_text_tower_only_file(tmp_path):
    source = openclip(str(tmp_path))
    state = read_checkpoint(source.path)['state_dict']
    text_only = {k: v for k, v in state.items() if not k.startswith('module.visual.')}
    torch.save(text_only, tmp_path / 'text.pt')
    with pytest.raises(CheckpointError, match=r'holds only the text tower .*: give the full CLIP model or its image '
                                              r'tower'):
        load_pretrained(backbone_for(source), tmp_path / 'text.pt')


def test_dinov2_vit_g_into_a_vit_l_config(tmp_path):
    """A ViT-g/14 file (zero-stride tensors: full shapes, one stored value each) into a ViT-L/14 recipe."""
    shapes = {'cls_token': (1, 1, 1536), 'pos_embed': (1, 1370, 1536), 'mask_token': (1, 1536),
              'patch_embed.proj.weight': (1536, 3, 14, 14), 'patch_embed.proj.bias': (1536, ), 'norm.weight': (1536, )}
    for index in range(40):
        shapes.update({f'blocks.{index}.attn.qkv.weight': (4608, 1536), f'blocks.{index}.ls1.gamma': (1536, ),
                       f'blocks.{index}.mlp.w12.weight': (8192, 1536), f'blocks.{index}.mlp.w3.weight': (1536, 4096)})
    torch.save({key: torch.zeros(()).expand(shape) for key, shape in shapes.items()}, tmp_path / 'dinov2_vitg14.pth')
    with torch.device('meta'):
        backbone = ViT(arch='vit-l/14', pretrained=str(tmp_path / 'dinov2_vitg14.pth'))
    with pytest.raises(CheckpointError, match=r'checkpoint has depth 40 / width 1536 \(ViT-G\) but the model is depth '
                                              r"24 / width 1024 \(ViT-L\): build the backbone with arch='giant'"):
        backbone.init_weights()


# ----------------------------------------------------------------------------------------------------------------
# tools/convert_checkpoint.py


@pytest.mark.parametrize('name', ['dinov2-registers', 'hf-dinov2-registers', 'clip-openai', 'ijepa-h16'])
def test_convert_prints_format_arch_and_every_key_and_round_trips(name, tmp_path, capsys):
    from siameseim.cli import convert_checkpoint

    source = SOURCES[name](str(tmp_path))
    output = tmp_path / 'converted.pth'
    assert convert_checkpoint.main([source.path, str(output), '--num-heads', str(HEADS)]) == 0
    out = capsys.readouterr().out
    assert f'format: {source.format}\n' in out and f'patch {source.patch_size}\n' in out
    assert '... ' not in out  # no key pattern left out
    converted = read_checkpoint(output)
    assert converted['meta']['source_format'] == source.format
    backbone = backbone_for(source, pretrained=str(output))
    report = load_pretrained(backbone, output, strict=True)
    assert report.metadata['arch']['act_layer'] == source_act(source)
    with torch.no_grad():
        x = images(source.img_size)
        torch.testing.assert_close(backbone.forward_features(x), source.features(x), atol=1e-5, rtol=0)


def source_act(source) -> str:
    return 'quick_gelu' if source.format == 'clip-openai' else 'gelu'


def test_convert_lists_every_dropped_key_of_a_clip_model(tmp_path, capsys):
    from siameseim.cli import convert_checkpoint

    source = openclip(str(tmp_path))
    assert convert_checkpoint.main([source.path, str(tmp_path / 'out.pth'), '--num-heads', str(HEADS)]) == 0
    out = capsys.readouterr().out
    assert 'CLIP text tower / contrastive temperature (not the image encoder) [' in out
    for key in ('token_embedding.weight', 'transformer.resblocks.*.attn.in_proj_weight', 'ln_final.weight',
                'text_projection', 'logit_scale', 'visual.proj'):
        assert key in out


@pytest.mark.parametrize('name', ['dinov2-registers', 'clip-openai', 'dinov2-g-swiglu'])
def test_safetensors_file_of_a_source_layout(name, tmp_path):
    save_file = pytest.importorskip('safetensors.torch', reason='safetensors is optional: pip install '
                                                               'safetensors').save_file
    source = SOURCES[name](str(tmp_path))
    tensors = {key: value.contiguous() for key, value in read_checkpoint(source.path).items()}
    source.path = str(tmp_path / f'{name}.safetensors')
    save_file(tensors, source.path)
    backbone = backbone_for(source)
    assert load_pretrained(backbone, source.path, strict=True).format == source.format
    with torch.no_grad():
        x = images(source.img_size)
        torch.testing.assert_close(backbone.forward_features(x), source.features(x), atol=1e-5, rtol=0)


@pytest.mark.parametrize('kind, size', [('dinov2', 84), ('dinov2', 98), ('vit', 48)])
def test_position_table_resampled_to_another_grid_matches_transformers(kind, size, tmp_path):
    """The table resized at load equals transformers' interpolate_pos_encoding at the same input size."""
    transformers = pytest.importorskip('transformers', reason='transformers is optional: pip install transformers')
    source = hf(str(tmp_path), kind)
    backbone = backbone_for(source, img_size=size)
    backbone.init_weights()
    model = transformers.AutoModel.from_pretrained(source.path).eval()
    x = images(size)
    with torch.no_grad():
        expected = model(pixel_values=x, interpolate_pos_encoding=True).last_hidden_state
        torch.testing.assert_close(backbone.forward_features(x), expected, atol=1e-5, rtol=0)


def test_missing_safetensors_package_is_named_in_one_line(tmp_path, monkeypatch):
    path = tmp_path / 'model.safetensors'
    path.write_bytes(b'\x08\x00\x00\x00\x00\x00\x00\x00{}      ')
    monkeypatch.setitem(sys.modules, 'safetensors', None)  # import safetensors raises ImportError
    with pytest.raises(CheckpointError, match=r'needs the safetensors package: pip install safetensors$'):
        read_checkpoint(path)
