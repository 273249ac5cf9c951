# UPerNet + EViT-S on ADE20K (mmseg's ViT recipe): EViTSeg keeps ceil(0.7 (N - 1)) tokens by cls
# attention inside blocks 3, 6, 9 (inattentive ones fused into one token, which the maps leave
# out) and returns full-resolution maps of blocks 2, 5, 8, 11; pruned tokens keep the feature they
# had when pruned. EViT adds no parameters: the backbone starts from mmpretrain's DeiT-S (or an
# EViT / masked-fine-tuned classifier, see the _maskft_ config).
_base_ = [
    '../_base_/models/upernet_deit-small-p16_fast-vit.py',
    '../_base_/datasets/ade20k_512x512.py',
    '../_base_/schedules/schedule_160k_adamw_vit-upernet.py',
    '../_base_/default_runtime_seg.py',
]

crop_size = (512, 512)
keep_rate = 0.7
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        type='EViTSeg',
        keep_rate=keep_rate,
        pruning_locs=(3, 6, 9),
        fuse_token=True,
        init_cfg=dict(
            type='Pretrained', prefix='backbone.',
            checkpoint='checkpoints/deit-small_pt-4xb256_in1k_20220218-9425b9bb.pth')))
train_dataloader = dict(batch_size=2)
val_dataloader = dict(batch_size=1)
test_dataloader = val_dataloader
