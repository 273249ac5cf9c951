"""Errors of unreadable data files that name the file and the dataset index.

A corrupt or empty image deep in a data set otherwise stops training mid-run with a message that
names neither (``UnidentifiedImageError: cannot identify image file <_io.BytesIO ...>`` from
Pillow, ``'NoneType' object has no attribute 'squeeze'`` from an OpenCV decode). The pieces here
turn such a failure into a :class:`DataFileError` that says which file of which sample is bad,
why, and what to do, or, if asked, into a logged skip:

* :func:`unreadable_reason` decodes a file strictly (a truncated JPEG or PNG is an error) and
  says what is wrong with it; ``tools/check_data.py`` runs it on every file of a config;
* :func:`load_or_name` runs any loading function on a pipeline's ``results`` and re-raises its
  error as a :class:`DataFileError`, or logs the bad sample and returns ``None`` (mmengine's
  ``BaseDataset`` then draws another sample in training);
* the loading transforms in :mod:`mmdbp.datasets.transforms.checked_loading` use it, and so can
  any other loading transform (call :func:`load_or_name` in its ``transform``).

The index is the ``sample_idx`` that mmengine's ``BaseDataset.get_data_info`` puts in the
results: the position of the sample in the dataset that lists the file (for a
``RandomSubsetDataset`` the index in the wrapped dataset), the index ``tools/check_data.py`` prints.
"""
import io
import logging
from typing import Callable, Optional, Sequence

import numpy as np
from mmengine.logging import print_log

#: Where to look for the bad file when a loader fails, if the caller names no keys.
DEFAULT_PATH_KEYS = ('img_path', 'seg_map_path')

_ADVICE = ('`python tools/check_data.py CONFIG` lists every unreadable file of a config. Replace or '
           'remove the file (and its line in the annotation file), or set skip_bad_samples=True on '
           "the pipeline's loading transform to skip bad samples in training (each skip is logged).")


class DataFileError(OSError):
    """An image or annotation file of a dataset sample cannot be read.

    The message names the file, the dataset index and the reason. It is built from one message
    string, so that PyTorch's ``DataLoader`` can re-raise it from a worker process as it is.

    Attributes:
        path (str | None): The unreadable file.
        index (int | None): The sample's index in its dataset (``sample_idx``).
        reason (str | None): What is wrong with the file.
    """

    def __init__(self, message: str, path: Optional[str] = None, index: Optional[int] = None,
                 reason: Optional[str] = None) -> None:
        super().__init__(message)
        self.path, self.index, self.reason = path, index, reason

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ''

    def __reduce__(self):  # keep path / index / reason through pickling (DataLoader workers)
        return (type(self), (str(self), self.path, self.index, self.reason))


def decode_problem(data: bytes) -> Optional[str]:
    """What is wrong with encoded image bytes, or ``None`` if Pillow (or, for formats Pillow does
    not know, OpenCV) decodes them completely. A truncated JPEG or PNG is a problem here, although
    OpenCV decodes it without an error (with a grey remainder)."""
    from PIL import Image, UnidentifiedImageError
    if not data:
        return 'empty file (0 bytes)'
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()  # decodes every byte: truncated data raises
    except UnidentifiedImageError:
        import cv2
        if cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED) is None:
            return f'not a readable image ({len(data)} bytes that neither Pillow nor OpenCV can decode)'
    except Exception as e:  # truncated or corrupt image data
        return f'corrupt image: {type(e).__name__}: {e}'
    return None


def truncation_problem(data: bytes) -> Optional[str]:
    """A cheap test for a truncated JPEG or PNG, for loaders that decode with OpenCV (which fills
    the missing part with grey and raises nothing): a JPEG without its end-of-image marker or a
    PNG without its ``IEND`` chunk near the end is decoded fully with :func:`decode_problem`, which
    has the last word (a good file with trailing bytes passes). ``None`` if not truncated."""
    tail = data[-1024:]
    if (data[:2] == b'\xff\xd8' and b'\xff\xd9' not in tail) or (
            data[:8] == b'\x89PNG\r\n\x1a\n' and b'IEND' not in tail):
        return decode_problem(data)
    return None


def unreadable_reason(path: str, backend_args: Optional[dict] = None) -> Optional[str]:
    """What is wrong with an image or annotation file, or ``None`` if it decodes completely.

    The file is read with mmengine's file backends and decoded with :func:`decode_problem`
    (Pillow, fully: a truncated JPEG or PNG is reported; OpenCV for formats Pillow does not know).

    Args:
        path (str): The file (local path or any URI mmengine's ``fileio.get`` reads).
        backend_args (dict, optional): mmengine file backend arguments. Defaults to None.

    Returns:
        str | None: e.g. ``'empty file (0 bytes)'``, ``'file does not exist'``,
        ``'corrupt image: OSError: image file is truncated ...'``; ``None`` for a good file.
    """
    from mmengine import fileio
    try:
        data = fileio.get(path, backend_args=backend_args)
    except FileNotFoundError:
        return 'file does not exist'
    except Exception as e:  # permissions, a folder, a remote error
        return f'cannot be read: {type(e).__name__}: {e}'
    return decode_problem(data)


def _bad_file(results: dict, keys: Sequence[str]):
    """The first file of ``keys`` in ``results`` with a problem, its reason; else the first file."""
    paths = [results[k] for k in keys if isinstance(results.get(k), str)]
    for path in paths:
        reason = unreadable_reason(path)
        if reason is not None:
            return path, reason
    return (paths[0] if paths else None), None


def describe_bad_sample(results: dict, exc: Optional[BaseException] = None,
                        keys: Sequence[str] = DEFAULT_PATH_KEYS, what: str = 'load') -> DataFileError:
    """A :class:`DataFileError` for the sample in ``results`` whose loading failed.

    Args:
        results (dict): The pipeline's results (``img_path``, ``seg_map_path``, ``sample_idx`` ...).
        exc (BaseException, optional): The loader's error; ``None`` if it returned nothing.
        keys (Sequence[str]): The results keys of the files the loader reads, most likely culprit
            first. Defaults to ``('img_path', 'seg_map_path')``.
        what (str): The loader's name, for the message. Defaults to ``'load'``.

    Returns:
        DataFileError: naming the file, the index and the reason (the file's own problem when
        :func:`unreadable_reason` finds one, else the loader's error).
    """
    path, reason = _bad_file(results, keys)
    first_line = str(exc).strip().split('\n')[0] if exc is not None else ''
    failure = f'{type(exc).__name__}: {first_line}'
    detail = f'{what} failed with {failure}' if exc is not None else f'{what} returned no data'
    if not reason:
        reason = detail
    elif reason not in first_line:  # the loader's own words, if they add something
        reason = f'{reason} ({detail})'
    index = results.get('sample_idx')
    where = f'dataset index {index}' if index is not None else 'unknown dataset index'
    name = f"'{path}'" if path else f'the sample (no {"/".join(keys)} in its results)'
    message = f'Cannot read {name} ({where}): {reason}. {_ADVICE}'
    return DataFileError(message, path=path, index=index, reason=reason)


def load_or_name(load: Callable[[dict], Optional[dict]], results: dict,
                 keys: Sequence[str] = DEFAULT_PATH_KEYS, skip_bad_samples: bool = False,
                 what: str = 'load') -> Optional[dict]:
    """Run ``load(results)``; if it fails, raise (or log) an error naming the file and index.

    Use it in a loading transform's ``transform`` (see ``LoadCheckedImageFromFile``)::

        def transform(self, results):
            return load_or_name(super().transform, results, ('img_path',), self.skip_bad_samples)

    Args:
        load (Callable): The loading function, e.g. a host transform's ``transform``.
        results (dict): The pipeline's results.
        keys (Sequence[str]): Results keys of the files ``load`` reads. Defaults to
            ``('img_path', 'seg_map_path')``.
        skip_bad_samples (bool): Log the bad sample as a warning (file, index, reason) with
            mmengine's current logger and return ``None`` instead of raising; mmengine's
            ``BaseDataset`` then draws another sample (in training; a dataset in ``test_mode``
            refuses ``None``). Defaults to False.
        what (str): The loader's name, for the message. Defaults to ``'load'``.

    Returns:
        dict | None: ``load``'s results; ``None`` for a skipped sample, or where ``load`` itself
        returned ``None`` (e.g. ``LoadImageFromFile(ignore_empty=True)``; logged as well).

    Raises:
        DataFileError: ``load`` failed and ``skip_bad_samples`` is False.
    """
    try:
        out = load(results)
    except DataFileError:
        raise
    except Exception as e:
        error = describe_bad_sample(results, e, keys, what)
        if not skip_bad_samples:
            raise error from e
    else:
        if out is not None:
            return out
        error = describe_bad_sample(results, None, keys, what)
    print_log(f"Skipped a bad sample: dataset index {error.index}, file '{error.path}': {error.reason}",
              logger='current', level=logging.WARNING)
    return None
