# UPerNet ADE20K semantic segmentation from a MIRL-pre-trained ViT-S-54, mmseg's MAE/BEiT
# recipe (../../_base_/schedules/schedule_160k_adamw_layer-decay.py): 160k iterations, 8 GPUs x 2
# images of 512x512, AdamW lr 1e-4, weight decay 0.05, 1500 warm-up iterations then linear decay,
# layer-wise lr decay over the 54 blocks (0.88, as MIRL's ImageNet fine-tuning; a deeper encoder
# needs a milder decay than ViT-B's 0.65), AMP, sliding-window evaluation.
# First convert the pre-training checkpoint:
#   python tools/model_converters/mirl_to_vit.py work_dirs/<mirl>/epoch_300.pth \
#       pretrain/mirl_vit-small-54_mmseg.pth --target mmseg
_base_ = [
    '../../_base_/models/upernet_mirl-vit-small-54-p16.py',
    '../../_base_/datasets/ade20k_512x512.py',
    '../../_base_/default_runtime_seg.py',
    '../../_base_/schedules/schedule_160k_adamw_layer-decay.py',
]
crop_size = (512, 512)
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(init_cfg=dict(checkpoint='pretrain/mirl_vit-small-54_mmseg.pth')),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(341, 341)))

optim_wrapper = dict(type='AmpOptimWrapper', loss_scale='dynamic',
                     paramwise_cfg=dict(layer_decay_rate=0.88))
train_dataloader = dict(batch_size=2)
val_dataloader = dict(batch_size=1)
test_dataloader = val_dataloader
