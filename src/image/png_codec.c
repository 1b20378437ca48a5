/* SPDX-License-Identifier: MIT */
/* libpng behind the C interface of codec.h: the whole file is in memory, libpng's errors
   longjmp back to the entry point that is running, warnings are dropped. */
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

struct gpsa_png {
  png_structp png;
  png_infop info;
  const uint8_t* data;
  size_t size, pos;
  int started;   /* png_read_update_info done */
  int truncated; /* the read callback ran out of data */
  jmp_buf jump;
  char error[GPSA_CODEC_MESSAGE];
};

static void on_error(png_structp png, png_const_charp text) {
  struct gpsa_png* p = (struct gpsa_png*)png_get_error_ptr(png);
  snprintf(p->error, sizeof p->error, "%s", text != NULL ? text : "unknown libpng error");
  longjmp(p->jump, 1);
}

static void on_warning(png_structp png, png_const_charp text) {
  /* e.g. "iCCP: known incorrect sRGB profile": not the user's problem, and PIL is silent too */
  (void)png;
  (void)text;
}

static void on_read(png_structp png, png_bytep out, size_t n) {
  struct gpsa_png* p = (struct gpsa_png*)png_get_io_ptr(png);
  if (n > p->size - p->pos) {
    p->truncated = 1;
    png_error(png, "file ends early");
  }
  memcpy(out, p->data + p->pos, n);
  p->pos += n;
}

/* The code and message of the failure that just longjmp'ed back. */
static int failure(struct gpsa_png* p, char message[GPSA_CODEC_MESSAGE]) {
  if (p->truncated) {
    snprintf(message, GPSA_CODEC_MESSAGE, "the file ends after %zu bytes", p->size);
    return gpsa_codec_truncated;
  }
  snprintf(message, GPSA_CODEC_MESSAGE, "%s", p->error);
  return strstr(p->error, "memory") != NULL ? gpsa_codec_no_memory : gpsa_codec_corrupt;
}

int gpsa_png_open(const uint8_t* data, size_t size, gpsa_png** out, gpsa_png_info* info,
                  char message[GPSA_CODEC_MESSAGE]) {
  struct gpsa_png* p;
  png_uint_32 w = 0, h = 0;
  int depth = 0, color = 0, interlace = 0;
  *out = NULL;
  p = (struct gpsa_png*)calloc(1, sizeof *p);
  if (p == NULL) {
    snprintf(message, GPSA_CODEC_MESSAGE, "out of memory");
    return gpsa_codec_no_memory;
  }
  p->data = data;
  p->size = size;
  p->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, p, on_error, on_warning);
  if (p->png != NULL) p->info = png_create_info_struct(p->png);
  if (p->png == NULL || p->info == NULL) {
    gpsa_png_close(p);
    snprintf(message, GPSA_CODEC_MESSAGE, "out of memory");
    return gpsa_codec_no_memory;
  }
  if (setjmp(p->jump)) {
    const int code = failure(p, message);
    gpsa_png_close(p);
    return code;
  }
  png_set_read_fn(p->png, p, on_read);
  /* The caller checks width x height against its own pixel limit, with a better message than
     libpng's default 1,000,000-column limit; PNG itself allows 2^31 - 1. */
  png_set_user_limits(p->png, 0x7fffffff, 0x7fffffff);
  png_read_info(p->png, p->info);
  png_get_IHDR(p->png, p->info, &w, &h, &depth, &color, &interlace, NULL, NULL);
  memset(info, 0, sizeof *info);
  info->width = w;
  info->height = h;
  info->bit_depth = depth;
  info->color_type = color;
  info->channels = png_get_channels(p->png, p->info);
  info->interlaced = interlace != PNG_INTERLACE_NONE;
  if (color == PNG_COLOR_TYPE_PALETTE) {
    png_colorp plte = NULL;
    int n = 0;
    if (png_get_PLTE(p->png, p->info, &plte, &n) == PNG_INFO_PLTE && plte != NULL) {
      int i;
      if (n > 256) n = 256;
      for (i = 0; i < n; ++i) {
        info->palette[3 * i + 0] = plte[i].red;
        info->palette[3 * i + 1] = plte[i].green;
        info->palette[3 * i + 2] = plte[i].blue;
      }
      info->palette_size = n;
    }
  }
  /* Samples as stored: no gamma, no tRNS expansion (PIL applies neither). 16-bit colour and
     grey + alpha keep only their high byte, as PIL does, so an interlaced image's raw buffer is
     at most 4 bytes per pixel; 16-bit grey stays 16-bit (PIL clips it to 255 instead). */
  info->sample_bytes = 1;
  if (depth == 16 && color == PNG_COLOR_TYPE_GRAY)
    info->sample_bytes = 2;
  else if (depth == 16)
    png_set_strip_16(p->png);
  if (depth < 8) png_set_packing(p->png);
  if (info->interlaced) png_set_interlace_handling(p->png);
  *out = p;
  return gpsa_codec_ok;
}

static void start(struct gpsa_png* p) {
  if (!p->started) {
    png_read_update_info(p->png, p->info);
    p->started = 1;
  }
}

int gpsa_png_read_rows(gpsa_png* p, uint8_t** rows, uint32_t count,
                       char message[GPSA_CODEC_MESSAGE]) {
  if (setjmp(p->jump)) return failure(p, message);
  start(p);
  png_read_rows(p->png, rows, NULL, count);
  return gpsa_codec_ok;
}

int gpsa_png_read_image(gpsa_png* p, uint8_t** rows, char message[GPSA_CODEC_MESSAGE]) {
  if (setjmp(p->jump)) return failure(p, message);
  start(p);
  png_read_image(p->png, rows);
  return gpsa_codec_ok;
}

void gpsa_png_close(gpsa_png* p) {
  if (p == NULL) return;
  if (p->png != NULL) png_destroy_read_struct(&p->png, p->info != NULL ? &p->info : NULL, NULL);
  free(p);
}
