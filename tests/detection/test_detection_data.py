"""Toy COCO / LVIS v1 files load through the checked datasets; bad files fail with one line naming them."""
import json
import os

import pytest

from siameseim.detection.datasets import CheckedCocoDataset, CheckedLVISV1Dataset, DatasetFileError
from siameseim.detection.toy import COCO_CATEGORIES, LVIS_CATEGORIES, make_toy_coco, make_toy_lvis



def coco_dataset(root, **kwargs):
    return CheckedCocoDataset(data_root=root, ann_file='annotations/instances_val2017.json',
                              data_prefix=dict(img='val2017/'), metainfo=dict(classes=[c['name'] for c in
                                                                                       COCO_CATEGORIES]),
                              pipeline=[], test_mode=True, **kwargs)


def test_toy_coco_loads_with_exact_shapes(tmp_path):
    root = make_toy_coco(str(tmp_path))
    dataset = coco_dataset(root)
    assert len(dataset) == 4
    info = dataset.get_data_info(0)
    assert (info['height'], info['width']) == (96, 128) and os.path.isfile(info['img_path'])
    assert all(len(inst['mask'][0]) in (6, 8) for inst in info['instances'])
    assert dataset.cat_ids == [1, 3, 7]


def test_toy_lvis_loads_paths_from_coco_url(tmp_path):
    root = make_toy_lvis(str(tmp_path))
    dataset = CheckedLVISV1Dataset(data_root=root, ann_file='annotations/lvis_v1_train.json', data_prefix=dict(img=''),
                                   metainfo=dict(classes=[c['name'] for c in LVIS_CATEGORIES]), pipeline=[])
    assert dataset.get_data_info(0)['img_path'].endswith('train2017/000000000001.jpg')
    content = json.load(open(os.path.join(root, 'annotations/lvis_v1_val.json')))
    assert {c['frequency'] for c in content['categories']} == {'r', 'c', 'f'}
    assert all('neg_category_ids' in im and 'not_exhaustive_category_ids' in im for im in content['images'])


def test_missing_image_names_the_file(tmp_path):
    root = make_toy_coco(str(tmp_path))
    os.remove(os.path.join(root, 'val2017', '000000000102.jpg'))
    with pytest.raises(FileNotFoundError, match=r'000000000102\.jpg .*instances_val2017\.json.*1 of 4'):
        coco_dataset(root)


@pytest.mark.parametrize('field, value, message', [
    ('bbox', [1, 2, -3, 4], r'annotation id \d+ has a malformed bbox'),
    ('segmentation', [[1, 2, 3]], r'annotation id \d+ has a malformed segmentation'),
    ('category_id', 99, r'annotation id \d+ refers to category id 99'),
])
def test_malformed_annotation_names_file_and_id(tmp_path, field, value, message):
    root = make_toy_coco(str(tmp_path))
    path = os.path.join(root, 'annotations/instances_val2017.json')
    content = json.load(open(path))
    content['annotations'][1][field] = value
    json.dump(content, open(path, 'w'))
    with pytest.raises(DatasetFileError, match=r'instances_val2017\.json: ' + message) as err:
        coco_dataset(root)
    assert str(content['annotations'][1]['id']) in str(err.value) and '\n' not in str(err.value)


def test_lvis_bad_frequency_and_invalid_json(tmp_path):
    root = make_toy_lvis(str(tmp_path))
    path = os.path.join(root, 'annotations/lvis_v1_val.json')
    content = json.load(open(path))
    content['categories'][0]['frequency'] = 'x'
    json.dump(content, open(path, 'w'))
    kwargs = dict(data_root=root, ann_file='annotations/lvis_v1_val.json', data_prefix=dict(img=''), pipeline=[],
                  metainfo=dict(classes=[c['name'] for c in LVIS_CATEGORIES]))
    with pytest.raises(DatasetFileError, match=r'lvis_v1_val\.json: category id 1 has frequency'):
        CheckedLVISV1Dataset(**kwargs)
    open(path, 'w').write('{"images": [')
    with pytest.raises(DatasetFileError, match=r'lvis_v1_val\.json is not valid JSON'):
        CheckedLVISV1Dataset(**kwargs)
