# Row (i), SiameseIM: (h) with the MAE-like projector/decoder whose view-2 queries carry the relative position;
# the base recipe itself. Paper: FT 83.7, LIN 76.8, COCO 49.8/44.2.
_base_ = './_base_/siameseim-ablation_vit-base-p16_8xb512-amp-coslr-400e_in1k.py'
