# ImageNet-1k train images (labels unused), one MAE input per image.
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
        transform=dict(type='MAEPretrainTransform', input_size=224, crop_min=0.2)))
