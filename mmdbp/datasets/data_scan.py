"""Decode every file of a config's datasets and list the unreadable ones, before a long run.

``tools/check_data.py`` is the command line of this module. For each dataloader asked for, the
dataset is built from the config (without its pipeline), wrappers are followed to the datasets
that list the files (``RandomSubsetDataset``, ``RepeatDataset``, ``ClassBalancedDataset`` and
subsets of them: only the samples the wrapper uses; ``ConcatDataset``: all of its parts), and
every file a sample names (``img_path``, ``seg_map_path``, any ``*_path``) is decoded completely
with :func:`~mmdbp.datasets.file_errors.unreadable_reason`, in parallel worker processes, with
mmengine's progress bar. Each bad file is reported with the dataset index that
:class:`~mmdbp.datasets.file_errors.DataFileError` would name during training.
"""
import copy
from dataclasses import dataclass, field
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

from mmengine.registry import DATASETS, DefaultScope

from .file_errors import unreadable_reason

#: ``(dataloader.dataset location, dataset index)`` of one sample that names a file.
SampleRef = Tuple[str, int]


@dataclass
class BadFile:
    """An unreadable file, why, and the samples that name it."""
    path: str
    reason: str
    samples: List[SampleRef] = field(default_factory=list)

    def __str__(self) -> str:
        refs = ', '.join(f'{where} index {index}' for where, index in self.samples[:3])
        more = f' and {len(self.samples) - 3} more' if len(self.samples) > 3 else ''
        return f'{self.path}: {self.reason} [{refs}{more}]'


def _without_pipelines(cfg):
    """A copy of a dataset config with every ``pipeline`` emptied (only file lists are needed)."""
    cfg = copy.deepcopy(cfg)
    stack = [cfg]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if 'pipeline' in node:
                node['pipeline'] = []
            stack.extend(node.values())
        elif isinstance(node, (list, tuple)):
            stack.extend(node)
    return cfg


def dataset_files(dataset, where: str,
                  indices: Optional[Iterable[int]] = None) -> Iterator[Tuple[str, int, str]]:
    """Yield ``(where, index, path)`` for every file named by the samples of ``dataset``.

    Args:
        dataset: A built dataset (mmengine ``BaseDataset`` or a wrapper of one).
        where (str): Its location in the config, e.g. ``'train_dataloader.dataset'``.
        indices (Iterable[int], optional): Only these samples. Defaults to all.
    """
    if isinstance(getattr(dataset, 'datasets', None), (list, tuple)):  # ConcatDataset
        if indices is None:
            for i, sub in enumerate(dataset.datasets):
                yield from dataset_files(sub, f'{where}.datasets[{i}]')
            return
        per_part: Dict[int, set] = {}
        for idx in indices:
            part, sample = dataset._get_ori_dataset_idx(idx)
            per_part.setdefault(part, set()).add(sample)
        for part in sorted(per_part):
            yield from dataset_files(dataset.datasets[part], f'{where}.datasets[{part}]',
                                     sorted(per_part[part]))
        return
    if hasattr(dataset, 'dataset') and not hasattr(dataset, 'data_list'):  # subset, repeat, ...
        if hasattr(dataset, 'full_init'):
            dataset.full_init()
        inner = None
        if hasattr(dataset, '_get_ori_dataset_idx'):
            ids = range(len(dataset)) if indices is None else indices
            inner = sorted({int(dataset._get_ori_dataset_idx(i)) for i in ids})
        yield from dataset_files(dataset.dataset, f'{where}.dataset', inner)
        return
    if hasattr(dataset, 'full_init'):
        dataset.full_init()
    for idx in (range(len(dataset)) if indices is None else indices):
        info = dataset.get_data_info(idx)
        for key, value in info.items():
            if key.endswith('_path') and isinstance(value, str) and value:
                yield where, idx, value


def config_files(cfg, splits: Sequence[str] = ('train', 'val', 'test')) -> Dict[str, List[SampleRef]]:
    """Every file of the datasets of ``cfg``'s ``<split>_dataloader``s, with the samples naming it.

    Args:
        cfg (Config | dict): A full mmengine config (``custom_imports`` already imported).
        splits (Sequence[str]): Dataloaders to scan, ``'train'`` for ``train_dataloader`` etc.;
            missing or ``None`` dataloaders are skipped.

    Returns:
        dict: ``{path: [(where, index), ...]}`` in the order the files were found.
    """
    files: Dict[str, List[SampleRef]] = {}
    built: Dict[str, object] = {}
    for split in splits:
        key = f'{split}_dataloader'
        loader = cfg.get(key, None)
        if not loader or not hasattr(loader, 'get') or loader.get('dataset') is None:
            continue
        ds_cfg = _without_pipelines(loader['dataset'])
        signature = repr(ds_cfg)  # test_dataloader = val_dataloader: scan it once
        if signature in built:
            continue
        built[signature] = build_dataset(ds_cfg, cfg.get('default_scope', None))
        for where, index, path in dataset_files(built[signature], f'{key}.dataset'):
            refs = files.setdefault(path, [])
            if (where, index) not in refs:
                refs.append((where, index))
    return files


def build_dataset(ds_cfg: dict, scope: Optional[str] = None):
    """Build a dataset config in ``scope``; without one (a bare ``_base_/datasets`` file), in
    the first host scope whose registry knows the dataset type (mmpretrain, mmseg, ...)."""
    scopes = [scope] if scope else [None] + sorted(DATASETS._children)
    for i, name in enumerate(scopes):
        try:
            with DefaultScope.overwrite_default_scope(name):
                return DATASETS.build(copy.deepcopy(ds_cfg))
        except KeyError as e:
            if 'registry' not in str(e) or i == len(scopes) - 1:
                raise


def check_files(paths: Sequence[str], workers: int = 1) -> List[Optional[str]]:
    """:func:`unreadable_reason` of each path (in order), with ``workers`` processes and
    mmengine's progress bar."""
    from mmengine.utils import track_parallel_progress, track_progress
    if not paths:
        return []
    if workers <= 1:
        return track_progress(unreadable_reason, list(paths))
    chunk = max(1, min(256, len(paths) // (workers * 8)))
    return track_parallel_progress(unreadable_reason, list(paths), workers, chunksize=chunk)


def scan_config(cfg, splits: Sequence[str] = ('train', 'val', 'test'),
                workers: int = 1) -> Tuple[int, List[BadFile]]:
    """Decode every file of ``cfg``'s datasets; return the number of files and the bad ones.

    Args:
        cfg (Config | dict): A full mmengine config.
        splits (Sequence[str]): Dataloaders to scan (see :func:`config_files`).
        workers (int): Decoding processes. Defaults to 1.

    Returns:
        tuple[int, list[BadFile]]: files checked, and each unreadable one with its reason and the
        samples (dataloader, dataset index) that name it, in the datasets' order.
    """
    files = config_files(cfg, splits)
    paths = list(files)
    reasons = check_files(paths, workers)
    bad = [BadFile(p, r, files[p]) for p, r in zip(paths, reasons) if r is not None]
    return len(paths), bad
