# DBP switched on in mmpretrain's own MAE ViT-B/16 config, unchanged (mmpretrain's MAEViT encoder,
# MAEPretrainDecoder, full ImageNet-1K): the few lines a user adds to an existing mmpretrain
# config. DBP decorrelates the inputs of backbone.layers.*.{attn.qkv, attn.proj, ffn.layers.0.0,
# ffn.layers.1} (the encoder's linears); the decoder (`neck`) and head are untouched.
_base_ = 'mmpretrain::mae/mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py'

custom_imports = dict(imports=['mmdbp'], allow_failed_imports=False)
optim_wrapper = dict(
    type='DBPOptimWrapper',
    optim_wrapper=dict(type='AmpOptimWrapper'),  # the wrapper the base config used
    decor_lr=1e-3,
    kappa=0.5,
    sample_frac=0.1,
    update_interval=8)  # R every 8 steps, pooled samples: +4.3% work at ViT-B/16 b256

# mmengine adds `_scope_='mmpretrain'` to the collate_fn dicts inherited from the
# mmpretrain:: base and its runner passes that key on to default_collate (TypeError at the
# first batch): restate them without it
train_dataloader = dict(collate_fn=dict(_delete_=True, type='default_collate'))
