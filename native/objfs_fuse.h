/*
 * objfs native FUSE binding: shared declarations.
 *
 * The addon is mechanism only (see src/fuse/native-api.ts, the contract). Three files:
 *   - ll_ops.c: libfuse3 low-level callbacks. They run on libfuse worker threads (and, on the fast
 *     path, on the JS thread inside fuse_session_process_buf), copy the
 *     request into a job, take a request slot (the id), and queue the job. They never wait on JS.
 *   - objfs_fuse.c: N-API side. mount(), the uv_async drain that calls dispatch() on the JS
 *     thread, unmount and session teardown.
 *   - replies.c: the reply functions and notifications (libuv threadpool) of the session object.
 *
 * Lock and ownership rules (one mutex per session, sess_t.mu):
 *   - mu protects: the job queue and job free list, the slot table (slots, free list, npending),
 *     awake, closing, loop_done/loop_result, ended, async_closed, js_active/fast_active/parked
 *     (park_cv waits on mu). q_head and loop_done are also read without mu by the spin (atomics).
 *   - mu is never held while calling into libfuse (fuse_reply_*, fuse_req_interrupt_func) or JS.
 *     libfuse calls our interrupt callback with the request's own lock held, so the lock order is
 *     req->lock -> mu; holding mu while taking a libfuse lock would invert it.
 *   - A slot goes RESERVED (worker thread, before fuse_req_interrupt_func) -> QUEUED (job pushed)
 *     -> DISPATCHED (JS thread, after dispatch() returned) -> FREE (claimed by the one reply, on the
 *     JS thread). Only a claim in state QUEUED/DISPATCHED may reply, so the worker thread's
 *     fuse_req_interrupt_func call can never race with a reply freeing the request.
 *   - Everything else in sess_t (napi handles, state, notify_inflight) is JS-thread only.
 */
#ifndef OBJFS_FUSE_H
#define OBJFS_FUSE_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#include <node_api.h>
#include <uv.h>
#include <pthread.h>
#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>

/* Op codes: must match Op in src/fuse/native-api.ts. */
enum {
  OP_INIT = 1, OP_DESTROY = 2, OP_LOOKUP = 3, OP_FORGET = 4, OP_FORGET_MULTI = 5, OP_GETATTR = 6,
  OP_SETATTR = 7, OP_READLINK = 8, OP_MKNOD = 9, OP_MKDIR = 10, OP_UNLINK = 11, OP_RMDIR = 12,
  OP_SYMLINK = 13, OP_RENAME = 14, OP_LINK = 15, OP_OPEN = 16, OP_READ = 17, OP_WRITE = 18,
  OP_FLUSH = 19, OP_RELEASE = 20, OP_FSYNC = 21, OP_OPENDIR = 22, OP_READDIR = 23,
  OP_RELEASEDIR = 24, OP_FSYNCDIR = 25, OP_STATFS = 26, OP_SETXATTR = 27, OP_GETXATTR = 28,
  OP_LISTXATTR = 29, OP_REMOVEXATTR = 30, OP_CREATE = 31, OP_READDIRPLUS = 32, OP_INTERRUPT = 33,
  OP_FALLOCATE = 34
};

#define ARGS_LEN 32 /* length of the args / out Float64Arrays */
#define JOB_NARGS 14 /* request arguments written into args[0..13] */
#define JOB_INLINE 240 /* names up to this size (both, with NULs) live inside the job */

/* Request ids: (generation << SLOT_BITS) | slot index; < 2^53 so exact in a double. */
#define SLOT_BITS 20
#define SLOT_MAX (1u << SLOT_BITS)
#define GEN_MAX ((UINT64_C(1) << (53 - SLOT_BITS)) - 1)
#define SLOT_NONE UINT32_MAX

enum { SLOT_FREE = 0, SLOT_RESERVED = 1, SLOT_QUEUED = 2, SLOT_DISPATCHED = 3 };

typedef struct job {
  struct job *next;
  int op;
  int nargs;     /* args[0..nargs-1] are written before dispatch */
  uint64_t id;   /* 0: no reply expected (INIT, FORGET, ...) */
  double a[JOB_NARGS];
  char *name;    /* NUL-terminated or NULL; inline or malloc'd */
  size_t name_len;
  char *name2;
  size_t name2_len;
  void *data;    /* malloc'd; ownership passes to the JS Buffer (external, freed by finalizer) */
  size_t data_len;
  int data_pooled; /* data came from buf_pool_alloc (give it back with buf_pool_free) */
  char inl[JOB_INLINE];
} job_t;

typedef struct slot {
  fuse_req_t req;
  uint64_t gen;
  uint32_t next_free;
  uint8_t state;
  uint8_t interrupted;
  uint8_t counted; /* included in npending (handed to JS) */
} slot_t;

typedef struct sess {
  pthread_mutex_t mu;
  /* --- protected by mu --- */
  job_t *q_head, *q_tail;
  job_t *free_jobs;
  unsigned n_free_jobs;
  int awake;        /* a uv_async wakeup is pending or the drain is running */
  int closing;      /* emergency close: workers answer EIO themselves, nothing is queued */
  int js_active;    /* the JS thread is draining and takes requests from the fd itself */
  int fast_active;  /* the fast path (uv_poll on the session fd) is on */
  int parked;       /* workers waiting on park_cv */
  pthread_cond_t park_cv;
  int loop_done;
  int loop_result;
  int ended;        /* teardown started: claims fail */
  int async_closed; /* uv_async handle closed or closing: never send */
  slot_t *slots;
  uint32_t nslots;
  uint32_t free_head, free_tail;
  uint32_t npending;
  /* --- set at mount, read-only afterwards --- */
  struct fuse_session *se;
  char *mountpoint;
  unsigned max_write, max_read, max_threads;
  int writeback, clone_fd;
  uint64_t spin_ns;
  int no_fast_path;
  int no_park;
  /* getxattr of a name not starting with this (when non-empty) is answered ENODATA here, with no
   * JS round trip: `ls -l` asks security.selinux of every file. Set by JS at mount (mechanism). */
  char xattr_only[32];
  size_t xattr_only_len;
  pthread_t js_thread;
  uv_async_t *async;
  uv_poll_t *poll;       /* fast path: JS thread reads the session fd (JS thread only) */
  struct fuse_buf jsbuf; /* its receive buffer */
  /* --- JS thread only --- */
  napi_env env;
  napi_ref dispatch_ref, args_ref, out_ref, resource_ref;
  napi_async_context actx;
  double *args, *out;
  pthread_t loop_thread;
  int loop_started;
  int unmount_requested;
  int notify_inflight;
  int teardown_deferred;
  int cleanup_hook;
  unsigned refs;
  unsigned long exc_count;
  int emergency_done; /* protected by mu */
  struct sess *gnext; /* global list of live sessions (atexit), under the global mutex */
} sess_t;

/* ll_ops.c */
extern const struct fuse_lowlevel_ops objfs_ll_ops;
job_t *job_get_locked(sess_t *s);
void job_free(sess_t *s, job_t *j, int locked);
void job_release_names(job_t *j);
void job_drop_data(job_t *j); /* frees the data the job still owns (pooled or not) */
void queue_push_locked(sess_t *s, job_t *j);
void wake_locked(sess_t *s);
void unpark_locked(sess_t *s);
int slot_alloc_locked(sess_t *s, fuse_req_t req, uint32_t *idx);
void slot_free_locked(sess_t *s, uint32_t idx);
slot_t *slot_lookup_locked(sess_t *s, uint64_t id);
int lazy_unmount(const char *mountpoint);

static inline uint64_t make_id(uint64_t gen, uint32_t idx) { return (gen << SLOT_BITS) | idx; }

#define REC_LEN 18 /* doubles per entry/attr record (REC_LEN in native-api.ts) */

static inline uint64_t du(double d) { return d > 0 && d < 1.8446744073709552e19 ? (uint64_t)d : 0; }
static inline int64_t di(double d) { return d > -9.2e18 && d < 9.2e18 ? (int64_t)d : 0; }

/* objfs_fuse.c (JS thread) */
fuse_req_t claim(sess_t *s, uint64_t id);
void sess_unref(sess_t *s);
void session_finish(sess_t *s);
void stop_poll(sess_t *s);
napi_value throw_error(napi_env env, const char *fmt, ...);

/* replies.c: methods of the session object (cb data = sess_t *) */
napi_value js_replyErr(napi_env env, napi_callback_info info);
napi_value js_replyEntry(napi_env env, napi_callback_info info);
napi_value js_replyAttr(napi_env env, napi_callback_info info);
napi_value js_replyOpen(napi_env env, napi_callback_info info);
napi_value js_replyCreate(napi_env env, napi_callback_info info);
napi_value js_replyBuf(napi_env env, napi_callback_info info);
napi_value js_replyWrite(napi_env env, napi_callback_info info);
napi_value js_replyReadlink(napi_env env, napi_callback_info info);
napi_value js_replyStatfs(napi_env env, napi_callback_info info);
napi_value js_replyXattrSize(napi_env env, napi_callback_info info);
napi_value js_replyDir(napi_env env, napi_callback_info info);
napi_value js_pending(napi_env env, napi_callback_info info);
napi_value js_notifyInvalInode(napi_env env, napi_callback_info info);
napi_value js_notifyInvalEntry(napi_env env, napi_callback_info info);
napi_value js_notifyDelete(napi_env env, napi_callback_info info);

#define PROLOGUE(N)                                                          \
  size_t argc = (N);                                                         \
  napi_value argv[(N) > 0 ? (N) : 1];                                        \
  void *cbdata;                                                              \
  sess_t *s;                                                                 \
  if (napi_get_cb_info(env, info, &argc, argv, NULL, &cbdata) != napi_ok) return NULL; \
  s = cbdata

static inline napi_value js_bool(napi_env env, bool b) {
  napi_value v;
  napi_get_boolean(env, b, &v);
  return v;
}

#endif
