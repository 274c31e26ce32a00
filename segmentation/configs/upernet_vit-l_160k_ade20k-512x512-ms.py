# Multi-scale + flip evaluation of the ViT-L model (test only: tools/test.py CONFIG CHECKPOINT).
_base_ = ['upernet_vit-l_160k_ade20k-512x512.py', '_base_/datasets/ade20k_tta.py']
model = dict(_delete_=True, type='SegTTAModel', module={{_base_.model}})
test_dataloader = dict(dataset=dict(pipeline={{_base_.tta_pipeline}}))
