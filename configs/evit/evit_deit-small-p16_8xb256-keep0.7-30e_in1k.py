# EViT (Liang et al., ICLR 2022) fine-tuned from DeiT-S on ImageNet-1K, the released
# finetune.sh: inside blocks 3, 6, 9 keep ceil(keep_rate * (N - 1)) tokens by cls attention and
# fuse the rest into one token; lr 2e-5 x 2048 / 512 (main.py's scaling of --lr), cosine to 2e-6,
# 30 epochs, keep rate at its target from the start. The _maskft_ config starts from the
# masked-fine-tuned DeiT-S.
_base_ = [
    '../_base_/models/deit-small-p16_fast-vit.py',
    '../_base_/datasets/imagenet_bs64_cls.py',
    '../_base_/schedules/imagenet_bs2048_adamw_coslr-30e_evit.py',
    '../_base_/default_runtime.py',
]

keep_rate = 0.7
init_checkpoint = 'checkpoints/deit-small_pt-4xb256_in1k_20220218-9425b9bb.pth'
model = dict(
    backbone=dict(type='EViT', keep_rate=keep_rate, pruning_locs=(3, 6, 9), fuse_token=True),
    init_cfg=dict(type='Pretrained', checkpoint=init_checkpoint))

train_dataloader = dict(batch_size=256)
val_dataloader = dict(batch_size=256)
