# UPerNet on ADE20K (512x512, 160k iterations) with mmseg's Swin-L (window 12, as mmseg's Swin-L
# recipe) initialised from a GreenMIM Swin-L (window 14) pre-training. mmseg does not rebuild the
# relative position index when the window changes, so convert first (bias tables resized
# bicubically, indices rebuilt):
#   python tools/model_converters/greenmim_to_swin.py <greenmim swin-l epoch_800.pth> \
#       checkpoints/greenmim_swin-large_w12.pth --window-size 12
_base_ = ('mmseg::swin/'
          'swin-large-patch4-window12-in22k-384x384-pre_upernet_8xb2-160k_ade20k-512x512.py')
# mmdbp only for loading mmengine checkpoints under torch >= 2.6 (mmdbp.engine.checkpoint_compat)
custom_imports = dict(imports=['mmdbp'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        pretrain_img_size=224,
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/greenmim_swin-large_w12.pth')))
