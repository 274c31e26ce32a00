# Multi-scale + flip evaluation of the tiny CPU model: the ADE20k TTA with base scale (256, 64) and a 64 crop.
_base_ = ['upernet_vit-tiny_ade20k-64x64_toy.py', '_base_/datasets/ade20k_tta.py']
img_ratios = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]
tta_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='TestTimeAug',
        transforms=[
            [dict(type='MinShortSideResize', scale=(256, 64), ratio=r, min_short=64) for r in img_ratios],
            [dict(type='RandomFlip', prob=0.0, direction='horizontal'),
             dict(type='RandomFlip', prob=1.0, direction='horizontal')],
            [dict(type='LoadAnnotations', reduce_zero_label=True)],
            [dict(type='PackSegInputs')],
        ]),
]
model = dict(_delete_=True, type='SegTTAModel', module={{_base_.model}})
test_dataloader = dict(dataset=dict(pipeline=tta_pipeline))
