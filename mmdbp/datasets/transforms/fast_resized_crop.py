"""``LoadImageFromFile`` + Pillow-bicubic ``RandomResizedCrop`` (+ ``RandomFlip``) in one
transform, ~2.5x cheaper per image.

mmpretrain's MAE / SimMIM pipelines decode with OpenCV, crop, and resize with
``RandomResizedCrop(backend='pillow', interpolation='bicubic')``. mmcv's Pillow resize converts the
(non-contiguous) crop to a Pillow image, resizes it and converts it back: more than half of the
pipeline's time on ImageNet-sized JPEGs goes to those copies and Pillow's resampling, and most of
the rest to decoding pixels that the crop then throws away. :class:`FastRandomResizedCrop` keeps everything that defines the augmentation and
changes only how the pixels are computed:

- the same decoded pixels as ``LoadImageFromFile`` (``mmcv.imfrombytes(..., backend='cv2')``:
  BGR, EXIF orientation applied), but only of the crop's region where that is exact
  (``crop_decode``, default; :mod:`.jpeg_crop_decode`: rows below the crop are not decoded, rows
  above and columns beside it are not reconstructed; bit-identical to OpenCV's full decode);
- the same crop distribution, drawn by the host's own ``RandomResizedCrop.rand_crop_params`` from
  the same numpy random stream (so a seeded run draws the same boxes and flips as mmpretrain's);
- the same resampling filter: PyTorch's antialiased ``interpolate`` (``antialias=True``), which
  implements Pillow's separable bicubic / bilinear convolution, on the uint8 crop view in place
  (no copies); outputs equal mmpretrain's within interpolation rounding: <= 1 grey level for
  bilinear; for bicubic a mean |difference| <= 0.3 levels with <= 0.5% of values off by more than
  1 (single values next to clipped pixels up to ~10)
  (``tests/test_datasets/test_fast_resized_crop.py``);
- uint8 out, HWC, BGR: normalisation and BGR->RGB stay in the data preprocessor, and mmcv's
  ``RandomFlip`` (unless ``flip_prob`` is set) and mmpretrain's ``PackInputs`` follow unchanged;
- optionally the horizontal flip too (``flip_prob``, in place of a following
  ``RandomFlip(prob=flip_prob)``): drawn from numpy's stream exactly as ``RandomFlip`` draws it
  (same flips in a seeded run, same ``flip`` / ``flip_direction`` keys), applied to the resized
  output, which saves ``RandomFlip``'s per-sample overhead and the strided copy in packing.

Opt-in, ``reduced_decode=True``: when the crop is at least ``2^k`` times the output size in both
directions, the JPEG is decoded at ``1/2^k`` scale (libjpeg DCT scaling, ``cv2.IMREAD_REDUCED_*``)
and the scaled box is resized. The crop is still taken from the full image's geometry and the
final resize is still a downscale, but DCT scaling is a different low-pass filter than Pillow's
bicubic and the box is rounded to the reduced grid, so pixels differ by more than interpolation
rounding (docs/benchmarks.md, *Data loading*, gives the error); on ImageNet-sized images at 224 px
it rarely applies and saves little.

Given a results dict that already holds ``img`` (after ``LoadImageFromFile``, or in the synthetic
batches of ``tools/benchmark.py``), the transform skips the decode and crops that image.
"""
import io
from typing import Optional, Sequence, Tuple, Union

import mmcv
import numpy as np
import torch
import torch.nn.functional as F
from mmengine import fileio
from mmpretrain.datasets.transforms import RandomResizedCrop

from mmdbp.registry import TRANSFORMS

from ..file_errors import load_or_name, truncation_problem
from .jpeg_crop_decode import decode_jpeg_crop, jpeg_crop_size

#: interpolation names -> torch modes whose antialiased kernels are Pillow's
_TORCH_MODES = {'bicubic': 'bicubic', 'bilinear': 'bilinear'}
#: reduced-decode factors OpenCV's JPEG reader offers (libjpeg DCT scaling)
_CV2_REDUCED = {k: f'IMREAD_REDUCED_COLOR_{k}' for k in (2, 4, 8)}


class _Shape:
    """Stands in for an image in ``rand_crop_params``, which only reads ``img.shape``."""

    def __init__(self, h: int, w: int) -> None:
        self.shape = (h, w)


def resize_like_pillow(img: np.ndarray, size_hw: Tuple[int, int],
                       interpolation: str = 'bicubic', hflip: bool = False) -> np.ndarray:
    """Resize a uint8 HWC image with Pillow's antialiased filter, computed by PyTorch.

    Args:
        img (np.ndarray): ``(H, W, C)`` uint8 image, any strides (a crop view is fine).
        size_hw (tuple[int, int]): output ``(height, width)``.
        interpolation (str): ``'bicubic'`` or ``'bilinear'``. Defaults to ``'bicubic'``.
        hflip (bool): Also mirror the output left-right. Defaults to False.

    Returns:
        np.ndarray: ``(height, width, C)`` uint8 (an HWC view of channel-first memory, which
        mmpretrain's ``PackInputs`` turns into a tensor without a copy).
    """
    mode = _TORCH_MODES[interpolation]
    t = torch.from_numpy(img).permute(2, 0, 1).unsqueeze(0)  # 1, C, H, W view of the HWC data
    (in_h, in_w), (out_h, out_w) = img.shape[:2], size_hw
    if out_h < in_h and out_w > in_w:
        # Shrinking rows while widening columns, PyTorch's one call rounds the intermediate
        # differently from Pillow (up to ~10 levels at clipped pixels); the vertical pass on its
        # own first matches Pillow within 1 (measured on random shapes).
        t = F.interpolate(t, size=(out_h, in_w), mode=mode, antialias=True, align_corners=False)
    out = F.interpolate(t, size=(out_h, out_w), mode=mode, antialias=True, align_corners=False)
    if hflip:
        out = out.flip(-1)
    return out[0].permute(1, 2, 0).numpy()


def plain_jpeg_size(data: bytes) -> Optional[Tuple[int, int]]:
    """``(h, w)`` of a JPEG that every decoder reads alike: RGB or greyscale, no EXIF rotation
    (OpenCV applies it, the DCT-reduced and device decodes would not). None for anything else,
    an unreadable file included (the full decode then raises the file's own error)."""
    from PIL import Image
    try:
        with Image.open(io.BytesIO(data)) as probe:
            if (probe.format == 'JPEG' and probe.mode in ('RGB', 'L')
                    and probe.getexif().get(0x0112, 1) == 1):
                return probe.size[::-1]
    except Exception:
        pass
    return None


@TRANSFORMS.register_module()
class FastRandomResizedCrop(RandomResizedCrop):
    """Decode, randomly crop and resize an image: ``LoadImageFromFile`` followed by
    ``RandomResizedCrop(backend='pillow')``, with the same output distribution, in one step.

    Replaces the first two transforms of mmpretrain's MAE / SimMIM pipelines, or with
    ``flip_prob`` the first three::

        train_pipeline = [
            dict(type='FastRandomResizedCrop', scale=224, crop_ratio_range=(0.2, 1.0),
                 interpolation='bicubic', flip_prob=0.5),
            # was LoadImageFromFile + RandomResizedCrop + RandomFlip(prob=0.5)
            dict(type='PackInputs')]

    **Required keys:** ``img_path`` (or ``img``, then nothing is decoded), ``sample_idx``
    (optional, named in errors). **Added / modified keys:** ``img`` (uint8 HWC BGR),
    ``img_shape``, ``ori_shape`` (the decoded image's), ``crop_bbox`` (``x0, y0, x1, y1`` of the
    crop in full-resolution pixels, ``x1``/``y1`` exclusive), ``decode_scale`` (1, or the DCT
    reduction factor); with ``flip_prob``: ``flip``, ``flip_direction`` (as ``RandomFlip``).

    Args:
        scale (int | Sequence[int]): Output size, ``(h, w)`` or one side. As ``RandomResizedCrop``.
        crop_ratio_range (tuple[float, float]): Range of the crop's area relative to the image.
            Defaults to (0.08, 1.0).
        aspect_ratio_range (tuple[float, float]): Range of the crop's aspect ratio. Defaults to
            (3/4, 4/3).
        max_attempts (int): Draws before the central-crop fallback. Defaults to 10.
        interpolation (str): With ``backend='pillow'``: ``'bicubic'`` or ``'bilinear'``
            (Pillow's antialiased filters, computed by PyTorch). With ``backend='cv2'``: any of
            mmcv's ``imresize`` names. Defaults to ``'bicubic'``.
        backend (str): Whose resize to reproduce, as ``RandomResizedCrop``'s ``backend``:
            ``'pillow'`` (mmpretrain's MAE configs) or ``'cv2'`` (mmcv's OpenCV resize, the
            host's default, e.g. mmpretrain's SimMIM configs; computed by the same
            ``mmcv.imresize`` on the crop view). Defaults to ``'pillow'``.
        crop_decode (bool): Decode only the crop's region of a JPEG where that gives OpenCV's
            pixels exactly (:mod:`.jpeg_crop_decode`; needs the extension built at install,
            else whole images are decoded). Defaults to True.
        flip_prob (float): Probability of a horizontal flip, drawn and applied as a following
            ``RandomFlip(prob=flip_prob)`` would (use it instead of that transform, not beside
            it). 0 draws nothing. Defaults to 0.
        reduced_decode (bool): Decode JPEGs at 1/2, 1/4 or 1/8 scale when the crop is at least
            that many times the output size (see the module doc: changes pixels beyond
            interpolation rounding). Defaults to False.
        backend_args (dict, optional): mmengine file backend arguments. Defaults to None.
        skip_bad_samples (bool): Log an unreadable image (file, index, reason) and drop the
            sample instead of raising ``DataFileError``. Defaults to False.
    """

    def __init__(self,
                 scale: Union[int, Sequence[int]],
                 crop_ratio_range: Tuple[float, float] = (0.08, 1.0),
                 aspect_ratio_range: Tuple[float, float] = (3. / 4., 4. / 3.),
                 max_attempts: int = 10,
                 interpolation: str = 'bicubic',
                 backend: str = 'pillow',
                 crop_decode: bool = True,
                 flip_prob: float = 0.,
                 reduced_decode: bool = False,
                 backend_args: Optional[dict] = None,
                 skip_bad_samples: bool = False) -> None:
        if backend not in ('pillow', 'cv2'):
            raise ValueError(f"FastRandomResizedCrop: backend must be 'pillow' or 'cv2' (whose "
                             f'resize to reproduce), got {backend!r}.')
        if backend == 'pillow' and interpolation not in _TORCH_MODES:
            raise ValueError(
                f"FastRandomResizedCrop(backend='pillow') computes Pillow's {sorted(_TORCH_MODES)} "
                f'filters; got interpolation={interpolation!r}. Use backend=\'cv2\', or '
                'LoadImageFromFile + RandomResizedCrop for other Pillow filters.')
        if not 0. <= flip_prob <= 1.:
            raise ValueError(f'FastRandomResizedCrop: flip_prob must be in [0, 1] (the chance of a '
                             f'horizontal flip), got {flip_prob!r}.')
        super().__init__(scale, crop_ratio_range=crop_ratio_range,
                         aspect_ratio_range=aspect_ratio_range, max_attempts=max_attempts,
                         interpolation=interpolation, backend=backend)
        self.crop_decode = crop_decode
        self.flip_prob = float(flip_prob)
        # RandomFlip draws np.random.choice(['horizontal', None], p=[prob, 1 - prob]): one
        # uniform u, flipped iff u < cdf[0] of the normalised cumulative p; the same threshold
        cdf = np.cumsum([self.flip_prob, 1. - self.flip_prob])
        self._flip_below = float(cdf[0] / cdf[-1])
        self.reduced_decode = reduced_decode
        self.backend_args = backend_args
        self.skip_bad_samples = skip_bad_samples

    # -- crop box -------------------------------------------------------------------------
    def crop_box(self, h: int, w: int) -> np.ndarray:
        """Draw the crop of an ``h`` x ``w`` image: ``x0, y0, x1, y1`` (``x1``/``y1`` exclusive),
        from the host's ``RandomResizedCrop.rand_crop_params`` and numpy's random stream. Every
        path of the transform (and of its subclasses) cuts, and reports as ``crop_bbox``, this
        box; it touches no pixels, so its distribution is cheap to test."""
        oy, ox, ch, cw = self.rand_crop_params(_Shape(h, w))
        return np.array([ox, oy, ox + cw, oy + ch])

    # -- decode ---------------------------------------------------------------------------
    def _reduced_factor(self, box_hw: Tuple[int, int]) -> int:
        """The largest DCT factor (8, 4, 2, else 1) the crop ``(h, w)`` still downscales by."""
        out_h, out_w = self.scale
        for k in (8, 4, 2):
            if box_hw[0] >= k * out_h and box_hw[1] >= k * out_w:
                return k
        return 1

    def _decode_and_crop(self, results: dict) -> np.ndarray:
        data = fileio.get(results['img_path'], backend_args=self.backend_args)
        problem = truncation_problem(data)  # OpenCV would decode it, partly uninitialised
        if problem is not None:
            raise OSError(problem)
        img, draw = (self._reduced(data, results) if self.reduced_decode else (None, None))
        if img is not None:
            return img
        size = jpeg_crop_size(data) if self.crop_decode else None
        if size is not None:
            draw = self.crop_box(*size) if draw is None else draw
            crop = decode_jpeg_crop(data, draw)
            if crop is not None:
                results.update(ori_shape=size, crop_bbox=draw, decode_scale=1)
                return crop
        img = mmcv.imfrombytes(data, flag='color', backend='cv2')
        if img is None:
            raise ValueError('OpenCV could not decode the image')
        h, w = img.shape[:2]
        x0, y0, x1, y1 = box = draw if draw is not None else self.crop_box(h, w)
        results.update(ori_shape=(h, w), crop_bbox=box, decode_scale=1)
        return img[y0:y1, x0:x1]

    def _reduced(self, data: bytes, results: dict) -> Tuple[Optional[np.ndarray], Optional[tuple]]:
        """``(crop, draw)`` from a DCT-reduced decode. ``crop`` is None where that does not apply
        (non-JPEG, EXIF rotation, crop too small); the caller then decodes at full scale and
        uses ``draw`` (the crop already drawn, if any), so the random stream is the same."""
        import cv2
        from PIL import Image
        hw = plain_jpeg_size(data)
        if hw is None:  # the full-scale decode is exact (and raises the file's own error)
            return None, None
        h, w = hw
        draw = self.crop_box(h, w)
        ox, oy, x1, y1 = (int(v) for v in draw)
        cw, ch = x1 - ox, y1 - oy
        k = self._reduced_factor((ch, cw))
        if k == 1:
            return None, draw
        img = cv2.imdecode(np.frombuffer(data, np.uint8), getattr(cv2, _CV2_REDUCED[k]))
        if img is None or img.shape[:2] != (-(-h // k), -(-w // k)):
            return None, draw
        # The box on the reduced grid has fractional edges (full-res pixel x covers x / k on
        # it); Pillow's resize takes such a box exactly, so the geometry stays the host's.
        y0, x0 = oy // k, ox // k
        y1, x1 = -(-(oy + ch) // k), -(-(ox + cw) // k)
        sub = img[y0:y1, x0:x1]
        box = (ox / k - x0, oy / k - y0, (ox + cw) / k - x0, (oy + ch) / k - y0)
        out_h, out_w = self.scale
        if self.backend == 'pillow':
            resample = Image.BICUBIC if self.interpolation == 'bicubic' else Image.BILINEAR
            out = np.array(Image.fromarray(np.ascontiguousarray(sub)).resize(
                (out_w, out_h), resample, box=box))  # a writable copy, as the other paths give
        else:  # OpenCV's sampling (pixel centres, no antialiasing) of the fractional box
            sx, sy = (box[2] - box[0]) / out_w, (box[3] - box[1]) / out_h
            m = np.array([[sx, 0, box[0] + 0.5 * sx - 0.5], [0, sy, box[1] + 0.5 * sy - 0.5]])
            out = cv2.warpAffine(sub, m, (out_w, out_h), borderMode=cv2.BORDER_REPLICATE,
                                 flags=mmcv.image.geometric.cv2_interp_codes[self.interpolation]
                                 | cv2.WARP_INVERSE_MAP)
        results.update(ori_shape=(h, w), crop_bbox=draw, decode_scale=k, resized=True)
        return out, draw

    # -- transform ------------------------------------------------------------------------
    def _draw_flip(self, results: dict) -> bool:
        """Draw the flip as ``RandomFlip(prob=flip_prob)`` does (one uniform from numpy's
        stream) and record it as that transform does."""
        flip = bool(np.random.random_sample() < self._flip_below)
        results['flip'] = flip
        results['flip_direction'] = 'horizontal' if flip else None
        return flip

    def _load(self, results: dict) -> dict:
        if results.get('img') is not None:
            img = results['img']
            h, w = img.shape[:2]
            x0, y0, x1, y1 = box = self.crop_box(h, w)
            results.update(crop_bbox=box, decode_scale=1)
            results.setdefault('ori_shape', (h, w))
            crop = img[y0:y1, x0:x1]
        else:
            crop = self._decode_and_crop(results)
        flip = self._draw_flip(results) if self.flip_prob else False
        if results.pop('resized', False):  # the reduced decode resized already
            out = crop[:, ::-1] if flip else crop
        elif self.backend == 'pillow':
            gray = crop.ndim == 2
            out = resize_like_pillow(crop[..., None] if gray else crop, self.scale,
                                     self.interpolation, hflip=flip)
            out = out[..., 0] if gray else out
        else:  # exactly the host's cv2 path, without the copy mmcv.imcrop makes
            out = mmcv.imresize(crop, tuple(self.scale[::-1]), interpolation=self.interpolation,
                                backend='cv2')
            out = out[:, ::-1] if flip else out  # mmcv.imflip's view
        results['img'] = out
        results['img_shape'] = out.shape  # as the host's RandomResizedCrop
        return results

    def transform(self, results: dict) -> Optional[dict]:
        """Decode (unless ``img`` is given), crop and resize; see the class doc."""
        if results.get('img') is not None:
            return self._load(results)
        return load_or_name(self._load, results, ('img_path',), self.skip_bad_samples,
                            'FastRandomResizedCrop')

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(scale={self.scale}, '
                f'crop_ratio_range={self.crop_ratio_range}, '
                f'aspect_ratio_range={self.aspect_ratio_range}, '
                f'max_attempts={self.max_attempts}, interpolation={self.interpolation}, '
                f'backend={self.backend}, crop_decode={self.crop_decode}, '
                f'flip_prob={self.flip_prob}, reduced_decode={self.reduced_decode}, '
                f'skip_bad_samples={self.skip_bad_samples})')
