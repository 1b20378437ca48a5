/* SPDX-License-Identifier: MIT */
/* What the C99 tests of the C API share: the CHECK macro with its failure count, and a reader
 * for little-endian C-order .npy files (the golden data). One copy per test program. */
#ifndef GPSA_C_TEST_UTIL_H
#define GPSA_C_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__)
#define C_TEST_UNUSED __attribute__((unused))
#else
#define C_TEST_UNUSED
#endif

static int failures = 0;

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                              \
    }                                                                          \
  } while (0)

/* Reads a version-1, little-endian, C-order .npy of dtype `descr` ("<f4", "<i8", ...) whose
 * elements are `size` bytes; returns its data (malloc'd) and element count, or NULL after a
 * message naming the file. */
C_TEST_UNUSED static void* read_npy(const char* path, const char* descr, size_t size,
                                    size_t* count) {
  char hdr[1024], want[64];
  unsigned char pre[10];
  size_t hlen, n = 1, got;
  const char* shape;
  void* data;
  FILE* f = fopen(path, "rb");
  if (f == NULL) {
    fprintf(stderr, "%s: cannot open\n", path);
    return NULL;
  }
  if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6) != 0 || pre[6] != 1) {
    fprintf(stderr, "%s: not a version-1 .npy file\n", path);
    fclose(f);
    return NULL;
  }
  hlen = (size_t)pre[8] | (size_t)pre[9] << 8;
  if (hlen >= sizeof hdr || fread(hdr, 1, hlen, f) != hlen) {
    fprintf(stderr, "%s: bad header\n", path);
    fclose(f);
    return NULL;
  }
  hdr[hlen] = '\0';
  snprintf(want, sizeof want, "'descr': '%s'", descr);
  shape = strstr(hdr, "'shape': (");
  if (strstr(hdr, want) == NULL || strstr(hdr, "'fortran_order': False") == NULL || shape == NULL) {
    fprintf(stderr, "%s: expected C-order %s, header %s\n", path, descr, hdr);
    fclose(f);
    return NULL;
  }
  for (shape += strlen("'shape': ("); *shape != ')';) {
    char* end;
    const unsigned long d = strtoul(shape, &end, 10);
    if (end == shape) break;
    n *= d;
    shape = end;
    while (*shape == ',' || *shape == ' ') ++shape;
  }
  data = malloc(n * size);
  got = data != NULL ? fread(data, size, n, f) : 0;
  fclose(f);
  if (got != n) {
    fprintf(stderr, "%s: %lu of %lu elements\n", path, (unsigned long)got, (unsigned long)n);
    free(data);
    return NULL;
  }
  *count = n;
  return data;
}

/* read_npy of a float32 array. */
C_TEST_UNUSED static float* read_npy_f32(const char* path, size_t* count) {
  return (float*)read_npy(path, "<f4", sizeof(float), count);
}

#endif /* GPSA_C_TEST_UTIL_H */
