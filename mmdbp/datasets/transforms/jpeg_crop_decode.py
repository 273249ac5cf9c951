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
them with OpenCV, as does everything when the extension was not built (no compiler or no
libjpeg-turbo headers at install).
"""
from typing import Optional, Sequence, Tuple

import numpy as np

try:
    from mmdbp import _jpeg_crop_decode as _ext
except ImportError:  # built optionally (setup.py): OpenCV's full decode is the fallback
    _ext = None

#: the JPEG start-of-image marker
_SOI = b'\xff\xd8'


def crop_decode_available() -> bool:
    """Whether mmdbp's crop-region JPEG decoder was built at install."""
    return _ext is not None


def jpeg_crop_size(data: bytes) -> Optional[Tuple[int, int]]:
    """``(height, width)`` of a JPEG whose crops :func:`decode_jpeg_crop` decodes exactly as
    OpenCV does (YCbCr or greyscale, EXIF orientation 1); ``None`` for any other file (or bytes
    that are no JPEG), and when the extension is not built."""
    if _ext is None or data[:2] != _SOI:
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
