/* SPDX-License-Identifier: MIT */
/* Test shim, loaded with LD_PRELOAD: every thread creation fails with EAGAIN, as it does when a
 * process is over its thread or memory limits, so the message gpsa gives then can be tested. */
#include <errno.h>
#include <pthread.h>

int pthread_create(pthread_t* thread, const pthread_attr_t* attr, void* (*start)(void*),
                   void* arg) {
  (void)thread;
  (void)attr;
  (void)start;
  (void)arg;
  return EAGAIN;
}
