# MIRL ViT-S-54 on a fixed random 10% of ImageNet-1K (class-stratified, same subset on every
# rank and run), 300 epochs. With 10x fewer images per epoch the effective batch stays 4096.
_base_ = './mirl_vit-small-54-p16_8xb64-accum8-amp-coslr-300e_in1k.py'

train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='RandomSubsetDataset',
        fraction=0.1,
        seed=0,
        stratify=True,
        dataset={{_base_.train_dataloader.dataset}}))
