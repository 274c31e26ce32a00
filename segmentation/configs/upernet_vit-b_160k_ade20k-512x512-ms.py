# Multi-scale + flip evaluation of the ViT-B model (test only: tools/test.py CONFIG CHECKPOINT); report it
# separately from the single-scale mIoU, which is the number to compare (docs/protocols.md §3.6).
_base_ = ['upernet_vit-b_160k_ade20k-512x512.py', '_base_/datasets/ade20k_tta.py']
model = dict(_delete_=True, type='SegTTAModel', module={{_base_.model}})
test_dataloader = dict(dataset=dict(pipeline={{_base_.tta_pipeline}}))
