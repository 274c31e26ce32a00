"""A pretraining run's encoder exports to every downstream task through the checkpoint importer."""

import pytest
import torch

from siameseim.pretrain.models import MAE, SiameseIM
from siameseim import CheckpointError, ViT, load_pretrained
from siameseim.checkpoint import detect_format
from siameseim.cli import convert_checkpoint

ENCODER = dict(arch=None, embed_dim=32, depth=2, num_heads=4, img_size=32, patch_size=8, final_norm=False)


def save_run(model, path):
    """What mmengine's CheckpointHook writes: meta, state_dict, optimizer, message hub."""
    torch.save(dict(meta=dict(epoch=3, iter=12), state_dict=model.state_dict(), optimizer={}), path)


@pytest.fixture
def siameseim_run(tmp_path):
    torch.manual_seed(0)
    model = SiameseIM(encoder=ENCODER, decoder_dim=16, decoder_num_heads=4)
    with torch.no_grad():
        for name, param in model.target_encoder.named_parameters():
            if 'blocks' in name:
                param.add_(0.3)
    path = str(tmp_path / 'epoch_3.pth')
    save_run(model, path)
    return model, path


@pytest.mark.parametrize('target', [False, True])
def test_pretraining_run_encoder_loads_into_the_backbone(siameseim_run, target):
    model, path = siameseim_run
    encoder = model.target_encoder if target else model.encoder
    backbone = ViT(**ENCODER).eval()
    report = load_pretrained(backbone, path, use_target_encoder=target)
    assert report.format == 'siameseim-suite-pretrain'
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(backbone.forward_features(images), encoder.eval().forward_features(images), atol=1e-6)


def test_convert_cli_exports_the_encoder_for_downstream_use(siameseim_run, tmp_path, capsys):
    model, path = siameseim_run
    out = str(tmp_path / 'encoder.pth')
    assert convert_checkpoint.main([path, out, '--num-heads', '4']) == 0
    assert 'siameseim-suite-pretrain' in capsys.readouterr().out
    converted = torch.load(out, map_location='cpu', weights_only=True)
    assert converted['meta']['pos_embed_convention'] == 'row_first'
    assert not any(key.startswith(('decoder', 'projector', 'predictor', 'target')) for key in converted['state_dict'])
    detector_backbone = ViT(**dict(ENCODER, img_size=64, pretrain_img_size=32, cls_token=False, window_size=4,
                                   global_attn_indexes=(1, ), use_rel_pos=True, out_indices=(1, )))
    report = load_pretrained(detector_backbone, out)
    assert torch.equal(detector_backbone.blocks[0].attn.qkv.weight, model.encoder.blocks[0].attn.qkv.weight)
    assert 'cls_token' not in detector_backbone.state_dict() and report.format


def test_mae_run_has_no_target_encoder(tmp_path):
    torch.manual_seed(0)
    model = MAE(encoder=dict(ENCODER, final_norm=True), decoder_dim=16, decoder_depth=1, decoder_num_heads=4)
    path = str(tmp_path / 'mae.pth')
    save_run(model, path)
    assert detect_format(torch.load(path, weights_only=True)) == 'siameseim-suite-pretrain'
    backbone = ViT(**dict(ENCODER, final_norm=True)).eval()
    load_pretrained(backbone, path)
    images = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(backbone.forward_features(images), model.encoder.eval().forward_features(images))
    with pytest.raises(CheckpointError, match='no target_encoder'):
        load_pretrained(backbone, path, use_target_encoder=True)
