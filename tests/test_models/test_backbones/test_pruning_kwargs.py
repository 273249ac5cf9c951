"""A misspelled argument of a token-pruning / masked fine-tuning backbone (DynamicViT's
``keep_ratio`` vs EViT's ``keep_rate`` are the easy ones to swap) fails with a message that names
the backbone and the argument it takes, not FastVisionTransformer's bare TypeError."""
import pytest

from mmdbp.models.backbones import (DynamicViT, DynamicViTSeg, EViT, EViTSeg,
                                    MaskedFinetuneViT)

ARCH = dict(embed_dims=32, num_layers=6, num_heads=4, feedforward_channels=64)
SMALL = dict(arch=ARCH, img_size=32, patch_size=8)


@pytest.mark.parametrize('cls,wrong,right', [
    (DynamicViT, 'keep_rate', 'keep_ratio'),
    (DynamicViTSeg, 'keep_rate', 'keep_ratio'),
    (EViT, 'keep_ratio', 'keep_rate'),
    (EViTSeg, 'keep_ratio', 'keep_rate'),
    (DynamicViT, 'pruning_loc', 'pruning_locs'),
    (EViT, 'fuse_tokens', 'fuse_token'),
    (MaskedFinetuneViT, 'mask_ration', 'mask_ratio'),
])
def test_misspelled_argument_names_the_right_one(cls, wrong, right):
    with pytest.raises(TypeError, match=rf"{cls.__name__}: unknown argument '{wrong}'.*"
                                        rf"did you mean '{right}'"):
        cls(**{wrong: 0.5}, pruning_locs=(1, 2), **SMALL) if cls is not MaskedFinetuneViT \
            else cls(**{wrong: 0.5}, **SMALL)


def test_valid_arguments_still_build():
    DynamicViTSeg(keep_ratio=0.5, pruning_locs=(1, 2), drop_path_rate=0.1, init_cfg=None,
                  out_indices=(1, 5), **SMALL)
    EViTSeg(keep_rate=0.5, pruning_locs=(1, 2), fuse_normalize=True, out_indices=(1, 5),
            **SMALL)
    MaskedFinetuneViT(mask_ratio=(0.2, 0.4), out_type='avg_featmap', **SMALL)


@pytest.mark.parametrize('cls', [DynamicViT, EViT])
def test_pruning_locs_must_be_a_sequence(cls):
    with pytest.raises(TypeError, match=r'pruning_locs must be a sequence of block indices, '
                                        r'e\.g\. \(3, 6, 9\), got 3'):
        cls(pruning_locs=3, **SMALL)


@pytest.mark.parametrize('cls,arg', [(DynamicViT, 'keep_ratio'), (EViT, 'keep_rate')])
@pytest.mark.parametrize('bad', [None, '0.7'])
def test_keep_rate_must_be_a_number(cls, arg, bad):
    with pytest.raises(ValueError, match=rf'{arg} must be a number in \(0, 1\], got {bad!r}'):
        cls(**{arg: bad}, pruning_locs=(1, 2), **SMALL)
