# LVIS v1 Mask R-CNN, ViTDet recipe, ViT-B (docs/protocols.md §2): 1203 sigmoid classes with federated loss,
# repeat-factor sampling (t = 0.001), lr 2e-4, 156,250 iterations at batch 64, score >= 0.02, 300 detections.
_base_ = './mask-rcnn_vit-b_lsj-100e_coco.py'
data_root = 'data/lvis_v1/'
num_classes = 1203
max_iters = 156250

model = dict(
    roi_head=dict(
        bbox_head=dict(
            num_classes=num_classes,
            loss_cls=dict(
                _delete_=True,
                type='FederatedLoss',
                num_classes=num_classes,
                image_count_file=data_root + 'annotations/lvis_v1_train.json',
                num_fed_classes=50,
                freq_weight_power=0.5,
                loss_weight=1.0)),
        mask_head=dict(num_classes=num_classes)),
    test_cfg=dict(rcnn=dict(score_thr=0.02, max_per_img=300)))

train_dataloader = dict(
    sampler=dict(_delete_=True, type='RepeatFactorSampler', repeat_thr=0.001),
    dataset=dict(
        type='CheckedLVISV1Dataset',
        data_root=data_root,
        ann_file='annotations/lvis_v1_train.json',
        data_prefix=dict(img='')))
val_dataloader = dict(
    dataset=dict(
        type='CheckedLVISV1Dataset',
        data_root=data_root,
        ann_file='annotations/lvis_v1_val.json',
        data_prefix=dict(img='')))
test_dataloader = val_dataloader
val_evaluator = dict(
    _delete_=True,
    type='LVISEvalMetric',
    ann_file=data_root + 'annotations/lvis_v1_val.json',
    metric=['bbox', 'segm'],
    max_dets=300)
test_evaluator = val_evaluator

optim_wrapper = dict(optimizer=dict(lr=2e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=250),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters, milestones=[138889, 150463], gamma=0.1),
]
train_cfg = dict(max_iters=max_iters, val_interval=30000)
