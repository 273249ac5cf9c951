# Masked fine-tuning of a pre-trained ViT on ImageNet-1K (mmdbp's choice; the paper does not
# publish it): AdamW lr 1e-4 per 1024 images, weight decay 0.05 (none on norms, biases, cls token
# and position embedding), 5 warm-up epochs then cosine to 1% of the lr, 30 epochs, grad clip 5.
_base_ = './imagenet_coslr-30e.py'

optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.05, betas=(0.9, 0.999), eps=1e-8),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        custom_keys={
            '.cls_token': dict(decay_mult=0.0),
            '.pos_embed': dict(decay_mult=0.0)
        }),
    clip_grad=dict(max_norm=5.0))
auto_scale_lr = dict(base_batch_size=1024)
