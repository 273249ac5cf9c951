# UPerNet on ADE20K (512x512, 160k iterations) with mmseg's Swin-B (window 7) initialised from a
# GreenMIM Swin-B (window 7) pre-training: mmseg's Swin UPerNet recipe (AdamW lr 6e-5, weight
# decay 0.01, 1500 warm-up iterations, poly decay, drop path 0.3, batch 8x2). The GreenMIM
# checkpoint loads as it is (same parameter names and window size):
#   python tools/train.py <this config> --cfg-options \
#       model.backbone.init_cfg.checkpoint=<greenmim epoch_800.pth>
_base_ = 'mmseg::swin/swin-base-patch4-window7-in1k-pre_upernet_8xb2-160k_ade20k-512x512.py'
# mmdbp only for loading mmengine checkpoints under torch >= 2.6 (mmdbp.engine.checkpoint_compat)
custom_imports = dict(imports=['mmdbp'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        init_cfg=dict(
            type='Pretrained',
            checkpoint='work_dirs/greenmim_swin-base-w7_8xb256-amp-coslr-800e_in1k/'
            'epoch_800.pth')))
