# As greenmim_swin-base-w7_8xb256-amp-coslr-800e_in1k.py, on a fixed random 10% of
# ImageNet-1K (class-stratified, the same subset on every rank and run; see
# mmdbp.datasets.RandomSubsetDataset). Same epochs, so 10x fewer steps.
_base_ = './greenmim_swin-base-w7_8xb256-amp-coslr-800e_in1k.py'

train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='RandomSubsetDataset',
        fraction=0.1,
        seed=0,
        stratify=True,
        dataset={{_base_.train_dataloader.dataset}}))
