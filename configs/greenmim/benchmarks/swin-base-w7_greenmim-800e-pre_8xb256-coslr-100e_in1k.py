# Fine-tuning of a GreenMIM Swin-B (window 7) on ImageNet-1K with mmpretrain's own Swin, 224 px,
# 100 epochs: the official GreenMIM recipe, which equals mmpretrain's SimMIM Swin-B benchmark
# (AdamW lr 1.25e-3 per 512 images, layer decay 0.9, drop path 0.1, 20 warm-up epochs, label
# smoothing, Mixup/CutMix, RandAugment). The GreenMIM checkpoint loads as it is:
#   python tools/train.py \
#       configs/greenmim/benchmarks/swin-base-w7_greenmim-800e-pre_8xb256-coslr-100e_in1k.py \
#       --cfg-options model.backbone.init_cfg.checkpoint=<greenmim epoch_800.pth>
_base_ = 'mmpretrain::simmim/benchmarks/swin-base-w7_8xb256-coslr-100e_in1k.py'
# mmdbp only for loading mmengine checkpoints under torch >= 2.6 (mmdbp.engine.checkpoint_compat)
custom_imports = dict(imports=['mmdbp'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        init_cfg=dict(
            type='Pretrained',
            checkpoint='work_dirs/greenmim_swin-base-w7_8xb256-amp-coslr-800e_in1k/epoch_800.pth',
            prefix='backbone.')))

# mmengine adds `_scope_='mmpretrain'` to the collate_fn dicts inherited from the
# mmpretrain:: base and its runner passes that key on to default_collate (TypeError at the
# first batch): restate them without it
train_dataloader = dict(collate_fn=dict(_delete_=True, type='default_collate'))
val_dataloader = dict(collate_fn=dict(_delete_=True, type='default_collate'))
test_dataloader = val_dataloader
