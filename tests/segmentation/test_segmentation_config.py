"""ADE20k UperNet configs against docs/protocols.md §3: backbone, neck, heads, data, optimisation, inference."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

import siameseim.segmentation  # noqa: F401  (registers into mmseg)
from siameseim.models import ViT

from checkout import REPO_ROOT

ROOT = REPO_ROOT
CONFIG_DIR = osp.join(ROOT, 'segmentation', 'configs')


def load_config(name: str) -> Config:
    return Config.fromfile(osp.join(CONFIG_DIR, name))


def tiny_model_cfg():
    return load_config('upernet_vit-tiny_ade20k-64x64_toy.py').model


def scaled_down(cfg: Config, depth: int = 4) -> Config:
    """The real config with a narrow, shallow backbone (same recipe otherwise), for building on a CPU."""
    cfg.model.backbone.update(arch=None, embed_dim=64, depth=depth, num_heads=2,
                              out_indices=tuple(range(depth)))
    cfg.model.neck.embed_dim = 64
    cfg.model.decode_head.update(in_channels=[64] * 4, channels=32)
    cfg.model.auxiliary_head.update(in_channels=64, channels=16)
    return cfg


def test_vit_b_config_matches_the_mae_recipe():
    cfg = load_config('upernet_vit-b_160k_ade20k-512x512.py')
    backbone = cfg.model.backbone
    assert backbone.type == 'siameseim.ViT' and backbone.arch == 'base' and tuple(backbone.img_size) == (512, 512)
    assert backbone.pos_embed == 'learned' and backbone.cls_token and backbone.use_rel_pos_bias
    assert backbone.layer_scale_init == 1.0 and backbone.drop_path_rate == 0.1 and not backbone.final_norm
    assert tuple(backbone.out_indices) == (3, 5, 7, 11) and backbone.norm_eps == 1e-6
    assert cfg.model.neck.type == 'Feature2Pyramid' and cfg.model.neck.rescales == [4, 2, 1, 0.5]
    head, aux = cfg.model.decode_head, cfg.model.auxiliary_head
    assert head.type == 'UPerHead' and head.channels == 768 and head.num_classes == 150
    assert tuple(head.pool_scales) == (1, 2, 3, 6) and head.dropout_ratio == 0.1
    assert aux.type == 'FCNHead' and aux.in_index == 2 and aux.channels == 256 and aux.num_convs == 1
    assert not aux.concat_input and aux.loss_decode.loss_weight == 0.4
    assert head.norm_cfg.type == aux.norm_cfg.type == cfg.model.neck.norm_cfg.type == 'SyncBN'
    assert cfg.model.test_cfg == dict(mode='slide', crop_size=(512, 512), stride=(341, 341))
    assert cfg.train_dataloader.batch_size * 8 == 16
    assert cfg.train_dataloader.dataset.data_root == 'data/ade/ADEChallengeData2016'
    assert cfg.train_dataloader.dataset.pipeline[1].reduce_zero_label
    optim = cfg.optim_wrapper
    assert optim.type == 'AmpOptimWrapper' and optim.optimizer.lr == 1e-4 and optim.optimizer.weight_decay == 0.05
    assert optim.paramwise_cfg.layer_decay_rate == 0.65 and tuple(optim.paramwise_cfg.no_decay_names) == ()
    warmup, poly = cfg.param_scheduler
    assert (warmup.type, warmup.start_factor, warmup.end) == ('LinearLR', 1e-6, 1500)
    assert (poly.type, poly.power, poly.eta_min, poly.begin, poly.end) == ('PolyLR', 1.0, 0.0, 1500, 160000)
    assert cfg.train_cfg.max_iters == 160000 and cfg.train_cfg.val_interval == 16000


def test_vit_l_config_widens_neck_and_heads():
    cfg = load_config('upernet_vit-l_160k_ade20k-512x512.py')
    assert cfg.model.backbone.arch == 'large' and tuple(cfg.model.backbone.out_indices) == (7, 11, 15, 23)
    assert cfg.model.neck.embed_dim == 1024 and cfg.model.decode_head.in_channels == [1024] * 4
    assert cfg.model.auxiliary_head.in_channels == 1024
    assert cfg.model.backbone.use_rel_pos_bias and cfg.model.backbone.drop_path_rate == 0.1


def test_scaled_down_vit_b_config_builds_and_trains_one_step():
    cfg = scaled_down(load_config('upernet_vit-b_160k_ade20k-512x512.py'))
    cfg.model.backbone.img_size = cfg.model.data_preprocessor.size = cfg.model.test_cfg.crop_size = (64, 64)
    init_default_scope('mmseg')
    model = MODELS.build(cfg.model)
    attn = model.backbone.blocks[0].attn
    assert attn.relative_position_bias_table.shape == ((2 * 4 - 1)**2 + 3, 2)
    assert torch.count_nonzero(attn.relative_position_bias_table) == 0
    assert torch.equal(model.backbone.blocks[0].ls1.gamma, torch.ones(64))
    assert model.backbone.pos_embed.requires_grad and model.backbone.pos_embed.shape == (1, 17, 64)
    feats = model.extract_feat(torch.randn(2, 3, 64, 64))
    assert [tuple(f.shape[2:]) for f in feats] == [(16, 16), (8, 8), (4, 4), (2, 2)]
    wrapper_cfg = cfg.optim_wrapper.to_dict()
    wrapper_cfg['type'] = 'OptimWrapper'
    wrapper_cfg.pop('loss_scale')
    wrapper = build_optim_wrapper(model, wrapper_cfg)
    inputs = torch.randn(2, 3, 64, 64)
    samples = []
    for _ in range(2):
        sample = SegDataSample(metainfo=dict(img_shape=(64, 64), pad_shape=(64, 64)))
        sample.gt_sem_seg = PixelData(data=torch.randint(0, 150, (1, 64, 64)))
        samples.append(sample)
    losses = model.loss(inputs, samples)
    assert set(losses) >= {'decode.loss_ce', 'aux.loss_ce'}
    wrapper.update_params(sum(value for key, value in losses.items() if 'loss' in key))
    assert torch.count_nonzero(attn.relative_position_bias_table) > 0


def test_layer_decay_and_weight_decay_follow_mmseg():
    cfg = scaled_down(load_config('upernet_vit-b_160k_ade20k-512x512.py'), depth=12)
    cfg.model.backbone.img_size = cfg.model.data_preprocessor.size = cfg.model.test_cfg.crop_size = (64, 64)
    init_default_scope('mmseg')
    model = MODELS.build(cfg.model)
    wrapper_cfg = cfg.optim_wrapper.to_dict()
    wrapper_cfg.update(type='OptimWrapper')
    wrapper_cfg.pop('loss_scale')
    groups = build_optim_wrapper(model, wrapper_cfg).optimizer.param_groups
    by_name = {name: group for group in groups for name in group['param_names']}
    scale = {name: group['lr'] / 1e-4 for name, group in by_name.items()}
    assert scale['decode_head.conv_seg.weight'] == pytest.approx(1.0)
    assert scale['neck.upsample_4x.0.weight'] == pytest.approx(1.0)
    assert scale['backbone.blocks.11.attn.qkv.weight'] == pytest.approx(0.65)
    assert scale['backbone.blocks.0.attn.qkv.weight'] == pytest.approx(0.65**12)
    assert scale['backbone.pos_embed'] == pytest.approx(0.65**13)
    assert scale['backbone.patch_embed.proj.weight'] == pytest.approx(0.65**13)
    decay = {name: group['weight_decay'] for name, group in by_name.items()}
    for name in ('backbone.pos_embed', 'backbone.cls_token', 'backbone.blocks.3.attn.relative_position_bias_table',
                 'backbone.blocks.3.attn.qkv.weight'):
        assert decay[name] == 0.05, name
    for name in ('backbone.blocks.3.ls1.gamma', 'backbone.blocks.3.attn.qkv.bias', 'backbone.blocks.3.norm1.weight',
                 'decode_head.bottleneck.bn.weight'):
        assert decay[name] == 0.0, name


def test_pretrained_checkpoint_loads_into_the_segmentation_backbone(tmp_path):
    source = ViT(arch=None, embed_dim=32, depth=4, num_heads=2, img_size=32, pos_embed='learned')
    with torch.no_grad():
        for param in source.parameters():
            param.normal_()
    path = str(tmp_path / 'mae_tiny.pth')
    torch.save(dict(model=source.state_dict()), path)
    cfg = tiny_model_cfg()
    cfg.backbone.pretrained = path
    init_default_scope('mmseg')
    model = MODELS.build(cfg)
    model.init_weights()
    backbone = model.backbone
    torch.testing.assert_close(backbone.blocks[2].attn.qkv.weight, source.blocks[2].attn.qkv.weight)
    torch.testing.assert_close(backbone.cls_token, source.cls_token)
    assert backbone.pos_embed.shape == (1, 17, 32)  # 2x2 checkpoint grid resized to the 4x4 crop grid
    torch.testing.assert_close(backbone.pos_embed[:, :1], source.pos_embed[:, :1])
    assert torch.count_nonzero(backbone.blocks[0].attn.relative_position_bias_table) == 0
    assert torch.equal(backbone.blocks[0].ls1.gamma, torch.ones(32))
