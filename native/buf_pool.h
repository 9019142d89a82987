/*
 * Pool of page-aligned 1 MiB blocks for WRITE request data (see buf_pool.c).
 */
#ifndef OBJFS_BUF_POOL_H
#define OBJFS_BUF_POOL_H
#include <stddef.h>

/* Memory for `size` bytes; *pooled says whether buf_pool_free must get it back. */
void *buf_pool_alloc(size_t size, int *pooled);
/* Give back what buf_pool_alloc returned (any thread). */
void buf_pool_free(void *p, int pooled);

#endif
