"""Decode only the part of a JPEG that a crop needs, bit-identical to OpenCV's full decode.

A random resized crop keeps on average ~60% of an ImageNet image (MAE's crops: 20-100% of the
area), yet the loader decodes all of it. ``mmdbp._jpeg_crop_decode`` (``mmdbp/csrc``, built at
install against the system's libjpeg-turbo) decodes the crop's region instead:

- nothing below the crop's last row is decoded (entropy decoding stops there);
- the rows above the crop are entropy-decoded only: no IDCT, upsampling or colour conversion
  (libjpeg-turbo's ``jpeg_skip_scanlines``);
- of the rows in between, only the columns of the crop plus 8 pixels on each side, widened to
  whole iMCU columns, are reconstructed (``jpeg_crop_scanline``; the margin keeps libjpeg's fancy
  chroma upsampling at the crop's edges as in the full image).

It decodes with OpenCV's settings (islow IDCT, fancy upsampling, BGR output), so the crop equals
``cv2.imdecode(data, cv2.IMREAD_COLOR)[y0:y1, x0:x1]`` exactly
(``tests/test_datasets/test_jpeg_crop_decode.py`` compares them on random boxes). Files it would
not reproduce exactly (not a JPEG, CMYK / YCCK / RGB colour spaces, an EXIF orientation other
than 1, a libjpeg warning such as a truncated file) return ``None`` here and the caller decodes
them with OpenCV, as does everything when the extension was not built (no compiler, no
libjpeg-turbo >= 2.1 headers at install). Before its first use in a process the extension is
checked against OpenCV on a small generated JPEG; should the two libraries decode it differently
(libjpeg-turbo builds that differ from OpenCV's), it is not used and a warning says so.
"""
import logging
from typing import Optional, Sequence, Tuple

import numpy as np
from mmengine.logging import print_log

try:
    from mmdbp import _jpeg_crop_decode as _ext
except ImportError:  # built optionally (setup.py): OpenCV's full decode is the fallback
    _ext = None

#: the JPEG start-of-image marker
_SOI = b'\xff\xd8'
#: whether the extension decodes like OpenCV here (None: not checked yet in this process)
_agrees: Optional[bool] = None


def _agrees_with_opencv() -> bool:
    """Decode a generated 4:2:0 JPEG (odd size, sharp colour edges) with both decoders and
    compare interior, edge and whole-image crops; once per process."""
    import cv2
    yy, xx = np.mgrid[:75, :97]
    img = np.stack([(xx * 7 + yy * 3) % 256, (yy * 11) % 256,
                    np.where((xx // 9 + yy // 7) % 2 == 1, 230, 20)], -1).astype(np.uint8)
    ok, encoded = cv2.imencode('.jpg', img, [cv2.IMWRITE_JPEG_QUALITY, 90])
    data = encoded.tobytes()
    ref = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
    for box in ((0, 0, 97, 75), (17, 21, 58, 60), (40, 3, 97, 75), (0, 50, 33, 75)):
        x0, y0, x1, y1 = box
        crop = decode_jpeg_crop(data, box)
        if crop is None or not np.array_equal(crop, ref[y0:y1, x0:x1]):
            return False
    return ok


def crop_decode_available() -> bool:
    """Whether mmdbp's crop-region JPEG decoder was built at install and decodes exactly as
    OpenCV does in this process (checked once; a mismatch is logged and disables it)."""
    global _agrees
    if _ext is None:
        return False
    if _agrees is None:
        _agrees = _agrees_with_opencv()
        if not _agrees:
            print_log('mmdbp._jpeg_crop_decode decodes differently from OpenCV with this '
                      'libjpeg-turbo; FastRandomResizedCrop decodes whole images with OpenCV '
                      '(same pixels as mmpretrain, ~15% slower). Rebuild mmdbp against '
                      'libjpeg-turbo >= 2.1 to use it.', logger='current', level=logging.WARNING)
    return _agrees


def jpeg_crop_size(data: bytes) -> Optional[Tuple[int, int]]:
    """``(height, width)`` of a JPEG whose crops :func:`decode_jpeg_crop` decodes exactly as
    OpenCV does (YCbCr or greyscale, EXIF orientation 1); ``None`` for any other file (or bytes
    that are no JPEG), and when the extension is not built."""
    if data[:2] != _SOI or not crop_decode_available():
        return None
    try:
        height, width, exact = _ext.jpeg_header(data)
    except ValueError:  # unreadable header: OpenCV's decode raises or names the problem
        return None
    return (height, width) if exact else None


def decode_jpeg_crop(data: bytes, box: Sequence[int]) -> Optional[np.ndarray]:
    """Decode the crop ``box`` (``x0, y0, x1, y1``, ``x1``/``y1`` exclusive) of a JPEG.

    Call it for files :func:`jpeg_crop_size` accepted.

    Args:
        data (bytes): The encoded file.
        box (Sequence[int]): The crop in the image's pixels.

    Returns:
        np.ndarray | None: ``(y1 - y0, x1 - x0, 3)`` uint8 BGR, equal to the same region of
        ``cv2.imdecode(data, cv2.IMREAD_COLOR)`` (a view into the decoded region, which is a
        little wider than the crop); ``None`` where libjpeg warned or failed (a truncated or
        corrupt file): decode such a file with OpenCV, which decides what it gives.
    """
    x0, y0, x1, y1 = (int(v) for v in box)
    try:
        decoded = _ext.decode_crop(data, x0, y0, x1, y1)
    except ValueError:
        return None
    if decoded is None:
        return None
    pixels, row0, col0, width = decoded
    region = np.frombuffer(pixels, np.uint8).reshape(-1, width, 3)
    return region[y0 - row0:, x0 - col0:x1 - col0]
