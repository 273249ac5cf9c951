# EViT fine-tuned from DeiT-B; see evit_deit-small-p16_8xb256-keep0.7-30e_in1k.py.
_base_ = [
    '../_base_/models/deit-base-p16_fast-vit.py',
    '../_base_/datasets/imagenet_bs64_cls.py',
    '../_base_/schedules/imagenet_bs2048_adamw_coslr-30e_evit.py',
    '../_base_/default_runtime.py',
]

keep_rate = 0.7
model = dict(
    backbone=dict(type='EViT', keep_rate=keep_rate, pruning_locs=(3, 6, 9), fuse_token=True),
    init_cfg=dict(type='Pretrained',
                  checkpoint='checkpoints/deit-base_pt-16xb64_in1k_20220216-db63c16c.pth'))

train_dataloader = dict(batch_size=256)
val_dataloader = dict(batch_size=256)
