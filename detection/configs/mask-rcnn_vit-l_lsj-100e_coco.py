# COCO Mask R-CNN, ViTDet recipe, ViT-L: detectron2's ViT-L values (drop path 0.4, global blocks 5/11/17/23,
# layer decay 0.8 over 24 layers; projects/ViTDet/configs/COCO/mask_rcnn_vitdet_l_100ep.py); the rest as ViT-B.
_base_ = './mask-rcnn_vit-b_lsj-100e_coco.py'
model = dict(
    backbone=dict(arch='large', drop_path_rate=0.4, global_attn_indexes=(5, 11, 17, 23)),
    neck=dict(backbone_channel=1024, in_channels=[256, 512, 1024, 1024]))
optim_wrapper = dict(paramwise_cfg=dict(layer_decay_rate=0.8))
