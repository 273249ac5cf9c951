# UPerNet + DynamicViT-B on ADE20K; see
# upernet_dynamicvit-deit-small-p16_8xb2-keep0.7-160k_ade20k-512x512.py.
_base_ = [
    '../_base_/models/upernet_deit-base-p16_fast-vit.py',
    '../_base_/datasets/ade20k_512x512.py',
    '../_base_/schedules/schedule_160k_adamw_vit-upernet.py',
    '../_base_/default_runtime_seg.py',
]

crop_size = (512, 512)
keep_ratio = 0.7
model = dict(
    type='TokenPruningEncoderDecoder',
    ratio_loss=dict(type='TokenKeepRatioLoss', loss_weight=5.0),
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        type='DynamicViTSeg',
        keep_ratio=keep_ratio,
        pruning_locs=(3, 6, 9),
        init_cfg=dict(
            type='Pretrained', prefix='backbone.',
            checkpoint='work_dirs/dynamicvit_deit-base-p16_8xb128-keep0.7-30e_in1k/'
            'epoch_30.pth')))
train_dataloader = dict(batch_size=2)
val_dataloader = dict(batch_size=1)
test_dataloader = val_dataloader
