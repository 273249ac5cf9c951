/*
 * Decode only the rows and columns of a JPEG that a crop needs, with the system's libjpeg-turbo.
 *
 * mmdbp.datasets.transforms.FastRandomResizedCrop draws a crop box from the image size (read
 * by ``jpeg_header``) and then calls ``decode_crop``, which
 *   - stops decoding at the crop's bottom row (nothing below it is entropy-decoded),
 *   - skips the IDCT, upsampling and colour conversion of the rows above the crop
 *     (``jpeg_skip_scanlines``) and of the columns left and right of it
 *     (``jpeg_crop_scanline``, which widens the region to whole iMCU columns),
 * and returns BGR pixels decoded exactly as OpenCV's ``cv2.imdecode(..., IMREAD_COLOR)`` decodes
 * them (same library defaults: islow IDCT, fancy upsampling, JCS_EXT_BGR output), so the crop is
 * bit-identical to the same region of the full decode (tests/test_datasets/test_jpeg_crop_decode.py
 * checks this against cv2 on random boxes).
 *
 * Anything this path does not reproduce exactly (CMYK / YCCK / other colour spaces, EXIF
 * orientation other than 1, any libjpeg warning such as a truncated file) makes the caller fall
 * back to OpenCV's full decode: ``jpeg_header`` reports it, ``decode_crop`` returns None.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <jpeglib.h>

/* jpeg_skip_scanlines and jpeg_crop_scanline exist since libjpeg-turbo 1.5, but several of their
 * bugs (crashes and wrong rows with chroma subsampling) were fixed only up to 2.1; with an older
 * library or IJG's libjpeg the build fails here and mmdbp installs without this extension. */
#if !defined(LIBJPEG_TURBO_VERSION_NUMBER) || LIBJPEG_TURBO_VERSION_NUMBER < 2001000
#error "mmdbp._jpeg_crop_decode needs libjpeg-turbo >= 2.1"
#endif

/* columns decoded beyond each side of the crop (see decode_crop) */
#define CROP_MARGIN 8

/* ---- libjpeg error handling: longjmp back instead of exit(); count warnings silently ---- */
typedef struct {
  struct jpeg_error_mgr pub;
  jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
} ErrorManager;

static void on_error(j_common_ptr cinfo) {
  ErrorManager *err = (ErrorManager *)cinfo->err;
  (*cinfo->err->format_message)(cinfo, err->message);
  longjmp(err->jump, 1);
}

static void on_message(j_common_ptr cinfo, int level) {
  if (level < 0) cinfo->err->num_warnings++; /* warnings are counted, never printed */
}

static void silent_output(j_common_ptr cinfo) { (void)cinfo; }

static void init_errors(struct jpeg_decompress_struct *cinfo, ErrorManager *err) {
  cinfo->err = jpeg_std_error(&err->pub);
  err->pub.error_exit = on_error;
  err->pub.emit_message = on_message;
  err->pub.output_message = silent_output;
  err->message[0] = '\0';
}

/* ---- EXIF orientation (tag 0x0112 of IFD0); 1 when absent, -1 when unreadable ---- */
static unsigned read_u16(const unsigned char *p, int big) {
  return big ? (unsigned)(p[0] << 8 | p[1]) : (unsigned)(p[1] << 8 | p[0]);
}
static unsigned long read_u32(const unsigned char *p, int big) {
  return big ? ((unsigned long)p[0] << 24 | (unsigned long)p[1] << 16 | p[2] << 8 | p[3])
             : ((unsigned long)p[3] << 24 | (unsigned long)p[2] << 16 | p[1] << 8 | p[0]);
}

static int exif_orientation(struct jpeg_decompress_struct *cinfo) {
  jpeg_saved_marker_ptr m;
  for (m = cinfo->marker_list; m != NULL; m = m->next) {
    const unsigned char *d = m->data, *tiff;
    unsigned long len = m->data_length, ifd, n, i;
    int big;
    if (m->marker != JPEG_APP0 + 1 || len < 6 || memcmp(d, "Exif\0\0", 6) != 0) continue;
    tiff = d + 6;
    len -= 6;
    if (len < 8) return -1;
    if (tiff[0] == 'M' && tiff[1] == 'M') big = 1;
    else if (tiff[0] == 'I' && tiff[1] == 'I') big = 0;
    else return -1;
    ifd = read_u32(tiff + 4, big);
    if (ifd + 2 > len) return -1;
    n = read_u16(tiff + ifd, big);
    if (ifd + 2 + 12 * n > len) return -1;
    for (i = 0; i < n; i++) {
      const unsigned char *e = tiff + ifd + 2 + 12 * i;
      if (read_u16(e, big) == 0x0112) return (int)read_u16(e + 8, big);
    }
    return 1;
  }
  return 1;
}

/* Start reading the JPEG in ``buf`` (after the caller's setjmp). */
static void open_jpeg(struct jpeg_decompress_struct *cinfo, const Py_buffer *buf) {
  jpeg_create_decompress(cinfo);
  jpeg_mem_src(cinfo, (const unsigned char *)buf->buf, (unsigned long)buf->len);
}

/* Free the decompressor and the buffer; raise ValueError("<what>: <libjpeg's message>"). */
static PyObject *fail(struct jpeg_decompress_struct *cinfo, Py_buffer *buf, const char *what,
                      const char *message) {
  jpeg_destroy_decompress(cinfo);
  PyBuffer_Release(buf);
  PyErr_Format(PyExc_ValueError, "%s: %s", what, message);
  return NULL;
}

/* ---- jpeg_header(data) -> (height, width, exact) ----
 * exact: whether decode_crop reproduces OpenCV's decode of this file (YCbCr or greyscale,
 * EXIF orientation 1). Raises ValueError when the header cannot be read. */
static PyObject *jpeg_header(PyObject *self, PyObject *args) {
  Py_buffer buf;
  struct jpeg_decompress_struct cinfo;
  ErrorManager err;
  int height, width, exact, orientation;
  (void)self;
  if (!PyArg_ParseTuple(args, "y*", &buf)) return NULL;
  init_errors(&cinfo, &err);
  if (setjmp(err.jump)) return fail(&cinfo, &buf, "not a readable JPEG header", err.message);
  open_jpeg(&cinfo, &buf);
  jpeg_save_markers(&cinfo, JPEG_APP0 + 1, 0xFFFF);
  jpeg_read_header(&cinfo, TRUE);
  height = (int)cinfo.image_height;
  width = (int)cinfo.image_width;
  orientation = exif_orientation(&cinfo);
  exact = (cinfo.jpeg_color_space == JCS_YCbCr || cinfo.jpeg_color_space == JCS_GRAYSCALE) &&
          orientation == 1 && cinfo.err->num_warnings == 0;
  jpeg_destroy_decompress(&cinfo);
  PyBuffer_Release(&buf);
  return Py_BuildValue("(iiO)", height, width, exact ? Py_True : Py_False);
}

/* Rows [y0, y1) of the started decompression into ``rows`` (``stride`` bytes each); runs
 * without the GIL, so a libjpeg error lands here (its own setjmp), never in Python code.
 * Returns 0, or -1 after a libjpeg error (message in err->message). */
static int read_rows(struct jpeg_decompress_struct *cinfo, ErrorManager *err, unsigned char *rows,
                     size_t stride, JDIMENSION y0, JDIMENSION y1) {
  if (setjmp(err->jump)) return -1;
  if (y0 > 0) jpeg_skip_scanlines(cinfo, y0);
  while (cinfo->output_scanline < y1) {
    JSAMPROW row = rows + (size_t)(cinfo->output_scanline - y0) * stride;
    jpeg_read_scanlines(cinfo, &row, 1);
  }
  return 0;
}

/* ---- decode_crop(data, x0, y0, x1, y1) -> (pixels, row0, col0, width) or None ----
 * pixels: a bytearray of (y1 - row0) rows of ``width`` BGR pixels, covering image rows
 * [row0, y1) and columns [col0, col0 + width) (row0 == y0; col0 <= x0 and col0 + width >= x1:
 * the crop plus a margin, widened by libjpeg to whole iMCU columns). None when libjpeg warned
 * (e.g. a truncated file): the caller then decodes with OpenCV. */
static PyObject *decode_crop(PyObject *self, PyObject *args) {
  Py_buffer buf;
  struct jpeg_decompress_struct cinfo;
  ErrorManager err;
  int x0, y0, x1, y1;
  JDIMENSION col0, width;
  PyObject *volatile out = NULL;
  int status;
  (void)self;
  if (!PyArg_ParseTuple(args, "y*iiii", &buf, &x0, &y0, &x1, &y1)) return NULL;
  init_errors(&cinfo, &err);
  if (setjmp(err.jump)) {
    Py_XDECREF(out);
    return fail(&cinfo, &buf, "JPEG decode failed", err.message);
  }
  open_jpeg(&cinfo, &buf);
  jpeg_read_header(&cinfo, TRUE);
  if (x0 < 0 || y0 < 0 || x1 <= x0 || y1 <= y0 || (JDIMENSION)x1 > cinfo.image_width ||
      (JDIMENSION)y1 > cinfo.image_height) {
    jpeg_destroy_decompress(&cinfo);
    PyBuffer_Release(&buf);
    PyErr_Format(PyExc_ValueError, "crop (%d, %d, %d, %d) outside the %ux%u image", x0, y0, x1,
                 y1, cinfo.image_width, cinfo.image_height);
    return NULL;
  }
  cinfo.out_color_space = JCS_EXT_BGR;
  cinfo.dct_method = JDCT_ISLOW;
  cinfo.do_fancy_upsampling = TRUE;
  jpeg_start_decompress(&cinfo);
  /* Fancy upsampling treats the edges of a cropped region as image edges: the region's first
   * and last columns would differ from the full decode. So the region extends CROP_MARGIN
   * columns beyond the crop on each side (libjpeg then widens it to whole iMCU columns). */
  col0 = (JDIMENSION)(x0 > CROP_MARGIN ? x0 - CROP_MARGIN : 0);
  width = (JDIMENSION)(x1 + CROP_MARGIN < (int)cinfo.output_width ? x1 + CROP_MARGIN
                                                                   : (int)cinfo.output_width) -
          col0;
  if (width < cinfo.output_width) jpeg_crop_scanline(&cinfo, &col0, &width);
  out = PyByteArray_FromStringAndSize(NULL, (Py_ssize_t)(y1 - y0) * width * 3);
  if (out == NULL) {
    jpeg_destroy_decompress(&cinfo);
    PyBuffer_Release(&buf);
    return NULL;
  }
  Py_BEGIN_ALLOW_THREADS
  status = read_rows(&cinfo, &err, (unsigned char *)PyByteArray_AS_STRING(out),
                     (size_t)width * 3, (JDIMENSION)y0, (JDIMENSION)y1);
  Py_END_ALLOW_THREADS
  /* from here on only calls that cannot fail (err.jump is read_rows' stale frame) */
  if (status == 0 && cinfo.err->num_warnings > 0) status = 1;
  jpeg_abort_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  PyBuffer_Release(&buf);
  if (status != 0) {
    Py_DECREF(out);
    if (status < 0) {
      PyErr_Format(PyExc_ValueError, "JPEG decode failed: %s", err.message);
      return NULL;
    }
    Py_RETURN_NONE;
  }
  return Py_BuildValue("(Niii)", out, y0, (int)col0, (int)width);
}

static PyMethodDef methods[] = {
    {"jpeg_header", jpeg_header, METH_VARARGS,
     "jpeg_header(data) -> (height, width, exact): the image size, and whether decode_crop "
     "decodes this file exactly as OpenCV does (YCbCr or greyscale, EXIF orientation 1)."},
    {"decode_crop", decode_crop, METH_VARARGS,
     "decode_crop(data, x0, y0, x1, y1) -> (pixels, row0, col0, width) or None: BGR rows "
     "[row0, y1) x columns [col0, col0 + width) covering the crop; None after a libjpeg warning."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_jpeg_crop_decode",
                                    "Crop-region JPEG decoding with libjpeg-turbo.", -1, methods};

PyMODINIT_FUNC PyInit__jpeg_crop_decode(void) { return PyModule_Create(&module); }
