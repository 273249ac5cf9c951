# GreenMIM Swin-L (window 14) pre-training on ImageNet-1K, 224 px, 800 epochs. As the Swin-B
# recipe except the base lr: the official Swin-L scripts (scripts/{run,srun}_greenmim_swin_large_
# win14.sh) use --blr 1.0e-4, so lr = 1e-4 x 2048 / 256.
_base_ = './greenmim_swin-base-w7_8xb256-amp-coslr-800e_in1k.py'

model = dict(
    backbone=dict(arch='large', window_size=14),
    neck=dict(embed_dims=1536))  # Swin-L last stage
optim_wrapper = dict(optimizer=dict(lr=1e-4 * 2048 / 256))
