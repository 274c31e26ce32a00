"""Pretraining image folder on generated toy data: layouts, sample format, collation, skipping unreadable
files, per-worker randomness and clear errors."""
import io
import logging
import os

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader, default_collate

import siameseim.pretrain.data.dataset as dataset_module
from siameseim.pretrain.data import (BlockMaskGenerator, FastSiameseTwoViewTransform, MAEPretrainTransform,
                                     PretrainImageFolder, SiameseTwoViewTransform)
from siameseim.registry import DATASETS


def write_image(path, seed: int, fmt: str = 'JPEG', size=(40, 56)) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, fmt)


def jpeg_bytes(seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buffer, 'JPEG')
    return buffer.getvalue()


@pytest.fixture
def imagenet_root(tmp_path):
    """``root/<wnid>/*.JPEG``: 2 classes × 3 images, a corrupt and a truncated JPEG, and a non-image file."""
    root = tmp_path / 'train'
    for c, wnid in enumerate(['n01440764', 'n01443537']):
        for k in range(3):
            write_image(str(root / wnid / f'{wnid}_{k}.JPEG'), seed=10 * c + k)
    (root / 'n01440764' / 'n01440764_corrupt.JPEG').write_bytes(np.random.default_rng(0).bytes(600))
    data = jpeg_bytes(1)
    (root / 'n01443537' / 'n01443537_truncated.JPEG').write_bytes(data[:len(data) // 2])
    (root / 'n01443537' / 'README.txt').write_text('not an image')
    return root


@pytest.fixture
def flat_root(tmp_path):
    """A flat folder of mixed formats and case, plus one nested sub-folder."""
    root = tmp_path / 'flat'
    write_image(str(root / 'a.jpg'), 1)
    write_image(str(root / 'b.PNG'), 2, fmt='PNG')
    write_image(str(root / 'c.jpeg'), 3)
    write_image(str(root / 'deeper' / 'd.webp'), 4, fmt='WEBP')
    return root


def siameseim_dataset(root, transform=FastSiameseTwoViewTransform, **kwargs) -> PretrainImageFolder:
    return PretrainImageFolder(str(root), transform(input_size=64), BlockMaskGenerator(), **kwargs)


def test_imagenet_layout_is_scanned_recursively_and_sorted(imagenet_root):
    ds = siameseim_dataset(imagenet_root)
    names = [os.path.relpath(p, imagenet_root) for p in ds.samples]
    assert len(ds) == 8 and ds.metainfo == dict(root=str(imagenet_root), num_images=8)
    assert names == sorted(names) and 'n01443537/README.txt' not in names
    assert names[0] == 'n01440764/n01440764_0.JPEG'


def test_flat_folder_with_mixed_extensions(flat_root):
    ds = siameseim_dataset(flat_root)
    assert [os.path.relpath(p, flat_root) for p in ds.samples] == ['a.jpg', 'b.PNG', 'c.jpeg', 'deeper/d.webp']
    assert len(siameseim_dataset(flat_root, extensions=('.png', ))) == 1


def test_sample_format_and_collation(flat_root):
    ds = siameseim_dataset(flat_root)
    item = ds[1]
    assert set(item) == {'view1', 'view2', 'relpos', 'mask', 'ids_keep'}
    assert item['view1'].shape == item['view2'].shape == (3, 64, 64) and item['view1'].dtype == torch.float32
    assert item['relpos'].shape == (6, ) and item['relpos'].dtype == torch.float64
    assert item['mask'].shape == (14, 14) and item['mask'].dtype == torch.bool and item['mask'].sum() == 118
    assert item['ids_keep'].dtype == torch.int64 and item['ids_keep'].tolist() == [
        index for index in range(196) if not item['mask'].flatten()[index]]
    batch = default_collate([ds[i] for i in range(len(ds))])
    assert batch['view1'].shape == (4, 3, 64, 64) and batch['relpos'].shape == (4, 6)
    assert batch['mask'].shape == (4, 14, 14) and batch['mask'].dtype == torch.bool
    assert batch['ids_keep'].shape == (4, 78)


def test_mae_samples_have_inputs_only(flat_root):
    ds = PretrainImageFolder(str(flat_root), MAEPretrainTransform(input_size=32))
    batch = default_collate([ds[0], ds[3]])
    assert set(batch) == {'inputs'} and batch['inputs'].shape == (2, 3, 32, 32)


@pytest.mark.parametrize('transform', [SiameseTwoViewTransform, FastSiameseTwoViewTransform])
def test_unreadable_images_are_skipped_counted_and_logged(imagenet_root, monkeypatch, transform):
    logs = []
    monkeypatch.setattr(dataset_module, 'print_log', lambda msg, logger, level: logs.append((msg, logger, level)))
    ds = siameseim_dataset(imagenet_root, transform)
    corrupt = ds.samples.index(str(imagenet_root / 'n01440764' / 'n01440764_corrupt.JPEG'))
    truncated = ds.samples.index(str(imagenet_root / 'n01443537' / 'n01443537_truncated.JPEG'))
    assert ds.num_skipped == 0

    item = ds[corrupt]   # falls through to the next image
    assert item['view1'].shape == (3, 64, 64) and ds.num_skipped == 1
    msg, logger, level = logs[-1]
    assert 'n01440764_corrupt.JPEG' in msg and '1 skipped' in msg and logger == 'current'
    assert level == logging.WARNING

    ds[truncated]
    assert ds.num_skipped == 2 and 'n01443537_truncated.JPEG' in logs[-1][0] and '2 skipped' in logs[-1][0]
    assert ds.skipped_files == {ds.samples[corrupt], ds.samples[truncated]}

    # a full pass never crashes; known bad files are not re-read, re-logged or re-counted
    items = [ds[i] for i in range(len(ds))]
    assert len(items) == 8 and ds.num_skipped == 2 and len(logs) == 2
    # a bad last file wraps around to the first image
    ds.samples[-1] = ds.samples[corrupt]
    assert ds[len(ds) - 1]['mask'].sum() == 118


def test_all_images_unreadable_raises(tmp_path, monkeypatch):
    monkeypatch.setattr(dataset_module, 'print_log', lambda *args, **kwargs: None)
    (tmp_path / 'bad.jpg').write_bytes(b'\x00' * 100)
    ds = siameseim_dataset(tmp_path)
    with pytest.raises(RuntimeError, match='none of the 1 images'):
        ds[0]


def test_missing_or_empty_root_errors(tmp_path):
    missing = tmp_path / 'nope'
    with pytest.raises(FileNotFoundError, match=r"'.*nope' is not a directory; expected .*root/<wnid>/\*\.JPEG"):
        siameseim_dataset(missing)
    (tmp_path / 'empty' / 'n01').mkdir(parents=True)
    (tmp_path / 'empty' / 'n01' / 'notes.txt').write_text('x')
    with pytest.raises(FileNotFoundError, match=r"'.*empty' holds no images; expected .*\.jpeg"):
        siameseim_dataset(tmp_path / 'empty')


def test_directory_is_scanned_once(flat_root, monkeypatch):
    calls = []
    walk = os.walk
    monkeypatch.setattr(os, 'walk', lambda *args, **kwargs: calls.append(args) or walk(*args, **kwargs))
    ds = siameseim_dataset(flat_root)
    write_image(str(flat_root / 'e.jpg'), 5)   # added later: not seen, the list is cached
    [ds[i] for i in range(len(ds))]
    assert len(calls) == 1 and len(ds) == 4


def test_built_from_config(flat_root):
    ds = DATASETS.build(
        dict(type='PretrainImageFolder',
             root=str(flat_root),
             transform=dict(type='SiameseTwoViewTransform', input_size=32),
             mask_generator=dict(num_masking_patches=100)))
    assert isinstance(ds, PretrainImageFolder) and isinstance(ds.transform, SiameseTwoViewTransform)
    assert ds[0]['view1'].shape == (3, 32, 32) and ds[0]['mask'].sum() == 100


def test_randomness_is_reproducible_and_differs_between_calls(flat_root):
    first, second = siameseim_dataset(flat_root, seed=3), siameseim_dataset(flat_root, seed=3)
    a, b = first[0], second[0]
    assert {'view1', 'view2', 'relpos', 'mask'} <= set(a) and set(a) == set(b)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(first[0]['mask'], a['mask'])   # the stream moves on: a new augmentation each epoch
    assert not torch.equal(siameseim_dataset(flat_root, seed=4)[0]['relpos'], a['relpos'])


def reseed_torch_like_mmengine(worker_id: int) -> None:
    torch.manual_seed(worker_id)   # the same seed every epoch, as mmengine's default_worker_init_fn does


def test_workers_draw_different_and_reproducible_augmentations(flat_root):
    ds = siameseim_dataset(flat_root)
    ds.samples = [ds.samples[0]] * 4   # the same image everywhere: only the randomness differs
    ds[0]   # the main process creates its generator before the workers fork

    def two_epochs():
        torch.manual_seed(0)
        loader = DataLoader(ds, batch_size=2, num_workers=2, collate_fn=default_collate,
                            worker_init_fn=reseed_torch_like_mmengine)
        return [list(loader) for _ in range(2)]

    epochs = two_epochs()
    batches = epochs[0]
    assert len(batches) == 2 and batches[0]['mask'].shape == (2, 14, 14)
    masks = torch.cat([b['mask'] for b in batches]).flatten(1)
    relpos = torch.cat([b['relpos'] for b in batches])
    # worker 0 served items 0-1, worker 1 items 2-3: their first draws must differ
    assert not torch.equal(masks[0], masks[2]) and not torch.equal(relpos[0], relpos[2])
    # fresh workers of the next epoch draw anew although the init function re-seeds torch identically
    assert not torch.equal(epochs[1][0]['relpos'], batches[0]['relpos'])
    again = two_epochs()
    assert [len(e) for e in again] == [2, 2] and {'view1', 'view2', 'relpos', 'mask'} <= set(again[0][0])
    assert all(torch.equal(x[k], y[k]) for e, f in zip(epochs, again) for x, y in zip(e, f) for k in x)


def test_epoch_index_pairs_seed_each_item_independently_of_workers(flat_root):
    ds = siameseim_dataset(flat_root)
    a = ds[(0, 2)]
    assert {'view1', 'view2', 'relpos', 'mask'} <= set(a)
    assert all(torch.equal(a[k], ds[(0, 2)][k]) for k in a)
    assert not torch.equal(ds[(1, 2)]['relpos'], a['relpos'])   # a new epoch, new draws
    pairs = [(3, i) for i in range(4)]
    in_main = list(DataLoader(ds, batch_size=2, sampler=pairs, collate_fn=default_collate))
    in_workers = list(DataLoader(ds, batch_size=2, sampler=pairs, num_workers=2, collate_fn=default_collate))
    assert len(in_main) == len(in_workers) == 2 and 'relpos' in in_main[0]
    assert all(torch.equal(x[k], y[k]) for x, y in zip(in_main, in_workers) for k in x)
