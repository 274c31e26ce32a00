# ImageNet-1k train images (labels unused), two SiameseIM views and a 118-of-196 block mask per image.
# The views come from the uint8/OpenCV pipeline (same distributions as the PIL one, ~3.7x the images per CPU
# core, docs/benchmarks.md); the PIL pipeline stays selectable with
#   --cfg-options train_dataloader.dataset.transform.type=SiameseTwoViewTransform
data_root = 'data/imagenet/train'
train_dataloader = dict(
    batch_size=512,
    num_workers=10,
    persistent_workers=True,
    pin_memory=True,
    drop_last=True,
    sampler=dict(type='EpochIndexSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='PretrainImageFolder',
        root=data_root,
        transform=dict(type='FastSiameseTwoViewTransform', input_size=224, crop_min=0.08),
        mask_generator=dict(input_size=14, num_masking_patches=118, min_num_patches=16)))
