# LVIS v1 Mask R-CNN, ViTDet recipe, ViT-L: the ViT-L changes of mask-rcnn_vit-l_lsj-100e_coco.py on LVIS
# (detectron2 projects/ViTDet/configs/LVIS/mask_rcnn_vitdet_l_100ep.py makes the same changes).
_base_ = './mask-rcnn_vit-b_lsj-100e_lvis-v1.py'
model = dict(
    backbone=dict(arch='large', drop_path_rate=0.4, global_attn_indexes=(5, 11, 17, 23)),
    neck=dict(backbone_channel=1024, in_channels=[256, 512, 1024, 1024]))
optim_wrapper = dict(paramwise_cfg=dict(layer_decay_rate=0.8))
