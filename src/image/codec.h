/* SPDX-License-Identifier: MIT */
/* Thin C wrappers around libpng and libjpeg for gpsa::image: they keep setjmp/longjmp error
   handling in C (no C++ frames between setjmp and longjmp) and report failures as a return
   code plus a message. Private to src/image. */
#ifndef GPSA_IMAGE_CODEC_H
#define GPSA_IMAGE_CODEC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Room for any message these wrappers produce (a libjpeg message is < JMSG_LENGTH_MAX = 200). */
#define GPSA_CODEC_MESSAGE 320

/* ---- PNG ---- */

typedef struct gpsa_png gpsa_png;

/* PNG_COLOR_TYPE_* values, repeated so C++ callers need not include png.h. */
enum {
  gpsa_png_gray = 0,
  gpsa_png_rgb = 2,
  gpsa_png_palette = 3,
  gpsa_png_gray_alpha = 4,
  gpsa_png_rgba = 6
};

typedef struct {
  uint32_t width, height;
  int bit_depth;    /* 1, 2, 4, 8 or 16 as stored */
  int sample_bytes; /* bytes per sample in decoded rows: 2 for 16-bit grey, 1 otherwise */
  int color_type;   /* gpsa_png_* */
  int channels;     /* samples per pixel: 1 (gray, palette), 2, 3 or 4 */
  int interlaced;   /* Adam7 */
  int palette_size; /* PLTE entries (palette images) */
  uint8_t palette[256 * 3];
} gpsa_png_info;

/* Return codes of every call below. */
enum {
  gpsa_codec_ok = 0,
  gpsa_codec_corrupt = 1,
  gpsa_codec_truncated = 2,
  gpsa_codec_no_memory = 3,
  gpsa_codec_unsupported = 4, /* valid, but a variant gpsa does not decode (12-bit, lossless) */
  gpsa_codec_limit = 5        /* over a limit given to the decoder (JPEG scans) */
};

/* Reads the signature and every chunk up to the image data; no pixel memory is allocated yet.
   Returns gpsa_codec_ok and a handle for gpsa_png_close, or an error code with `message` set
   (*out stays NULL). The data must outlive the handle. Decoded rows hold width * channels
   samples of info.sample_bytes each: one byte (depths 1, 2, 4 unpacked, not scaled; 16-bit
   colour and grey + alpha cut to their high byte while decoding, as PIL keeps it) or two,
   big-endian, for 16-bit grey (which PIL clips instead). */
int gpsa_png_open(const uint8_t* data, size_t size, gpsa_png** out, gpsa_png_info* info,
                  char message[GPSA_CODEC_MESSAGE]);
/* The next `count` rows of a non-interlaced image, each info.row_bytes at rows[i]. */
int gpsa_png_read_rows(gpsa_png* png, uint8_t** rows, uint32_t count,
                       char message[GPSA_CODEC_MESSAGE]);
/* The whole image (every Adam7 pass), rows[0 .. height). */
int gpsa_png_read_image(gpsa_png* png, uint8_t** rows, char message[GPSA_CODEC_MESSAGE]);
void gpsa_png_close(gpsa_png* png);

/* ---- JPEG ---- */

typedef struct gpsa_jpeg gpsa_jpeg;

typedef struct {
  uint32_t width, height;
  int components; /* 1 (gray), 3 (YCbCr or RGB, decoded to RGB) or 4 (CMYK or YCCK, to CMYK) */
} gpsa_jpeg_info;

/* Reads the headers up to the first scan; no pixel memory is allocated yet. `max_memory` caps
   what libjpeg may allocate while decoding (it fails with a message past it); a file with more
   than `max_scans` scans fails with gpsa_codec_limit as soon as scan max_scans + 1 starts (each
   scan of a progressive JPEG walks the whole image). Codes as for PNG; 12-bit and lossless
   JPEGs are gpsa_codec_unsupported. A file that ends early is an error (libjpeg alone would pad
   it with grey and warn). */
int gpsa_jpeg_open(const uint8_t* data, size_t size, long max_memory, int max_scans,
                   gpsa_jpeg** out, gpsa_jpeg_info* info, char message[GPSA_CODEC_MESSAGE]);
/* Starts decompression, then hands out scanlines in order (width * components bytes each), then
   reads the rest of the file up to its end marker. */
int gpsa_jpeg_start(gpsa_jpeg* jpeg, char message[GPSA_CODEC_MESSAGE]);
int gpsa_jpeg_read_row(gpsa_jpeg* jpeg, uint8_t* row, char message[GPSA_CODEC_MESSAGE]);
int gpsa_jpeg_finish(gpsa_jpeg* jpeg, char message[GPSA_CODEC_MESSAGE]);
void gpsa_jpeg_close(gpsa_jpeg* jpeg);

#ifdef __cplusplus
}
#endif

#endif
