/* SPDX-License-Identifier: MIT */
/* Test shim, loaded with LD_PRELOAD: any thread creation ends the process with status 86 and a
 * message on stderr, so a run that succeeds under it started no thread (OpenBLAS, OpenMP and
 * std::thread all go through pthread_create). */
#include <pthread.h>
#include <unistd.h>

int pthread_create(pthread_t* thread, const pthread_attr_t* attr, void* (*start)(void*),
                   void* arg) {
  static const char msg[] = "no-threads shim: pthread_create called\n";
  (void)thread;
  (void)attr;
  (void)start;
  (void)arg;
  if (write(2, msg, sizeof msg - 1) < 0) _exit(87);
  _exit(86);
}
