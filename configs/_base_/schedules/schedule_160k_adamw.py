# UPerNet + ViT fine-tuning on ADE20K (mmseg's vit_*_upernet_8xb2-160k recipe, the usual one for
# MAE-style pre-trained ViTs converted to mmseg's VisionTransformer): AdamW lr 6e-5, betas
# (0.9, 0.999), weight decay 0.01 (none on position embedding, cls token and layer norms),
# 1500 linear warm-up iterations then poly decay (power 1) to 160k iterations. That is
# schedule_160k_adamw_vit-upernet.py plus no decay on mmseg ViT's `ln1` / `ln2` norms.
_base_ = './schedule_160k_adamw_vit-upernet.py'

optim_wrapper = dict(paramwise_cfg=dict(custom_keys={'.ln': dict(decay_mult=0.)}))
