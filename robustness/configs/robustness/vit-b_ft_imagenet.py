# ImageNet val (50,000 images) with the ViT-B/16 fine-tuned classifier: top-1 / top-5.
# Run: python tools/test.py robustness/configs/robustness/vit-b_ft_imagenet.py FT_CHECKPOINT
#      [--launcher pytorch|slurm]
# (the checkpoint is loaded strictly with its 1000-way head; ViT-L: vit-l_ft_*.py; other classifiers: their
# fine-tuning config through tools/eval_robustness.py --config). GPU JPEG decoding (nvJPEG, CPU fallback):
# --cfg-options test_dataloader.dataset.decode=gpu
_base_ = ['../vit-b_ft-100e_in1k.py']

model = dict(data_preprocessor=dict(type='ClassificationDataPreprocessor', non_blocking=True))
test_dataloader = dict(
    persistent_workers=False,
    dataset=dict(_delete_=True, type='WnidImageFolder', root='data/imagenet/val', decode='cpu',
                 transform=dict(type='EvalTransform', crop_size=224, resize=256)))
test_evaluator = dict(_delete_=True, type='ClassificationAccuracy', topk=(1, 5), prefix='imagenet')
custom_hooks = [dict(type='ClassifierCheckpointHook')]
