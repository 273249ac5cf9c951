"""Crop-region JPEG decoding (``mmdbp._jpeg_crop_decode``) against OpenCV's full decode.

The reference is independent of the code under test: ``cv2.imdecode(data, IMREAD_COLOR)`` (what
mmpretrain's ``LoadImageFromFile`` runs, OpenCV's own bundled libjpeg-turbo) cut to the box.
The crop-region decode must equal it exactly, for every box, on the JPEG variants ImageNet has
(4:2:0 / 4:2:2 / 4:4:4 chroma, greyscale, progressive, restart markers, optimised Huffman
tables, odd sizes); files it cannot reproduce (CMYK, EXIF-rotated, truncated, not a JPEG) are
refused, and ``FastRandomResizedCrop`` then gives exactly what it gives without the extension.
"""
import io
import shutil
import subprocess

import cv2
import numpy as np
import pytest
from PIL import Image

from mmdbp.datasets.transforms import jpeg_crop_decode
from mmdbp.datasets.transforms.fast_resized_crop import FastRandomResizedCrop
from mmdbp.datasets.transforms.jpeg_crop_decode import (crop_decode_available, decode_jpeg_crop,
                                                        jpeg_crop_size)


def libjpeg_headers_present() -> bool:
    """Whether this machine's C compiler finds libjpeg's header (then setup.py builds the
    extension, and a missing one is a broken install, not an optional skip)."""
    cc = shutil.which('cc') or shutil.which('gcc')
    if cc is None:
        return False
    probe = subprocess.run([cc, '-E', '-x', 'c', '-'], input=b'#include <stdio.h>\n#include <jpeglib.h>\n',
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return probe.returncode == 0


needs_extension = pytest.mark.skipif(not crop_decode_available(),
                                     reason='mmdbp._jpeg_crop_decode not built (no libjpeg headers)')


def scene(h: int, w: int, seed: int, gray: bool = False) -> np.ndarray:
    """Textured content with sharp colour edges: chroma upsampling errors would show."""
    rng = np.random.default_rng(seed)
    fy, fx = np.fft.fftfreq(h)[:, None], np.fft.rfftfreq(w)[None, :]
    f = np.sqrt(fx ** 2 + fy ** 2)
    f[0, 0] = 1
    chans = [np.fft.irfft2(np.exp(2j * np.pi * rng.random(f.shape)) / f ** 0.9, s=(h, w))
             for _ in range(1 if gray else 3)]
    img = np.stack(chans, -1)
    img = 128 + 50 * (img - img.mean()) / img.std()
    for _ in range(6):  # hard-edged discs of saturated colour
        cy, cx, r = rng.integers(0, h), rng.integers(0, w), rng.integers(3, max(4, min(h, w) // 3))
        yy, xx = np.ogrid[:h, :w]
        img[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.integers(0, 256, img.shape[-1])
    img = np.clip(img, 0, 255).astype(np.uint8)
    return img[..., 0] if gray else img


def encode(img: np.ndarray, **pillow_options) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, 'JPEG', **pillow_options)
    return buf.getvalue()


def variants():
    """(name, bytes) of the JPEG flavours the crop-region decode must reproduce exactly."""
    rgb = scene(203, 317, seed=1)
    out = [
        ('4:2:0 q90', encode(rgb, quality=90, subsampling=2)),
        ('4:2:2 q85', encode(rgb, quality=85, subsampling=1)),
        ('4:4:4 q95', encode(rgb, quality=95, subsampling=0)),
        ('greyscale', encode(scene(150, 231, seed=2, gray=True), quality=88)),
        ('progressive', encode(rgb, quality=80, subsampling=2, progressive=True)),
        ('optimised Huffman', encode(rgb, quality=75, subsampling=2, optimize=True)),
        ('tiny 9x13', encode(scene(9, 13, seed=3), quality=90, subsampling=2)),
        ('tall 4:2:0', encode(scene(417, 95, seed=4), quality=92, subsampling=2)),
    ]
    ok, rst = cv2.imencode('.jpg', scene(181, 263, seed=5)[..., ::-1],
                           [cv2.IMWRITE_JPEG_QUALITY, 87, cv2.IMWRITE_JPEG_RST_INTERVAL, 3])
    assert ok
    out.append(('restart markers (OpenCV-encoded)', rst.tobytes()))
    return out


def boxes(h: int, w: int, rng, n: int = 40):
    """Random boxes plus the edge cases: whole image, corners, single rows and columns."""
    out = [(0, 0, w, h), (0, 0, 1, 1), (w - 1, h - 1, w, h), (0, h - 1, w, h), (w - 1, 0, w, h),
           (w // 3, h // 2, w // 3 + 1, h)]
    for _ in range(n):
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        out.append((x0, y0, int(rng.integers(x0 + 1, w + 1)), int(rng.integers(y0 + 1, h + 1))))
    return out


def full_decode(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)


def test_extension_is_built_where_it_can_be():
    """setup.py builds the extension wherever the compiler finds libjpeg's headers."""
    if not libjpeg_headers_present():
        pytest.skip('no C compiler or libjpeg headers on this machine')
    assert crop_decode_available(), ('mmdbp._jpeg_crop_decode is missing although libjpeg '
                                      "headers are present: reinstall mmdbp (pip install -e .)")


@needs_extension
@pytest.mark.parametrize('name,data', variants(), ids=[n for n, _ in variants()])
def test_crop_equals_opencv_full_decode(name, data):
    ref = full_decode(data)
    assert jpeg_crop_size(data) == ref.shape[:2], name
    rng = np.random.default_rng(len(data))
    for box in boxes(*ref.shape[:2], rng):
        x0, y0, x1, y1 = box
        crop = decode_jpeg_crop(data, box)
        assert crop is not None and crop.dtype == np.uint8, (name, box)
        np.testing.assert_array_equal(crop, ref[y0:y1, x0:x1], err_msg=f'{name} {box}')


@needs_extension
def test_a_library_that_decodes_differently_is_not_used(monkeypatch):
    """The once-per-process check against OpenCV: an extension whose pixels differ (here: off by
    one in one value) is switched off with a warning, and every file goes to OpenCV."""
    real = jpeg_crop_decode._ext

    class OffByOne:
        jpeg_header = staticmethod(real.jpeg_header)

        @staticmethod
        def decode_crop(data, *box):
            pixels, row0, col0, width = real.decode_crop(data, *box)
            pixels[0] ^= 1
            return pixels, row0, col0, width

    monkeypatch.setattr(jpeg_crop_decode, '_ext', OffByOne)
    monkeypatch.setattr(jpeg_crop_decode, '_agrees', None)
    import logging

    from mmengine.logging import MMLogger
    logger = MMLogger.get_instance('crop_decode_check_test')  # the current logger
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger.addHandler(handler)
    data = encode(scene(40, 60, seed=10), quality=90, subsampling=2)
    try:
        assert not crop_decode_available() and jpeg_crop_size(data) is None
    finally:
        logger.removeHandler(handler)
    assert any('decodes differently from OpenCV' in r.getMessage() and r.levelno == logging.WARNING
               for r in records)
    monkeypatch.setattr(jpeg_crop_decode, '_ext', real)
    monkeypatch.setattr(jpeg_crop_decode, '_agrees', None)
    assert crop_decode_available() and jpeg_crop_size(data) == (40, 60)


def test_files_it_cannot_reproduce_are_refused():
    rgb = scene(64, 80, seed=6)
    cmyk = io.BytesIO()
    Image.fromarray(rgb).convert('CMYK').save(cmyk, 'JPEG', quality=90)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90 degrees: OpenCV applies it
    rotated = io.BytesIO()
    Image.fromarray(rgb).save(rotated, 'JPEG', quality=90, exif=exif.tobytes())
    png = io.BytesIO()
    Image.fromarray(rgb).save(png, 'PNG')
    for data in (cmyk.getvalue(), rotated.getvalue(), png.getvalue(), b'\xff\xd8 not a jpeg', b''):
        assert jpeg_crop_size(data) is None
    upright = Image.Exif()
    upright[0x0112] = 1
    plain = io.BytesIO()
    Image.fromarray(rgb).save(plain, 'JPEG', quality=90, exif=upright.tobytes())
    if crop_decode_available():
        assert jpeg_crop_size(plain.getvalue()) == (64, 80)


@needs_extension
def test_truncated_file_is_left_to_opencv():
    """libjpeg warns on a truncated file; the crop decode then returns None (OpenCV decides what
    such a file gives, as without the extension) for boxes reaching into the missing part."""
    data = encode(scene(240, 320, seed=7), quality=90, subsampling=2)
    cut = data[:len(data) // 2]
    assert jpeg_crop_size(cut) == (240, 320)  # the header is intact
    assert decode_jpeg_crop(cut, (0, 200, 320, 240)) is None
    with pytest.raises(ValueError, match='outside'):
        jpeg_crop_decode._ext.decode_crop(data, 0, 0, 321, 10)


def _fast_outputs(path: str, seeds, **kwargs):
    t = FastRandomResizedCrop(48, crop_ratio_range=(0.2, 1.0), flip_prob=0.5, **kwargs)
    outs = []
    for seed in seeds:
        np.random.seed(seed)
        r = t(dict(img_path=path, sample_idx=0))
        outs.append((r['img'].copy(), list(r['crop_bbox']), r['flip'], tuple(r['ori_shape']),
                     np.random.random_sample()))  # the stream after the transform, too
    return outs


@pytest.mark.parametrize('kind', ['4:2:0', 'cmyk', 'exif-rotated'])
def test_transform_gives_the_same_output_with_and_without_crop_decode(tmp_path, kind, monkeypatch):
    """Same boxes, flips, random stream and bit-identical pixels: crop_decode=True (and, for the
    files it refuses, its fallback) against crop_decode=False, and against an install without the
    extension."""
    img = scene(180, 250, seed=8)
    path = str(tmp_path / 'a.jpg')
    if kind == 'cmyk':
        Image.fromarray(img).convert('CMYK').save(path, 'JPEG', quality=90)
    elif kind == 'exif-rotated':
        exif = Image.Exif()
        exif[0x0112] = 8
        Image.fromarray(img).save(path, 'JPEG', quality=90, exif=exif.tobytes())
    else:
        Image.fromarray(img).save(path, 'JPEG', quality=90, subsampling=2)
    seeds = range(12)
    on = _fast_outputs(path, seeds)
    off = _fast_outputs(path, seeds, crop_decode=False)
    monkeypatch.setattr(jpeg_crop_decode, '_ext', None)
    without = _fast_outputs(path, seeds)
    for a, b, c in zip(on, off, without):
        for other in (b, c):
            np.testing.assert_array_equal(a[0], other[0])
            assert a[1:] == other[1:]
    assert {o[2] for o in on} == {True, False}


@pytest.mark.parametrize('crop_decode', [True, False])
def test_truncated_file_is_an_error_naming_it(tmp_path, crop_decode):
    """OpenCV decodes a truncated JPEG without an error and leaves its missing rows
    uninitialised (different pixels on every call); the transform refuses it, as
    LoadCheckedImageFromFile does, whatever box was drawn."""
    from mmdbp.datasets.file_errors import DataFileError
    data = encode(scene(180, 250, seed=9), quality=90, subsampling=2)
    path = tmp_path / 'cut.jpg'
    path.write_bytes(data[:len(data) * 2 // 3])
    t = FastRandomResizedCrop(48, crop_decode=crop_decode)
    with pytest.raises(DataFileError, match=r'cut\.jpg.*dataset index 3.*truncated'):
        t(dict(img_path=str(path), sample_idx=3))
