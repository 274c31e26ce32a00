# ImageNet-C with the ViT-B/16 fine-tuned classifier: all 15 corruptions x 5 severities in one test loop,
# files scored as they are (centre crop only, hendrycks' test.py); error per corruption and severity, CE,
# mCE (AlexNet = 100), 1 - mCE and, given the model's val top-1 (test_evaluator.clean_top1=TOP1), relative mCE.
# Run: python tools/test.py robustness/configs/robustness/vit-b_ft_imagenet-c.py FT_CHECKPOINT
#      [--launcher pytorch|slurm]
# (the checkpoint is loaded strictly with its 1000-way head; ViT-L: vit-l_ft_*.py; other classifiers: their
# fine-tuning config through tools/eval_robustness.py --config). GPU JPEG decoding (nvJPEG, CPU fallback):
# --cfg-options test_dataloader.dataset.decode=gpu
_base_ = ['../vit-b_ft-100e_in1k.py']

model = dict(data_preprocessor=dict(type='ClassificationDataPreprocessor', non_blocking=True))
test_dataloader = dict(
    persistent_workers=False,
    dataset=dict(_delete_=True, type='ImageNetC', root='data/imagenet-c', decode='cpu',
                 transform=dict(type='EvalTransform', crop_size=224, resize=None)))
test_evaluator = dict(_delete_=True, type='ImageNetCMetric', clean_top1=None)
custom_hooks = [dict(type='ClassifierCheckpointHook')]
