# The ablation's common recipe (docs/ablation.md): SiameseIM ViT-B/16, 400 epochs at total batch 4096, with
# every switch written out at its released value, i.e. row (i). Each row config overrides the switches it
# changes; everything else (encoder, widths, optimiser, schedule, crops) is shared by all rows.
_base_ = '../../siameseim_vit-base-p16_8xb512-amp-coslr-400e_in1k.py'

model = dict(
    target='feature',          # momentum features of view 2 ('pixel': its normalised patches)
    head='mae',                # MAE-like projector/decoder with position queries ('moco': per-token MLPs)
    loss='unigrad',            # ('l2': UniGrad without its negative term)
    loss_form='dense',         # per token ('global': on the token means)
    loss_region='all',         # every view-2 patch ('masked': those masked in view 1, MAE's loss)
    projector_norm='bn',
    predictor_norm='bn',
    mlp_hidden_dim=4096)
train_dataloader = dict(
    dataset=dict(
        transform=dict(views='different', color_aug=True),
        mask_generator=dict(
            _delete_=True, type='BlockMaskGenerator', input_size=14, num_masking_patches=118, min_num_patches=16)))
