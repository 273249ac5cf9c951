"""Loading transforms whose errors name the unreadable file and the dataset index.

Drop-in replacements of the host loaders, with the same arguments plus ``skip_bad_samples``:

===============================  ==========================================================
``LoadCheckedImageFromFile``     mmcv's ``LoadImageFromFile`` (the one mmpretrain and mmseg
                                 pipelines use)
``LoadCheckedAnnotations``       mmseg's ``LoadAnnotations`` (segmentation maps)
===============================  ==========================================================

A corrupt, truncated, empty or missing file raises :class:`~mmdbp.datasets.file_errors.DataFileError`
(``Cannot read '<path>' (dataset index <i>): <reason>. ...``) at the sample that reads it, instead
of Pillow's ``cannot identify image file <_io.BytesIO ...>``. With ``skip_bad_samples=True``
(for training pipelines) the sample is logged as a warning with mmengine's logger and dropped;
mmengine's ``BaseDataset`` draws another one (up to its ``max_refetch`` times). In any mmpretrain
or mmseg config, after ``custom_imports = dict(imports=['mmdbp'])``::

    train_pipeline = [
        dict(type='LoadCheckedImageFromFile', skip_bad_samples=True),   # was LoadImageFromFile
        dict(type='LoadCheckedAnnotations', reduce_zero_label=True),    # was LoadAnnotations
        ...]
"""
from typing import List, Optional, Sequence

import mmcv
import numpy as np
from mmcv.transforms import LoadImageFromFile
from mmengine import fileio
from mmseg.datasets.transforms import LoadAnnotations as SegLoadAnnotations

from mmdbp.registry import TRANSFORMS

from ..file_errors import load_or_name, truncation_problem


@TRANSFORMS.register_module()
class LoadCheckedImageFromFile(LoadImageFromFile):
    """mmcv's ``LoadImageFromFile`` that names the file and dataset index of an unreadable image.

    Args:
        skip_bad_samples (bool): Log an unreadable image (file, index, reason) as a warning with
            mmengine's logger and drop the sample (mmengine's ``BaseDataset`` then draws another
            one) instead of raising ``DataFileError``. Meant for training pipelines; a dataset in
            ``test_mode`` refuses dropped samples. Defaults to False.
        **kwargs: ``LoadImageFromFile``'s arguments (``to_float32``, ``color_type``,
            ``imdecode_backend``, ``ignore_empty``, ``backend_args``).
    """

    def __init__(self, skip_bad_samples: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.skip_bad_samples = skip_bad_samples

    def transform(self, results: dict) -> Optional[dict]:
        """Load ``results['img_path']`` (see ``LoadImageFromFile``)."""
        return load_or_name(self._load, results, ('img_path',), self.skip_bad_samples,
                            'LoadImageFromFile')

    def _load(self, results: dict) -> Optional[dict]:
        """``LoadImageFromFile.transform``, plus: a truncated JPEG / PNG (which OpenCV decodes
        without an error) and an image the decoder returns as ``None`` raise ``OSError``."""
        if self.file_client_args is not None:  # mmcv's deprecated file client: its own code
            return super().transform(results)
        try:
            data = fileio.get(results['img_path'], backend_args=self.backend_args)
            problem = truncation_problem(data)
            if problem is not None:
                raise OSError(problem)
            img = mmcv.imfrombytes(data, flag=self.color_type, backend=self.imdecode_backend)
            if img is None:
                raise OSError(f'{self.imdecode_backend} could not decode the image')
        except Exception:
            if self.ignore_empty:
                return None
            raise
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def __repr__(self) -> str:
        return f'{super().__repr__()[:-1]}, skip_bad_samples={self.skip_bad_samples})'


@TRANSFORMS.register_module()
class LoadCheckedAnnotations(SegLoadAnnotations):
    """mmseg's ``LoadAnnotations`` that names the file and dataset index of an unreadable map.

    Args:
        skip_bad_samples (bool): Log an unreadable segmentation map (file, index, reason) as a
            warning with mmengine's logger and drop the sample instead of raising
            ``DataFileError``; see :class:`LoadCheckedImageFromFile`. Defaults to False.
        **kwargs: mmseg ``LoadAnnotations``'s arguments (``reduce_zero_label``,
            ``imdecode_backend``, ``backend_args``).
    """

    def __init__(self, skip_bad_samples: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.skip_bad_samples = skip_bad_samples

    def transform(self, results: dict) -> Optional[dict]:
        """Load ``results['seg_map_path']`` (see mmseg's ``LoadAnnotations``)."""
        return load_or_name(super().transform, results, ('seg_map_path',), self.skip_bad_samples,
                            'LoadAnnotations')

    def __repr__(self) -> str:
        return f'{super().__repr__()[:-1]}, skip_bad_samples={self.skip_bad_samples})'


#: Host loader -> its checked drop-in, and the scopes where the host name means that loader
#: (``LoadAnnotations`` is mmseg's only in mmseg's scope; mmcv's/mmdet's read boxes).
_CHECKED = {'LoadImageFromFile': ('LoadCheckedImageFromFile', None),
            'LoadAnnotations': ('LoadCheckedAnnotations', ('mmseg',))}


def use_checked_loaders(cfg, dataloaders: Sequence[str] = ('train_dataloader', 'val_dataloader',
                                                          'test_dataloader')) -> List[str]:
    """Swap the host loaders of ``cfg``'s pipelines for the checked drop-ins, in place.

    ``LoadImageFromFile`` becomes ``LoadCheckedImageFromFile`` and, in an mmseg-scoped config,
    ``LoadAnnotations`` becomes ``LoadCheckedAnnotations`` (same arguments), in the pipelines of
    the given dataloaders' datasets and the datasets they wrap. ``tools/train.py`` and
    ``tools/test.py`` call this, so configs that inherit their pipelines from an
    ``mmpretrain::`` / ``mmseg::`` base name bad files too. Scope-prefixed types
    (``'mmseg.LoadAnnotations'``) are left alone.

    Args:
        cfg (Config | dict): A full mmengine config.
        dataloaders (Sequence[str]): The dataloader keys to change. Defaults to train/val/test.

    Returns:
        list[str]: ``'<dataloader>...pipeline[i]: <old> -> <new>'`` for each swapped transform.
    """
    scope = cfg.get('default_scope', None)
    changed = []

    def visit(ds, where):
        if not isinstance(ds, dict):
            return
        for i, t in enumerate(ds.get('pipeline', None) or []):
            old = t.get('type') if isinstance(t, dict) else None
            new, scopes = _CHECKED.get(old, (None, None)) if isinstance(old, str) else (None, None)
            if new and (scopes is None or scope in scopes):
                t['type'] = new
                changed.append(f'{where}.pipeline[{i}]: {old} -> {new}')
        if isinstance(ds.get('dataset', None), dict):
            visit(ds['dataset'], f'{where}.dataset')
        for j, sub in enumerate(ds.get('datasets', None) or []):
            visit(sub, f'{where}.datasets[{j}]')

    for key in dataloaders:
        loader = cfg.get(key, None)
        if isinstance(loader, dict):
            visit(loader.get('dataset', None), f'{key}.dataset')
    return changed
