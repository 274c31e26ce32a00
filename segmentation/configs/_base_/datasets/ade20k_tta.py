# Multi-scale + flip test (docs/protocols.md §3.6): base scale (2048, 512) x ratios 0.5...1.75, each with and
# without horizontal flip, sliding-window inference at every scale, softmax probabilities averaged at the
# original resolution (mmseg's SegTTAModel). The short side never drops below the 512 crop (BEiT's SETR_Resize
# rule), so every window fits the backbone's fixed 32x32 position tables; mmseg's own --tta resizes by a bare
# scale factor and crashes this backbone. Include after a model config, then
#   model = dict(_delete_=True, type='SegTTAModel', module={{_base_.model}})
#   test_dataloader = dict(dataset=dict(pipeline={{_base_.tta_pipeline}}))
img_ratios = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]
tta_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='TestTimeAug',
        transforms=[
            [dict(type='MinShortSideResize', scale=(2048, 512), ratio=r, min_short=512) for r in img_ratios],
            [dict(type='RandomFlip', prob=0.0, direction='horizontal'),
             dict(type='RandomFlip', prob=1.0, direction='horizontal')],
            [dict(type='LoadAnnotations', reduce_zero_label=True)],
            [dict(type='PackSegInputs')],
        ]),
]
