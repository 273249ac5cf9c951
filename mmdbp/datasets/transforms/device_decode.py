"""JPEG decode, random resized crop and flip on the training device (nvJPEG on a GPU).

The CPU workers only read the file and draw the augmentation (crop box and flip, from the same
numpy stream and with the same distribution as ``LoadImageFromFile`` + ``RandomResizedCrop`` +
``RandomFlip``); the batch's JPEG bytes go to the device, where
:class:`DeviceDecodeDataPreprocessor` decodes them all with one
``torchvision.io.decode_jpeg(list, device=...)`` call (nvJPEG's batched decode on CUDA), crops
each image, resizes it with PyTorch's antialiased (Pillow-equivalent) filter, rounds to uint8
levels, flips and normalises. A worker then costs a file read and a header parse per image.

Files the device path cannot take as they are (not JPEG, CMYK, EXIF-rotated) are decoded and
cropped on the CPU by :class:`FastRandomResizedCrop` in the worker and travel as ready images.

Use (configs/_base_/datasets/imagenet_bs64_mae_device-decode.py)::

    train_pipeline = [
        dict(type='DeviceDecodeRandomResizedCrop', scale=224, crop_ratio_range=(0.2, 1.0),
             interpolation='bicubic', flip_prob=0.5),
        dict(type='PackInputs', meta_keys=DEVICE_DECODE_META_KEYS)]
    train_dataloader = dict(collate_fn=dict(type='pseudo_collate'), ...)
    data_preprocessor = dict(type='DeviceDecodeDataPreprocessor', scale=224, mean=..., std=...)

On a CPU-only machine the same preprocessor decodes with torchvision's CPU decoder, which is how
the tests check it. Decoders differ slightly in IDCT and chroma upsampling, so pixels can differ
from OpenCV's decode by a few grey levels (nvJPEG) or not at all (libjpeg-turbo on the CPU).
"""
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from mmengine import fileio
from mmpretrain.models.utils.data_preprocessor import SelfSupDataPreprocessor

from mmdbp.registry import MODELS, TRANSFORMS

from ..file_errors import load_or_name
from .fast_resized_crop import _TORCH_MODES, FastRandomResizedCrop, plain_jpeg_size

#: metainfo keys the preprocessor needs, for ``PackInputs(meta_keys=...)``
DEVICE_DECODE_META_KEYS = ('sample_idx', 'img_path', 'ori_shape', 'img_shape', 'flip',
                           'flip_direction', 'crop_bbox', 'decode_on_device')


@TRANSFORMS.register_module()
class DeviceDecodeRandomResizedCrop(FastRandomResizedCrop):
    """Read a JPEG and draw its random resized crop and flip; decoding happens on the device.

    **Added keys:** ``img`` (the file's bytes as a 1-D uint8 array, or, for files decoded here,
    the ready uint8 HWC BGR crop), ``decode_on_device``, ``crop_bbox`` (``x0, y0, x1, y1``,
    full-resolution pixels), ``flip``, ``flip_direction``, ``ori_shape``, ``img_shape`` (the
    output size).

    Args:
        scale, crop_ratio_range, aspect_ratio_range, max_attempts, interpolation: as
            :class:`FastRandomResizedCrop` (Pillow filters: ``'bicubic'`` or ``'bilinear'``).
        flip_prob (float): Probability of a horizontal flip, drawn as mmcv's ``RandomFlip`` draws
            it. Defaults to 0.5.
        backend_args (dict, optional): mmengine file backend arguments. Defaults to None.
        skip_bad_samples (bool): As :class:`FastRandomResizedCrop`. Defaults to False.
    """

    def __init__(self,
                 scale: Union[int, Sequence[int]],
                 crop_ratio_range: Tuple[float, float] = (0.08, 1.0),
                 aspect_ratio_range: Tuple[float, float] = (3. / 4., 4. / 3.),
                 max_attempts: int = 10,
                 interpolation: str = 'bicubic',
                 flip_prob: float = 0.5,
                 backend_args: Optional[dict] = None,
                 skip_bad_samples: bool = False) -> None:
        super().__init__(scale, crop_ratio_range, aspect_ratio_range, max_attempts,
                         interpolation, backend='pillow', flip_prob=flip_prob,
                         backend_args=backend_args, skip_bad_samples=skip_bad_samples)

    def _read(self, results: dict) -> dict:
        data = fileio.get(results['img_path'], backend_args=self.backend_args)
        hw = plain_jpeg_size(data)
        if hw is None:  # decoded here, as FastRandomResizedCrop(flip_prob) does (a bad file
            results = self._load(results)  # raises its own error)
            results['decode_on_device'] = False
            return results
        box = self.crop_box(*hw)
        self._draw_flip(results)
        results.update(img=np.frombuffer(bytearray(data), np.uint8), decode_on_device=True,
                       ori_shape=hw, img_shape=tuple(self.scale),
                       crop_bbox=box)
        return results

    def transform(self, results: dict) -> Optional[dict]:
        """Read the file and draw crop and flip; see the class doc."""
        return load_or_name(self._read, results, ('img_path',), self.skip_bad_samples,
                            'DeviceDecodeRandomResizedCrop')


@MODELS.register_module()
class DeviceDecodeDataPreprocessor(SelfSupDataPreprocessor):
    """Decode, crop, resize, flip and normalise a batch of :class:`DeviceDecodeRandomResizedCrop`
    samples on the model's device.

    Takes ``pseudo_collate`` batches (a list of per-sample tensors). Outputs RGB float images,
    ``(B, 3, H, W)``, normalised with ``mean`` / ``std`` (given in RGB order, as mmpretrain's
    configs with ``to_rgb=True`` give them).

    Args:
        scale (int | Sequence[int]): Output ``(h, w)`` or side; the pipeline's ``scale``.
        interpolation (str): ``'bicubic'`` or ``'bilinear'``. Defaults to ``'bicubic'``.
        mean, std (Sequence[float]): RGB normalisation. As ``SelfSupDataPreprocessor``.
        **kwargs: other ``SelfSupDataPreprocessor`` arguments (``to_rgb`` is implied: outputs
            are RGB).
    """

    def __init__(self, scale: Union[int, Sequence[int]], interpolation: str = 'bicubic',
                 mean: Optional[Sequence[float]] = None, std: Optional[Sequence[float]] = None,
                 **kwargs) -> None:
        kwargs.pop('to_rgb', None)
        super().__init__(mean=mean, std=std, **kwargs)
        self.scale = (scale, scale) if isinstance(scale, int) else tuple(scale)
        if interpolation not in _TORCH_MODES:
            raise ValueError(f'DeviceDecodeDataPreprocessor: interpolation must be one of '
                             f'{sorted(_TORCH_MODES)}, got {interpolation!r}.')
        self.interpolation = interpolation

    def decode_batch(self, inputs: List[torch.Tensor], data_samples: list) -> torch.Tensor:
        """uint8-valued float RGB images ``(B, 3, H, W)`` on ``self.device``."""
        from torchvision.io import ImageReadMode, decode_jpeg
        device = self.device
        out: List[Optional[torch.Tensor]] = [None] * len(inputs)
        on_dev = [i for i, s in enumerate(data_samples) if s.metainfo.get('decode_on_device')]
        if on_dev:
            decoded = decode_jpeg([inputs[i].cpu() for i in on_dev], mode=ImageReadMode.RGB,
                                  device=device)
            for i, img in zip(on_dev, decoded):
                x0, y0, x1, y1 = (int(v) for v in data_samples[i].metainfo['crop_bbox'])
                crop = img[None, :, y0:y1, x0:x1].float()  # 1, 3, h, w
                res = F.interpolate(crop, size=self.scale, mode=_TORCH_MODES[self.interpolation],
                                    antialias=True, align_corners=False)
                res = res.round_().clamp_(0, 255)[0]  # the uint8 levels the CPU path rounds to
                out[i] = res.flip(-1) if data_samples[i].metainfo.get('flip') else res
        for i, x in enumerate(out):
            if x is None:  # decoded and flipped in the worker: CHW BGR uint8
                out[i] = inputs[i].to(device)[[2, 1, 0]].float()
        return torch.stack(out)

    def forward(self, data: dict, training: bool = False) -> dict:
        """Decode and normalise; returns ``dict(inputs=..., data_samples=...)``."""
        inputs, data_samples = data['inputs'], data.get('data_samples')
        if isinstance(inputs, torch.Tensor):
            inputs = list(inputs)
        batch = self.decode_batch(inputs, data_samples)
        if self._enable_normalize:
            batch = (batch - self.mean) / self.std
        if data_samples is not None:
            data_samples = self.cast_data(data_samples)
        return dict(inputs=batch, data_samples=data_samples)
