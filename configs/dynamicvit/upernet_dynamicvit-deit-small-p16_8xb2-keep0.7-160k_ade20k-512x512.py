# UPerNet + DynamicViT-S on ADE20K (mmseg's ViT recipe): DynamicViTSeg prunes to rho, rho^2, rho^3
# of the patch tokens before blocks 3, 6, 9 and returns full-resolution maps of blocks 2, 5, 8, 11
# (pruned tokens keep the feature they had when pruned); TokenPruningEncoderDecoder adds the
# keep-ratio loss to the segmentation losses. The backbone (with its trained prediction modules)
# starts from the DynamicViT classifier dynamicvit_deit-small-p16_8xb128-keep0.7-30e_in1k.py.
_base_ = [
    '../_base_/models/upernet_deit-small-p16_fast-vit.py',
    '../_base_/datasets/ade20k_512x512.py',
    '../_base_/schedules/schedule_160k_adamw_vit-upernet.py',
    '../_base_/default_runtime_seg.py',
]

crop_size = (512, 512)
keep_ratio = 0.7
model = dict(
    type='TokenPruningEncoderDecoder',
    ratio_loss=dict(type='TokenKeepRatioLoss', loss_weight=2.0),
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        type='DynamicViTSeg',
        keep_ratio=keep_ratio,
        pruning_locs=(3, 6, 9),
        init_cfg=dict(
            type='Pretrained', prefix='backbone.',
            checkpoint='work_dirs/dynamicvit_deit-small-p16_8xb128-keep0.7-30e_in1k/'
            'epoch_30.pth')))
train_dataloader = dict(batch_size=2)
val_dataloader = dict(batch_size=1)
test_dataloader = val_dataloader
