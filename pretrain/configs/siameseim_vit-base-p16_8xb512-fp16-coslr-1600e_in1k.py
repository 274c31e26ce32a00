# The released recipe with the official precision: fp16 autocast and a dynamic loss scale
# (init 65536, growth interval 2000). The default configs train in bf16, which needs no loss scale.
_base_ = './siameseim_vit-base-p16_8xb512-amp-coslr-1600e_in1k.py'

optim_wrapper = dict(dtype='float16', loss_scale=dict(init_scale=65536.0, growth_interval=2000))
