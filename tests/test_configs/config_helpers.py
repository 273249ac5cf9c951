"""Helpers shared by the config tests: discover the shipped configs, point a config's data at the
generated demo sets, make its optim wrapper run on a CPU, shrink its inputs and set keys.

Imported by the test modules of this folder as ``config_helpers`` (pytest puts the folder of a
test module without ``__init__.py`` on ``sys.path``).
"""
import glob
import os
import os.path as osp
from typing import Any, Iterator, List, Optional

from mmengine.config import Config, ConfigDict

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG_DIR = osp.join(ROOT, 'configs')

#: keys of the AMP optim wrappers that only mean something with a GPU
AMP_KEYS = ('loss_scale', 'dtype')


def config_paths() -> List[str]:
    """Every shipped config (``configs/**/*.py`` outside ``_base_``), sorted: a new config is
    covered by the tests that parametrise over this list without editing it."""
    return sorted(p for p in glob.glob(osp.join(CONFIG_DIR, '**', '*.py'), recursive=True)
                  if '_base_' not in osp.relpath(p, CONFIG_DIR).split(os.sep))


def config_id(path: str) -> str:
    """A config's path relative to ``configs/`` (the pytest id)."""
    return osp.relpath(path, CONFIG_DIR)


def set_key(cfg: Config, dotted: str, value: Any) -> None:
    """``cfg.<dotted> = value``; every part but the last must exist (list items by index), so a
    key that a config no longer has fails loudly instead of silently changing nothing."""
    parts = dotted.split('.')
    node = cfg
    for i, part in enumerate(parts[:-1]):
        node = node[int(part)] if isinstance(node, (list, tuple)) else node.get(part)
        if node is None:
            raise KeyError(f'{".".join(parts[:i + 1])} is not in the config (setting {dotted}); '
                           'update the override table of the test.')
    last = parts[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


def inner_datasets(dataset_cfg: dict) -> Iterator[dict]:
    """The dataset config and every dataset it wraps (``RandomSubsetDataset``, ...)."""
    while isinstance(dataset_cfg, dict):
        yield dataset_cfg
        dataset_cfg = dataset_cfg.get('dataset')


def point_data_at(dataloader_cfg: dict, demo_data: dict, max_samples: int = 2) -> None:
    """Point the leaf dataset of a dataloader config at the generated set of its layout
    (``ImageNet`` -> the ImageNet-format set, ``ADE20KDataset`` -> the ADE20K-format set).
    A ``RandomSubsetDataset`` of ``num_samples`` (e.g. 5000 of ImageNet's val) keeps at most
    ``max_samples`` of the small generated split."""
    chain = list(inner_datasets(dataloader_cfg['dataset']))
    for wrapper in chain[:-1]:
        if wrapper.get('num_samples'):
            wrapper['num_samples'] = min(wrapper['num_samples'], max_samples)
    leaf = chain[-1]
    layout = {'ImageNet': 'in1k', 'ADE20KDataset': 'ade20k'}.get(leaf.get('type'))
    if layout is None:
        raise NotImplementedError(f'No generated data for a {leaf.get("type")!r} dataset: add its '
                                  'layout to config_helpers.point_data_at.')
    leaf['data_root'] = demo_data[layout]
    if layout == 'in1k' and leaf.get('ann_file'):  # a subset file: the split's own file instead
        leaf['ann_file'] = f'meta/{leaf["split"]}.txt'


def small_dataloader(dataloader_cfg: dict, batch_size: int) -> None:
    """Batch ``batch_size``, loading in the test process (no worker processes)."""
    dataloader_cfg.update(batch_size=batch_size, num_workers=0, persistent_workers=False)
    dataloader_cfg.pop('prefetch_factor', None)


def fp32_optim_wrapper(wrapper_cfg: dict) -> dict:
    """The optim wrapper config a CPU can run: mmengine's ``AmpOptimWrapper`` (fp16 with a loss
    scaler, refuses to start without an accelerator) becomes the fp32 ``OptimWrapper`` with the
    same optimizer, clipping and accumulation; a ``DBPOptimWrapper`` keeps DBP and wraps the
    fp32 wrapper. mmdbp's ``AutocastOptimWrapper`` (bf16, runs on CPU) is kept."""
    wrapper_cfg = ConfigDict(wrapper_cfg)
    if wrapper_cfg.get('type') == 'DBPOptimWrapper':
        inner = ConfigDict(wrapper_cfg.get('optim_wrapper') or {})
        if inner.get('type', 'OptimWrapper') in ('AmpOptimWrapper', 'OptimWrapper'):
            inner = ConfigDict({k: v for k, v in inner.items() if k not in AMP_KEYS},
                               type='OptimWrapper')
        for key in AMP_KEYS:
            wrapper_cfg.pop(key, None)
        wrapper_cfg['optim_wrapper'] = inner
    elif wrapper_cfg.get('type') == 'AmpOptimWrapper':
        wrapper_cfg['type'] = 'OptimWrapper'
        for key in AMP_KEYS:
            wrapper_cfg.pop(key, None)
    return wrapper_cfg


def _square(value: Any, side: int) -> Any:
    """``side`` in the form of ``value`` (an int, or an ``(h, w)`` pair)."""
    return (side, side) if isinstance(value, (tuple, list)) else side


def shrink_pipeline(pipeline: Optional[list], side: int) -> None:
    """Make the image-size transforms of a pipeline produce ``side`` x ``side`` inputs.

    ImageNet pipelines: ``*RandomResizedCrop`` / ``CenterCrop`` to ``side``, ``ResizeEdge`` to
    ``side * 256 / 224`` (the usual resize-then-crop ratio). ADE20K pipelines: ``RandomCrop`` to
    ``side``, ``RandomResize`` / ``Resize`` scales to ``(4 side, side)`` (ADE20K's 2048 x 512).
    """
    for t in pipeline or []:
        kind = t.get('type')
        if kind.endswith('RandomResizedCrop'):  # mmpretrain's, mmdbp's Fast... / DeviceDecode...
            t['scale'] = _square(t['scale'], side)
        elif kind in ('CenterCrop', 'RandomCrop'):
            t['crop_size'] = _square(t['crop_size'], side)
        elif kind == 'ResizeEdge':
            t['scale'] = round(side * 256 / 224)
        elif kind in ('RandomResize', 'Resize') and isinstance(t.get('scale'), (tuple, list)):
            t['scale'] = (4 * side, side)
        elif kind in ('RandomResize', 'Resize', 'RandomChoiceResize'):
            raise NotImplementedError(f'shrink_pipeline does not know {t}; add it.')


def shrink_inputs(cfg: Config, side: int) -> None:
    """``side`` x ``side`` inputs everywhere: every dataloader's pipeline, the segmentors' data
    preprocessor padding size and sliding-window crop (stride 2/3 of the crop, as 341 / 512)."""
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if cfg.get(name):
            for dataset in inner_datasets(cfg[name]['dataset']):
                shrink_pipeline(dataset.get('pipeline'), side)
    model = cfg.model
    if model.get('data_preprocessor', {}).get('size'):
        model.data_preprocessor['size'] = (side, side)
    test_cfg = model.get('test_cfg') or {}
    if test_cfg.get('mode') == 'slide':
        test_cfg.update(crop_size=(side, side), stride=(side * 2 // 3, side * 2 // 3))
