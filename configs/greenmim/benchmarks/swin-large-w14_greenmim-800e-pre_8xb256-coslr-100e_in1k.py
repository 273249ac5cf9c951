# Fine-tuning of a GreenMIM Swin-L (window 14) on ImageNet-1K with mmpretrain's Swin, 224 px,
# 100 epochs, official GreenMIM recipe: lr 1e-3 per 512 images, layer decay 0.8, drop path 0.3,
# 20 warm-up epochs, min lr 3.5e-7 per 512. Windows as in pre-training: 14 on stages 1-3 (stage
# 3 is one 14x14 window, not shifted) and 7 on the 7x7 last stage (no padding of small maps).
_base_ = 'mmpretrain::simmim/benchmarks/swin-large-w14_8xb256-coslr-100e_in1k.py'
# mmdbp only for loading mmengine checkpoints under torch >= 2.6 (mmdbp.engine.checkpoint_compat)
custom_imports = dict(imports=['mmdbp'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        drop_path_rate=0.3,
        pad_small_map=False,
        stage_cfgs=[
            dict(block_cfgs=dict(window_size=14)),
            dict(block_cfgs=dict(window_size=14)),
            dict(block_cfgs=dict(window_size=14)),
            dict(block_cfgs=dict(window_size=7)),
        ],
        init_cfg=dict(
            type='Pretrained',
            checkpoint='work_dirs/greenmim_swin-large-w14_8xb256-amp-coslr-800e_in1k/'
            'epoch_800.pth',
            prefix='backbone.')))
optim_wrapper = dict(
    optimizer=dict(lr=1e-3 * 2048 / 512),
    paramwise_cfg=dict(layer_decay_rate=0.8))
param_scheduler = [
    dict(type='LinearLR', start_factor=2e-7 / 1e-3, by_epoch=True, begin=0, end=20,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=80, eta_min=3.5e-7 * 2048 / 512, by_epoch=True,
         begin=20, end=100, convert_to_iter_based=True),
]

# mmengine adds `_scope_='mmpretrain'` to the collate_fn dicts inherited from the
# mmpretrain:: base and its runner passes that key on to default_collate (TypeError at the
# first batch): restate them without it
train_dataloader = dict(collate_fn=dict(_delete_=True, type='default_collate'))
val_dataloader = dict(collate_fn=dict(_delete_=True, type='default_collate'))
test_dataloader = val_dataloader
