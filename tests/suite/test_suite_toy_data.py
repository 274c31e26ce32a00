"""The demo's toy world: every format, the requested sizes, loadable by the reference APIs."""
import os

import numpy as np
import pytest
from PIL import Image

from siameseim.suite.toy_data import (ADE_OBJECTS, ADE_STUFF, ToyWorldSizes, lvis_frequency, make_toy_world,
                                      write_ade20k)
from siameseim.suite.toy_world import SHAPES, STYLES, ToyWorld

SIZES = ToyWorldSizes(train_per_class=6, val_per_class=3, ood_per_class=2, corrupted_per_class=1,
                      fewshot_per_class=2, fewshot_seeds=2, detection_train=40, detection_val=12, ade_train=4,
                      ade_val=3)


@pytest.fixture(scope='module')
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp('toy')
    return str(root), make_toy_world(str(root), SIZES, log=lambda line: None)


def count(folder):
    return sum(len(files) for _, _, files in os.walk(folder))


def test_imagefolder_trees_have_the_requested_sizes(world):
    root, data = world
    classes = len(SHAPES)
    assert len(data['wnids']) == classes and all(w.startswith('n') and len(w) == 9 for w in data['wnids'])
    assert sorted(os.listdir(f'{root}/imagenet/train')) == sorted(data['wnids'])
    assert count(f'{root}/imagenet/train') == classes * 6 and count(f'{root}/imagenet/val') == classes * 3
    for name in ('imagenet-r', 'sketch'):
        assert count(f'{root}/{name}') == classes * 2
    assert count(f'{root}/imagenet-a') == classes * 2 + 1  # + README.txt
    assert count(f'{root}/imagenet-c') == 15 * 5 * classes
    image = Image.open(f"{root}/imagenet-c/fog/5/{data['wnids'][0]}/{data['wnids'][0]}_0.JPEG")
    assert image.size == (SIZES.image_size, SIZES.image_size)
    for path in data['subset_files']:
        names = open(path).read().split()
        assert len(names) == classes * 2 and all(os.path.isfile(f"{root}/imagenet/train/{n.split('_')[0]}/{n}")
                                                 for n in names)
    assert open(data['subset_files'][0]).read() != open(data['subset_files'][1]).read()


def test_coco_loads_with_pycocotools_and_masks_match_boxes(world):
    from pycocotools.coco import COCO
    root, _ = world
    coco = COCO(f'{root}/coco/annotations/instances_val2017.json')
    assert len(coco.getImgIds()) == 12 and sorted(coco.getCatIds()) == [1, 2, 3, 5, 7, 9, 11, 13, 15, 17]
    for ann in coco.loadAnns(coco.getAnnIds()):
        mask = coco.annToMask(ann)
        ys, xs = np.nonzero(mask)
        x, y, w, h = ann['bbox']
        assert abs(xs.min() - x) <= 3 and abs(xs.max() - (x + w)) <= 3 and abs(ys.max() - (y + h)) <= 3  # thin tips
        assert abs(mask.sum() - ann['area']) <= 0.25 * ann['area'] + 10
        image = coco.loadImgs(ann['image_id'])[0]
        assert os.path.isfile(f"{root}/coco/val2017/{image['file_name']}")


def test_lvis_loads_with_the_lvis_api_and_frequencies_follow_the_v1_rule(world):
    from lvis import LVIS
    root, _ = world
    train = LVIS(f'{root}/lvis_v1/annotations/lvis_v1_train.json')
    val = LVIS(f'{root}/lvis_v1/annotations/lvis_v1_val.json')
    assert len(val.get_img_ids()) == 12
    for category in train.load_cats(None):
        images = {ann['image_id'] for ann in train.load_anns(train.get_ann_ids(cat_ids=[category['id']]))}
        assert category['image_count'] == len(images) and category['frequency'] == lvis_frequency(len(images))
    assert {c['frequency'] for c in train.load_cats(None)} >= {'r', 'c'}
    assert lvis_frequency(10) == 'r' and lvis_frequency(11) == 'c' and lvis_frequency(100) == 'c'
    assert lvis_frequency(101) == 'f'
    image = val.load_imgs([val.get_img_ids()[0]])[0]
    assert image['coco_url'].startswith('http://images.cocodataset.org/val2017/')
    assert set(image['neg_category_ids']).isdisjoint({a['category_id'] for a in val.img_ann_map[image['id']]})


def test_ade20k_maps_label_stuff_and_objects(tmp_path):
    write_ade20k(str(tmp_path), ToyWorld(), SIZES, np.random.default_rng(0))
    base = tmp_path / 'ade' / 'ADEChallengeData2016'
    maps = sorted((base / 'annotations' / 'validation').iterdir())
    assert len(maps) == 3 and len(list((base / 'images' / 'training').iterdir())) == 4
    values = set()
    for path in maps:
        annotation = np.asarray(Image.open(path))
        image = Image.open(base / 'images' / 'validation' / path.name.replace('.png', '.jpg'))
        assert annotation.shape == image.size[::-1] and annotation.dtype == np.uint8
        values |= set(np.unique(annotation).tolist())
    assert set(ADE_STUFF) <= values and values - set(ADE_STUFF) <= set(ADE_OBJECTS) and values & set(ADE_OBJECTS)


def test_classes_are_shapes_not_colours():
    world, rng = ToyWorld(), np.random.default_rng(0)
    means = np.array([[np.asarray(world.object_image(label, 48, rng)).mean((0, 1)) for _ in range(30)]
                      for label in range(len(SHAPES))])
    # the mean colour of an image says nothing about its class: per-class averages lie within the spread
    assert np.ptp(means.mean(1), axis=0).max() < 2 * means.std(1).mean()
    for style in STYLES:
        assert world.object_image(0, 32, rng, style).size == (32, 32)
    with pytest.raises(ValueError, match='unknown style'):
        world.object_image(0, 32, rng, 'oil')


def test_objects_tilt_within_the_world_bound_and_the_plain_world_is_upright():
    from siameseim.suite.toy_world import MAX_TILT, place

    rng = np.random.default_rng(0)
    tilts = [ToyWorld().tilt(rng) for _ in range(200)]
    assert max(map(abs, tilts)) <= MAX_TILT and np.ptp(tilts) > MAX_TILT
    plain = ToyWorld.plain()
    assert plain.tilt(rng) == 0.0 and plain.striped_share == plain.occluded_share == 0.0
    square = place(SHAPES.index('square'), (32, 32), 20, plain.tilt(rng), (64, 64))
    assert len(set(square.polygon[0::2])) == 2  # axis-aligned: two distinct x coordinates


def test_learning_curve_data_is_written_once_per_root(tmp_path):
    from siameseim.suite.learning_curve import make_curve_data

    make_curve_data(str(tmp_path), 'plain', train_per_class=2)
    assert count(tmp_path / 'imagenet' / 'train') == 2 * len(SHAPES)
    assert count(tmp_path / 'imagenet' / 'val') == 50 * len(SHAPES)
    marker = tmp_path / '.complete'
    stamp = marker.stat().st_mtime_ns
    make_curve_data(str(tmp_path), 'plain', train_per_class=2)
    assert marker.stat().st_mtime_ns == stamp
    with pytest.raises(ValueError, match="made with .*'world': 'plain'.*use another --out"):
        make_curve_data(str(tmp_path), 'demo', train_per_class=2)
    assert marker.stat().st_mtime_ns == stamp
