"""The pretrained weights reach every task: each task model, built from its config as the suite runs it, holds
the checkpoint's encoder tensors (after the documented adaptations), and results.json records the load."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import DefaultScope, MODELS

from siameseim.checkpoint import read_checkpoint, to_canonical
from siameseim.suite.demo import PRETRAIN_CONFIGS
from siameseim.benchmark import backbone_load_summary
from siameseim.benchmark import SuiteCheckpoint, SuiteContext
from siameseim.benchmark import DEMO_BACKBONE
from siameseim.suite.tasks import build_tasks
from siameseim.suite.toy_data import ToyWorldSizes, write_coco, write_lvis
from siameseim.suite.toy_world import ToyWorld


@pytest.fixture(scope='module')
def pretrained(tmp_path_factory):
    """A tiny SiameseIM pretraining checkpoint (mmengine layout) whose every tensor is random, not its init."""
    import siameseim.pretrain  # noqa: F401  (registers the pretraining models)
    cfg = Config.fromfile(PRETRAIN_CONFIGS['siameseim'])
    cfg.model.encoder.update(DEMO_BACKBONE, img_size=64)
    with DefaultScope.overwrite_default_scope('siameseim'):
        model = MODELS.build(cfg.model)
    generator = torch.Generator().manual_seed(0)
    state = {key: torch.randn(value.shape, generator=generator) if value.is_floating_point() else value
             for key, value in model.state_dict().items()}
    path = tmp_path_factory.mktemp('ckpt') / 'sim.pth'
    torch.save({'state_dict': state, 'meta': {'epoch': 1}}, path)
    return str(path)


def build_task_model(cfg: Config) -> torch.nn.Module:
    import siameseim.detection  # noqa: F401
    import siameseim.robustness  # noqa: F401
    import siameseim.segmentation  # noqa: F401
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = MODELS.build(cfg.model)
    model.init_weights()
    return model


def expected_backbone(canonical: dict, backbone: torch.nn.Module) -> dict:
    """The checkpoint's tensors as the backbone must hold them: pos_embed resized bicubically to the model's
    grid (prefix row kept only with a cls token); tensors the backbone has no slot for are not expected."""
    expected = {}
    model_state = backbone.state_dict()
    for key, value in canonical.items():
        if key not in model_state:
            continue
        if key == 'pos_embed' and value.shape != model_state[key].shape:
            grid = backbone.pos_embed_grid
            side = int(round((value.shape[1] - 1) ** 0.5))
            patches = value[:, 1:].reshape(1, side, side, -1).permute(0, 3, 1, 2)
            patches = F.interpolate(patches, size=tuple(grid), mode='bicubic', align_corners=False)
            value = torch.cat([value[:, :backbone.num_prefix_tokens],
                               patches.permute(0, 2, 3, 1).reshape(1, grid[0] * grid[1], -1)], dim=1)
        expected[key] = value
    return expected


def assert_holds_checkpoint(backbone: torch.nn.Module, canonical: dict) -> int:
    expected = expected_backbone(canonical, backbone)
    state = backbone.state_dict()
    for key, value in expected.items():
        torch.testing.assert_close(state[key], value, msg=f'{key} is not the checkpoint tensor')
    blocks = {key for key in canonical if key.startswith('blocks.')}
    assert blocks and blocks <= set(expected), 'every encoder block tensor must reach the backbone'
    for key, value in state.items():
        if key.endswith(('rel_pos_h', 'rel_pos_w')):
            assert torch.count_nonzero(value) == 0, f'{key}: relative positions start at zero (ViTDet)'
        if key.startswith('norm.') and key not in canonical:
            assert torch.equal(value, torch.ones_like(value) if key.endswith('weight') else torch.zeros_like(value))
    return len(expected)


def test_every_task_model_holds_the_pretrained_encoder(pretrained, tmp_path):
    sizes = ToyWorldSizes(detection_train=12, detection_val=2)
    write_coco(str(tmp_path), ToyWorld(), sizes, np.random.default_rng(0))
    write_lvis(str(tmp_path), ToyWorld(), sizes, np.random.default_rng(0))
    ctx = SuiteContext(out_dir=str(tmp_path / 'out'), data_root=str(tmp_path), profile='demo')
    checkpoint = SuiteCheckpoint('sim', pretrained, 'demo')
    canonical, _ = to_canonical(read_checkpoint(pretrained))
    tasks = {task.name: task for task in build_tasks(['finetune', 'linear', 'coco', 'lvis', 'ade20k'])}
    built = {}
    for name, task in tasks.items():
        cfg = task.config(checkpoint, ctx)
        built[name] = build_task_model(cfg)
        compared = assert_holds_checkpoint(built[name].backbone, canonical)
        summary = backbone_load_summary(cfg.model.backbone, pretrained)
        assert summary['loaded'] == compared and summary['unexplained_missing'] == 0 and summary['unexpected'] == 0
        if name in ('coco', 'lvis'):
            # ViTDet keeps a 224 px table (14x14, no cls row), resized from the 4x4 pretraining grid
            assert summary['resized_keys'] == ['pos_embed: [1, 17, 64] -> [1, 196, 64]']
        else:
            assert summary['resized'] == 0

    from siameseim.robustness.few_shot import build_feature_model
    features = build_feature_model(pretrained, dict(DEMO_BACKBONE, img_size=64))  # few-shot and k-NN
    assert assert_holds_checkpoint(features, canonical) == len(features.state_dict())

    from siameseim.robustness.evaluate import benchmark_config, classifier_config
    from siameseim.robustness.models.checkpoint import classifier_state_dict
    finetune_cfg = tasks['finetune'].config(checkpoint, ctx)
    config_path = str(tmp_path / 'ft.py')
    finetune_cfg.dump(config_path)
    # the robustness task's model: a set's test config from the fine-tuning config, loaded by its strict hook
    test_cfg = benchmark_config(classifier_config(config_path), 'imagenet', str(tmp_path), crop_size=64, resize=73)
    test_cfg.model.backbone.pretrained = None
    classifier = build_task_model(test_cfg)
    classifier.load_state_dict(classifier_state_dict(classifier, {'state_dict': built['finetune'].state_dict()}))
    assert_holds_checkpoint(classifier.backbone, canonical)


def test_a_backbone_that_received_nothing_fails_the_check(pretrained):
    canonical, _ = to_canonical(read_checkpoint(pretrained))
    from siameseim.models.vit import ViT
    with pytest.raises(AssertionError, match='is not the checkpoint tensor'):
        assert_holds_checkpoint(ViT(final_norm=False, **dict(DEMO_BACKBONE, img_size=64)), canonical)
