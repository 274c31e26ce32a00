# ImageNet-1k for linear probing (docs/method.md §5.2): TF-style RandomResizedCrop + flip, 16384 images a step.
_base_ = ['./imagenet_ft.py']
train_dataloader = dict(
    batch_size=2048,  # 8 GPUs x 2048 = 16384
    dataset=dict(transform=dict(_delete_=True, type='LinearProbeTrainTransform')))
