/* SPDX-License-Identifier: MIT */
/* libjpeg(-turbo) behind the C interface of codec.h: the whole file is in memory (jpeg_mem_src),
   fatal errors longjmp back to the running entry point, and so does the one warning that means
   the data ran out (libjpeg would otherwise pad the image with grey); other corrupt-data warnings
   are ignored, as PIL ignores them. */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* jpeglib.h needs size_t and FILE declared first, jerror.h needs jpeglib.h. */
#include <jpeglib.h>

#include <jerror.h>

#include "codec.h"

struct gpsa_jpeg {
  struct jpeg_decompress_struct cinfo;
  struct jpeg_error_mgr err;
  struct jpeg_progress_mgr progress;
  size_t size;
  long max_memory;
  int max_scans;
  int created;        /* jpeg_create_decompress done */
  int truncated;      /* JWRN_JPEG_EOF */
  int too_many_scans; /* the progress monitor saw scan max_scans + 1 */
  jmp_buf jump;
  char error[JMSG_LENGTH_MAX];
};

static void on_error_exit(j_common_ptr cinfo) {
  struct gpsa_jpeg* j = (struct gpsa_jpeg*)cinfo->client_data;
  (*cinfo->err->format_message)(cinfo, j->error);
  longjmp(j->jump, 1);
}

static void on_emit(j_common_ptr cinfo, int level) {
  struct gpsa_jpeg* j = (struct gpsa_jpeg*)cinfo->client_data;
  if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) {
    j->truncated = 1;
    longjmp(j->jump, 1);
  }
  /* other warnings and trace messages: ignored */
}

static void on_output(j_common_ptr cinfo) { (void)cinfo; }

/* libjpeg calls this while it reads the scans (libjpeg.txt, "Progress monitoring"): the way
   libjpeg-turbo documents to bound the scans of a progressive file, each of which costs a pass
   over every coefficient of the image. */
static void on_progress(j_common_ptr cinfo) {
  struct gpsa_jpeg* j = (struct gpsa_jpeg*)cinfo->client_data;
  if (cinfo->is_decompressor && ((j_decompress_ptr)cinfo)->input_scan_number > j->max_scans) {
    j->too_many_scans = 1;
    longjmp(j->jump, 1);
  }
}

static int failure(struct gpsa_jpeg* j, char message[GPSA_CODEC_MESSAGE]) {
  if (j->truncated) {
    snprintf(message, GPSA_CODEC_MESSAGE, "the file ends after %zu bytes", j->size);
    return gpsa_codec_truncated;
  }
  if (j->too_many_scans) {
    snprintf(message, GPSA_CODEC_MESSAGE,
             "more than %d scans (a progressive JPEG has about 10; each scan is a pass over the "
             "whole image)",
             j->max_scans);
    return gpsa_codec_limit;
  }
  if (j->err.msg_code == JERR_BAD_PRECISION) {
    snprintf(message, GPSA_CODEC_MESSAGE, "%d-bit samples; gpsa reads 8-bit JPEGs (as PIL)",
             j->cinfo.data_precision);
    return gpsa_codec_unsupported;
  }
  if (j->err.msg_code == JERR_SOF_UNSUPPORTED || j->err.msg_code == JERR_ARITH_NOTIMPL) {
    snprintf(message, GPSA_CODEC_MESSAGE, "%s; gpsa reads baseline and progressive JPEGs",
             j->error);
    return gpsa_codec_unsupported;
  }
  if (j->err.msg_code == JERR_NO_BACKING_STORE || j->err.msg_code == JERR_OUT_OF_MEMORY) {
    snprintf(message, GPSA_CODEC_MESSAGE,
             "decoding needs more than the %ld MB libjpeg may use here (%s)", j->max_memory >> 20,
             j->error);
    return gpsa_codec_no_memory;
  }
  snprintf(message, GPSA_CODEC_MESSAGE, "%s", j->error);
  return gpsa_codec_corrupt;
}

int gpsa_jpeg_open(const uint8_t* data, size_t size, long max_memory, int max_scans,
                   gpsa_jpeg** out, gpsa_jpeg_info* info, char message[GPSA_CODEC_MESSAGE]) {
  struct gpsa_jpeg* j;
  *out = NULL;
  j = (struct gpsa_jpeg*)calloc(1, sizeof *j);
  if (j == NULL) {
    snprintf(message, GPSA_CODEC_MESSAGE, "out of memory");
    return gpsa_codec_no_memory;
  }
  j->size = size;
  j->max_memory = max_memory;
  j->max_scans = max_scans;
  j->cinfo.err = jpeg_std_error(&j->err);
  j->err.error_exit = on_error_exit;
  j->err.emit_message = on_emit;
  j->err.output_message = on_output;
  if (setjmp(j->jump)) {
    const int code = failure(j, message);
    gpsa_jpeg_close(j);
    return code;
  }
  jpeg_create_decompress(&j->cinfo);
  j->created = 1;
  j->cinfo.client_data = j;
  j->cinfo.mem->max_memory_to_use = max_memory;
  j->progress.progress_monitor = on_progress;
  j->cinfo.progress = &j->progress;
  jpeg_mem_src(&j->cinfo, data, (unsigned long)size);
  if (jpeg_read_header(&j->cinfo, TRUE) != JPEG_HEADER_OK) {
    snprintf(message, GPSA_CODEC_MESSAGE, "no image in the file (only tables)");
    gpsa_jpeg_close(j);
    return gpsa_codec_corrupt;
  }
  /* The colour spaces PIL's JPEG plugin asks for: L, RGB (from YCbCr or RGB), CMYK (from CMYK
     or YCCK). Full size, libjpeg's default (slow integer) IDCT and fancy upsampling, as PIL. */
  switch (j->cinfo.num_components) {
    case 1:
      j->cinfo.out_color_space = JCS_GRAYSCALE;
      break;
    case 3:
      j->cinfo.out_color_space = JCS_RGB;
      break;
    case 4:
      j->cinfo.out_color_space = JCS_CMYK;
      break;
    default:
      snprintf(message, GPSA_CODEC_MESSAGE,
               "%d colour components; gpsa reads 1 (grey), 3 (colour) or 4 (CMYK)",
               j->cinfo.num_components);
      gpsa_jpeg_close(j);
      return gpsa_codec_corrupt;
  }
  memset(info, 0, sizeof *info);
  info->width = j->cinfo.image_width;
  info->height = j->cinfo.image_height;
  info->components = j->cinfo.num_components;
  *out = j;
  return gpsa_codec_ok;
}

int gpsa_jpeg_start(gpsa_jpeg* j, char message[GPSA_CODEC_MESSAGE]) {
  if (setjmp(j->jump)) return failure(j, message);
  jpeg_start_decompress(&j->cinfo);
  if (j->cinfo.output_width != j->cinfo.image_width ||
      j->cinfo.output_height != j->cinfo.image_height ||
      j->cinfo.output_components != j->cinfo.num_components) {
    snprintf(message, GPSA_CODEC_MESSAGE, "libjpeg changed the output geometry");
    return gpsa_codec_corrupt;
  }
  return gpsa_codec_ok;
}

int gpsa_jpeg_read_row(gpsa_jpeg* j, uint8_t* row, char message[GPSA_CODEC_MESSAGE]) {
  JSAMPROW rows[1];
  rows[0] = row;
  if (setjmp(j->jump)) return failure(j, message);
  if (jpeg_read_scanlines(&j->cinfo, rows, 1) != 1) {
    snprintf(message, GPSA_CODEC_MESSAGE, "no scanline left to read");
    return gpsa_codec_corrupt;
  }
  return gpsa_codec_ok;
}

int gpsa_jpeg_finish(gpsa_jpeg* j, char message[GPSA_CODEC_MESSAGE]) {
  if (setjmp(j->jump)) return failure(j, message);
  jpeg_finish_decompress(&j->cinfo);
  return gpsa_codec_ok;
}

void gpsa_jpeg_close(gpsa_jpeg* j) {
  if (j == NULL) return;
  if (j->created) jpeg_destroy_decompress(&j->cinfo);
  free(j);
}
