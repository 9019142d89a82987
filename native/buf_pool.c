/*
 * Pool of page-aligned 1 MiB blocks for WRITE request data.
 *
 * Each WRITE's data is copied out of libfuse's buffer into memory that JS then owns as an
 * external Buffer. An allocation of 1 MiB is an mmap and the matching free an munmap, so every
 * request paid 256 page faults and the zeroing of 256 fresh pages (perf: ~6% of all CPU of a
 * sequential write through a mount). Blocks of requests from 64 KiB up are taken from, and given
 * back to, a free list of at most POOL_MAX blocks instead; smaller requests and a full list use
 * plain malloc / free. (Write data was page-aligned while staging files were written O_DIRECT;
 * nothing needs that any more.)
 *
 * Locking: one mutex around the list; buf_pool_alloc runs on FUSE worker threads (or the JS
 * thread's fast path), buf_pool_free on the JS thread (Buffer finalizers) or a worker (a request
 * dropped before dispatch). Mechanism only; the blocks are never touched here beyond the list.
 */
#include "buf_pool.h"

#include <pthread.h>
#include <stdlib.h>

#define BLOCK_SIZE ((size_t)1 << 20) /* max_write is at most 1 MiB (libfuse's buffer) */
#define POOL_MIN ((size_t)64 << 10)
#define POOL_MAX 32

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static void *free_list[POOL_MAX];
static int n_free;

void *buf_pool_alloc(size_t size, int *pooled) {
  void *p = NULL;
  *pooled = size >= POOL_MIN && size <= BLOCK_SIZE;
  if (*pooled) {
    pthread_mutex_lock(&mu);
    if (n_free > 0) p = free_list[--n_free];
    pthread_mutex_unlock(&mu);
    if (p) return p;
    size = BLOCK_SIZE;
  }
  return malloc(size ? size : 1);
}

void buf_pool_free(void *p, int pooled) {
  if (!p) return;
  if (pooled) {
    pthread_mutex_lock(&mu);
    if (n_free < POOL_MAX) {
      free_list[n_free++] = p;
      p = NULL;
    }
    pthread_mutex_unlock(&mu);
  }
  free(p);
}
