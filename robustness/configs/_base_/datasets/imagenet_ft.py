# ImageNet-1k for fine-tuning (docs/method.md §5.1): timm augmentation for train, Resize 256 bicubic + crop 224
# for val. Layout: data/imagenet/{train,val}/<wnid>/*.JPEG; labels from the shipped 1000-wnid table.
data_root = 'data/imagenet'
train_dataloader = dict(
    batch_size=128,  # 8 GPUs x 128 = 1024
    num_workers=10,
    pin_memory=True,
    persistent_workers=True,
    drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='WnidImageFolder', root=data_root + '/train', transform=dict(type='FinetuneTrainTransform')))
val_dataloader = dict(
    batch_size=256,
    num_workers=10,
    pin_memory=True,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='WnidImageFolder', root=data_root + '/val', transform=dict(type='EvalTransform')))
val_evaluator = dict(type='ClassificationAccuracy', topk=(1, 5))
test_dataloader = val_dataloader
test_evaluator = val_evaluator
