"""A fixed random subset of any dataset (the "10% of ImageNet-1K / ADE20K" of DBP-MAE's seed 000).

:func:`select_subset` draws the indices; :class:`RandomSubsetDataset` wraps a dataset config with
them, and ``tools/make_subset.py`` writes the same subset as an annotation file for the real
ImageNet / ADE20K layouts. The draw depends only on the dataset size (and labels, if stratified),
``fraction``/``num_samples`` and ``seed``: every rank of a distributed job and every rerun sees the
same samples (it never uses the global random state or the runner's seed).
"""
import copy
from typing import List, Optional, Sequence, Union

import numpy as np
from mmengine.dataset import BaseDataset, force_full_init

from mmdbp.registry import DATASETS


def _validate(fraction: Optional[float], num_samples: Optional[int], seed: int = 0) -> None:
    """Check the subset arguments that do not depend on the dataset."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        # numpy would draw a fresh random subset for seed=None: a different one on every rank
        raise ValueError(f'The subset `seed` must be a non-negative integer (the same on every rank '
                         f'and run), got {seed!r}.')
    if (fraction is None) == (num_samples is None):
        raise ValueError('Give exactly one of `fraction` and `num_samples` for a random subset, got '
                         f'fraction={fraction!r}, num_samples={num_samples!r}.')
    if fraction is not None:
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction <= 1:
            raise ValueError(f'`fraction` must be a number in (0, 1], got {fraction!r}.')
    elif isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) or num_samples < 1:
        raise ValueError(f'`num_samples` must be a positive integer, got {num_samples!r}.')


def _subset_size(num_items: int, fraction: Optional[float], num_samples: Optional[int],
                 seed: int = 0) -> int:
    """Validate the arguments against a dataset of ``num_items`` samples; return the subset size."""
    _validate(fraction, num_samples, seed)
    if num_items < 1:
        raise ValueError('Cannot draw a subset of an empty dataset (0 samples).')
    if fraction is not None:
        return max(1, int(round(fraction * num_items)))
    if num_samples > num_items:
        raise ValueError(f'`num_samples`={num_samples} is more than the {num_items} samples of the '
                         'dataset; use a smaller number or fraction=1.0.')
    return int(num_samples)


def _largest_remainder(counts: np.ndarray, total: int) -> np.ndarray:
    """Integer quotas proportional to ``counts`` summing to ``total`` (Hamilton's method; ties go
    to the lower class index)."""
    exact = counts * (total / counts.sum())
    quota = np.floor(exact).astype(int)
    remainder = exact - quota
    order = np.lexsort((np.arange(len(counts)), -remainder))  # largest remainder first
    quota[order[:total - quota.sum()]] += 1
    return np.minimum(quota, counts)


def select_subset(num_items: int,
                  fraction: Optional[float] = None,
                  num_samples: Optional[int] = None,
                  seed: int = 0,
                  labels: Optional[Sequence[int]] = None) -> List[int]:
    """Indices of a seeded random subset of ``range(num_items)``, in increasing order.

    Args:
        num_items (int): Size of the full dataset.
        fraction (float, optional): Keep ``round(fraction * num_items)`` (at least 1) samples,
            ``0 < fraction <= 1``.
        num_samples (int, optional): Keep exactly this many samples. Give ``fraction`` or
            ``num_samples``, not both.
        seed (int): Seed of the draw. Defaults to 0.
        labels (Sequence[int], optional): One class label per item. If given, the subset is
            stratified: every class keeps its share of the subset (within one sample,
            largest-remainder rounding), drawn at random inside the class.

    Returns:
        list[int]: the kept indices, sorted.
    """
    size = _subset_size(num_items, fraction, num_samples, seed)
    rng = np.random.default_rng(seed)
    if labels is None:
        return sorted(rng.permutation(num_items)[:size].tolist())
    labels = np.asarray(labels)
    if labels.shape != (num_items, ):
        raise ValueError(f'`labels` must hold one label per sample ({num_items}), got shape {labels.shape}.')
    classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    quota = _largest_remainder(counts, size)
    keep = []
    for c in range(len(classes)):
        members = np.flatnonzero(inverse == c)
        keep.extend(members[rng.permutation(len(members))[:quota[c]]].tolist())
    return sorted(keep)


@DATASETS.register_module()
class RandomSubsetDataset:
    """A seeded random subset of a dataset, the same on every rank and every run.

    Works with any mmengine ``BaseDataset`` (mmpretrain's ``ImageNet``, mmseg's ``ADE20KDataset``,
    ...). Example (10% of ImageNet-1K, class-stratified)::

        train_dataloader = dict(dataset=dict(
            type='RandomSubsetDataset', fraction=0.1, seed=0, stratify=True,
            dataset=dict(type='ImageNet', data_root='data/imagenet', split='train',
                         pipeline=train_pipeline)))

    Args:
        dataset (BaseDataset | dict): The dataset, or its config (built in the current scope).
        fraction (float, optional): Fraction of the samples to keep, in (0, 1].
        num_samples (int, optional): Number of samples to keep. Exactly one of ``fraction`` and
            ``num_samples`` must be given.
        seed (int): Seed of the draw (not the training seed). Defaults to 0.
        stratify (bool): Keep each class's share (needs ``get_cat_ids``, i.e. a classification
            dataset). Defaults to False.
        lazy_init (bool): Defer loading the annotations and drawing until first use.
            Defaults to False.
    """

    def __init__(self,
                 dataset: Union[BaseDataset, dict],
                 fraction: Optional[float] = None,
                 num_samples: Optional[int] = None,
                 seed: int = 0,
                 stratify: bool = False,
                 lazy_init: bool = False) -> None:
        _validate(fraction, num_samples, seed)  # before loading anything
        if isinstance(dataset, dict):
            self.dataset = DATASETS.build(dataset)
        elif isinstance(dataset, BaseDataset) or hasattr(dataset, 'get_data_info'):
            self.dataset = dataset
        else:
            raise TypeError(f'`dataset` must be a dataset or a config dict, got {type(dataset)}.')
        self.fraction = fraction
        self.num_samples = num_samples
        self.seed = seed
        self.stratify = stratify
        self._metainfo = self.dataset.metainfo
        self.subset_indices: List[int] = []
        self._fully_initialized = False
        if not lazy_init:
            self.full_init()

    @property
    def metainfo(self) -> dict:
        return copy.deepcopy(self._metainfo)

    def _labels(self) -> Optional[List[int]]:
        if not self.stratify:
            return None
        try:
            self.dataset.get_cat_ids(0)
        except (AttributeError, NotImplementedError):
            raise ValueError(f'stratify=True needs class labels, but {type(self.dataset).__name__} '
                             'has no get_cat_ids(); use stratify=False for this dataset.') from None
        labels = []
        for i in range(len(self.dataset)):
            cat_ids = list(self.dataset.get_cat_ids(i))
            if len(cat_ids) != 1:
                raise ValueError(f'stratify=True needs exactly one label per sample; sample {i} has '
                                 f'{cat_ids}.')
            labels.append(int(cat_ids[0]))
        return labels

    def full_init(self) -> None:
        """Load the wrapped dataset and draw the subset."""
        if self._fully_initialized:
            return
        self.dataset.full_init()
        self.subset_indices = select_subset(len(self.dataset), self.fraction, self.num_samples, self.seed,
                                            self._labels())
        self._fully_initialized = True

    @force_full_init
    def _get_ori_dataset_idx(self, idx: int) -> int:
        if idx < 0:
            idx += len(self)
        return self.subset_indices[idx]

    @force_full_init
    def get_data_info(self, idx: int) -> dict:
        return self.dataset.get_data_info(self._get_ori_dataset_idx(idx))

    @force_full_init
    def get_cat_ids(self, idx: int) -> List[int]:
        return self.dataset.get_cat_ids(self._get_ori_dataset_idx(idx))

    def __getitem__(self, idx: int):
        if not self._fully_initialized:
            self.full_init()
        return self.dataset[self._get_ori_dataset_idx(idx)]

    @force_full_init
    def __len__(self) -> int:
        return len(self.subset_indices)

    def __repr__(self) -> str:
        what = f'fraction={self.fraction}' if self.fraction is not None else f'num_samples={self.num_samples}'
        return (f'RandomSubsetDataset({what}, seed={self.seed}, stratify={self.stratify}, '
                f'{len(self.subset_indices) if self._fully_initialized else "?"} of '
                f'{type(self.dataset).__name__})')
