"""Fail fast, with instructions, when a config's data root is missing or malformed.

Without this check a missing data set surfaces deep inside the dataset constructor (an empty
folder scan, a ``FileNotFoundError`` on an annotation file) after the model has been built. The
entry points (``tools/train.py``, ``tools/test.py``, and so ``mim train/test mmdbp``) call
:func:`check_data_roots` on the config before they build the runner; the message names the
dataloader, the path and how to create the data (the demo data: ``python tools/make_demo_data.py``).

What is checked, for every dataset config (wrappers such as ``RandomSubsetDataset``,
``RepeatDataset`` or ``ConcatDataset`` are followed to the datasets inside):

* ``data_root`` exists and is a folder;
* ``ann_file`` (relative to ``data_root``), if given, is a non-empty file, and the first image it
  lists exists (classification layouts, ``"<path> <label>"`` per line);
* ``data_prefix`` folders exist and, for segmentation layouts
  (``dict(img_path=..., seg_map_path=...)``), hold at least one image with a matching annotation;
* mmpretrain's ``split='train'/'val'`` convention (``<root>/<split>/`` and ``meta/<split>.txt``).

Remote paths (``s3://``, ``http://`` ...) are not checked.
"""
import inspect
import os
import os.path as osp
import shlex
from typing import Iterator, List, Optional, Sequence, Tuple

#: Folder names of the embedded demo data (``python tools/make_demo_data.py``).
DEMO_ROOT_NAMES = ('demo_in1k', 'demo_ade20k')
_IMG_SUFFIXES = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif', '.tiff', '.webp')


class DataRootError(FileNotFoundError):
    """A dataset's files are missing or not in the expected layout."""


def _is_remote(path: str) -> bool:
    return '://' in str(path)


def _join(root: str, path: str) -> str:
    if not root or osp.isabs(path) or _is_remote(path):
        return path
    return osp.join(root, path)


def _iter_datasets(cfg, where: str) -> Iterator[Tuple[str, dict]]:
    """Yield ``(location, dataset_cfg)`` for every leaf dataset config below ``cfg``."""
    if not hasattr(cfg, 'get'):
        return
    if cfg.get('dataset') is not None:  # RandomSubsetDataset, RepeatDataset, ClassBalancedDataset ...
        yield from _iter_datasets(cfg['dataset'], f'{where}.dataset')
    if isinstance(cfg.get('datasets'), (list, tuple)):  # ConcatDataset
        for i, sub in enumerate(cfg['datasets']):
            yield from _iter_datasets(sub, f'{where}.datasets[{i}]')
    if any(key in cfg for key in ('data_root', 'ann_file', 'data_prefix', 'split')):
        yield where, cfg


def _first_listed_image(ann_path: str) -> Optional[str]:
    with open(ann_path) as f:
        for line in f:
            line = line.strip()
            if line:
                # "<path> <label>" (mmpretrain) or "<path>"; paths may contain spaces only if unlabelled
                parts = line.rsplit(' ', 1)
                return parts[0] if len(parts) == 2 and parts[1].lstrip('-').isdigit() else line
    return None


def _has_files(folder: str, suffixes: Sequence[str]) -> Optional[str]:
    """The first file (recursively, sorted) with one of ``suffixes``, or None."""
    for root, dirs, files in os.walk(folder, followlinks=True):
        dirs.sort()
        for name in sorted(files):
            if name.lower().endswith(tuple(suffixes)):
                return osp.join(root, name)
    return None


def _class_default(type_name, arg: str, scope: Optional[str]):
    """The default of ``arg`` in the dataset class ``type_name`` (looked up in ``scope``), or None."""
    if not isinstance(type_name, str):
        return getattr(type_name, arg, None) if type_name is not None else None
    import importlib

    from mmengine.registry import DATASETS
    if scope:
        try:
            importlib.import_module(f'{scope}.registry')  # puts the scope's registry in the tree
        except ImportError:
            pass
    cls = None
    for name in ([scope] if scope else []) + sorted(DATASETS._children):  # the config's scope first
        try:
            cls = DATASETS._search_child(name).get(type_name)
        except Exception:  # an unknown scope or an import error of its registry
            cls = None
        if cls is not None:
            break
    param = inspect.signature(cls.__init__).parameters.get(arg) if cls is not None else None
    return param.default if param is not None and isinstance(param.default, str) else None


def _problems(cfg: dict, scope: Optional[str] = None) -> List[str]:
    """Human-readable problems with one dataset config (empty if it looks usable)."""
    root = cfg.get('data_root', '') or ''
    if root and not _is_remote(root) and not osp.isdir(root):
        return [f"data root '{root}' does not exist" if not osp.exists(root) else
                f"data root '{root}' is not a folder"]
    problems = []
    ann_file = cfg.get('ann_file', '') or ''
    prefix = cfg.get('data_prefix', '')
    split = cfg.get('split', '') or ''
    if split in ('train', 'val', 'test'):
        # mmpretrain ImageNet-style: <root>/<split>/ and, if present, meta/<split>.txt
        prefix = prefix or split
        if not ann_file and osp.isfile(_join(root, osp.join('meta', f'{split}.txt'))):
            ann_file = osp.join('meta', f'{split}.txt')

    img_prefix = prefix.get('img_path', prefix.get('img', '')) if isinstance(prefix, dict) else prefix
    ann_path = _join(root, ann_file) if ann_file else ''
    if ann_path and not _is_remote(ann_path):
        if not osp.isfile(ann_path):
            problems.append(f"annotation file '{ann_path}' does not exist")
        elif osp.getsize(ann_path) == 0:
            problems.append(f"annotation file '{ann_path}' is empty")
        elif not isinstance(prefix, dict) and ann_path.endswith('.txt'):
            first = _first_listed_image(ann_path)
            image = _join(_join(root, img_prefix or ''), first) if first else None
            if image and not osp.isfile(image):
                problems.append(f"'{ann_path}' lists '{first}', but '{image}' does not exist")

    folders = prefix.items() if isinstance(prefix, dict) else [('data_prefix', prefix)]
    for key, sub in folders:
        path = _join(root, sub) if sub else ''
        if not path or _is_remote(path):
            continue
        if not osp.isdir(path):
            problems.append(f"{key} folder '{path}' does not exist")
    if problems or not isinstance(prefix, dict) or ann_file:
        return problems

    # segmentation layout: at least one image, and its annotation next to it
    img_dir = _join(root, prefix.get('img_path', '')) if prefix.get('img_path') else None
    seg_dir = _join(root, prefix.get('seg_map_path', '')) if prefix.get('seg_map_path') else None
    if img_dir and not _is_remote(img_dir):
        img_suffix = cfg.get('img_suffix', _class_default(cfg.get('type'), 'img_suffix', scope))
        first = _has_files(img_dir, [img_suffix] if img_suffix else _IMG_SUFFIXES)
        if first is None:
            problems.append(f"image folder '{img_dir}' holds no "
                            f"{repr(img_suffix) if img_suffix else 'image'} files")
        elif seg_dir and not _is_remote(seg_dir):
            seg_suffix = cfg.get('seg_map_suffix', _class_default(cfg.get('type'), 'seg_map_suffix', scope) or '.png')
            rel = osp.relpath(first, img_dir)
            stem = rel[:-len(img_suffix)] if img_suffix and rel.endswith(img_suffix) else osp.splitext(rel)[0]
            seg = osp.join(seg_dir, stem + seg_suffix)
            if not osp.isfile(seg):
                problems.append(f"image '{first}' has no annotation '{seg}'")
    return problems


def _demo_command(paths: Sequence[str]) -> str:
    """The make_demo_data command that writes the demo roots in ``paths`` where the config
    reads them (relative roots are read from the current directory, which need not be the
    repository: ``mim train mmdbp`` runs from anywhere)."""
    package = osp.dirname(osp.dirname(osp.realpath(__file__)))  # the mmdbp package
    tool = next((t for t in (osp.join(osp.dirname(package), 'tools', 'make_demo_data.py'),
                             osp.join(package, '.mim', 'tools', 'make_demo_data.py')) if osp.isfile(t)),
                'tools/make_demo_data.py')
    if osp.isabs(tool) and not osp.relpath(tool).startswith('..'):
        tool = osp.relpath(tool)
    outs = {osp.dirname(osp.normpath(p)) or '.' for p in paths
            if osp.basename(osp.normpath(p)) in DEMO_ROOT_NAMES}
    out = outs.pop() if len(outs) == 1 else 'data'
    return f'python {shlex.quote(tool)}' + ('' if out == 'data' else f' --out {shlex.quote(out)}')


def _advice(paths: Sequence[str]) -> str:
    if any(name in str(p) for p in paths for name in DEMO_ROOT_NAMES):
        return ('This config uses the embedded demo data. Create it where the config reads it '
                f'with\n    {_demo_command(paths)}\n'
                f'(relative paths are read from the current directory, {os.getcwd()}; `make demo` '
                'writes data/ in the repository), or pass '
                '--cfg-options <dataloader>.dataset.data_root=<path> to read it from elsewhere.')
    return ('Download and unpack the data set as described in README.md ("Data preparation": '
            'data/imagenet, data/ade/ADEChallengeData2016), link it there, or pass '
            '--cfg-options <dataloader>.dataset.data_root=<path>. To try the pipeline without '
            'the real data, run the demo configs after `python tools/make_demo_data.py`.')


def check_data_roots(cfg, dataloaders: Sequence[str] = ('train_dataloader', 'val_dataloader',
                                                        'test_dataloader')) -> None:
    """Raise :class:`DataRootError` if a dataset of ``cfg`` points at missing or malformed data.

    Args:
        cfg (Config | dict): A full mmengine config.
        dataloaders (Sequence[str]): Dataloader keys of ``cfg`` to check (missing or ``None``
            ones are skipped). Defaults to train, val and test.

    Raises:
        DataRootError: naming each dataloader, the offending path and how to create the data.
    """
    lines, paths = [], []
    for key in dataloaders:
        loader = cfg.get(key, None) if hasattr(cfg, 'get') else None
        if not loader or not hasattr(loader, 'get') or loader.get('dataset') is None:
            continue
        for where, ds_cfg in _iter_datasets(loader['dataset'], f'{key}.dataset'):
            for problem in _problems(ds_cfg, cfg.get('default_scope', None)):
                lines.append(f'  {where} ({ds_cfg.get("type", "?")}): {problem}')
                paths.append(ds_cfg.get('data_root', '') or problem)
    if lines:
        raise DataRootError('The data set(s) of this config are missing or malformed:\n' +
                            '\n'.join(dict.fromkeys(lines)) + '\n' + _advice(paths))
