# ViT-B/16 linear probe (docs/method.md §5.2): frozen backbone, mean of the last block's patch tokens -> frozen
# fc_norm at init -> BatchNorm1d(affine=False, eps 1e-6) -> Linear (trunc-normal std 0.01); plain CE.
model = dict(
    type='ImageClassifier',
    data_preprocessor=dict(type='BaseDataPreprocessor'),
    backbone=dict(arch='base', global_pool='avg', final_norm=False, drop_path_rate=0.0, pretrained=None),
    num_classes=1000,
    head='bn_linear',
    head_init_std=0.01)
