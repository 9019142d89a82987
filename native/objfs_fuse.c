/*
 * objfs native FUSE binding, N-API side: mount(), the drain that hands queued jobs to JS, the reply
 * functions, notifications and the session's end. Implements NativeAddon / NativeSession of
 * src/fuse/native-api.ts. Mechanism only: no filesystem policy here.
 *
 * Life of a session:
 *   mount() -> fuse_session_new + fuse_session_mount -> loop thread runs fuse_session_loop_mt.
 *   Worker threads queue jobs (ll_ops.c) and wake the JS thread with uv_async_send, only when it
 *   is not already awake. on_async() drains the whole queue in passes, calling dispatch() once per
 *   job inside one handle scope per job and one callback scope per pass (so promise continuations
 *   and nextTicks run after each pass, as after any Node callback).
 *   unmount() starts a lazy unmount on a helper thread; the kernel then ends the connection, the
 *   workers see ENODEV and the loop returns. (The same happens after `fusermount3 -u` or `umount`
 *   from outside.) The loop thread then wakes the JS thread, which answers EIO to every request
 *   still pending, joins the thread, unmounts/destroys the libfuse session, closes the uv handle
 *   and dispatches DESTROY.
 *   If the environment or the process goes away while mounted (env cleanup hook, atexit), the
 *   session switches to "closing": workers answer EIO themselves and the mount is lazily detached.
 */
#include "objfs_fuse.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define DRAIN_LIMIT 4096 /* jobs per wakeup before yielding to the rest of the event loop */
#define REC_LEN 18
#define DEFAULT_SPIN_US 0

/* Live sessions, for the atexit hook (process.exit() or a crash-exit while mounted). */
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static sess_t *g_live;
static int g_atexit_installed;

/* libfuse's log function is process-wide; during mount() the JS thread captures the messages so
 * that the thrown Error can carry them, otherwise they go to stderr as libfuse would print them. */
static __thread int t_capture;
static __thread char t_cap[512];
static __thread size_t t_cap_len;

static void log_func(enum fuse_log_level level, const char *fmt, va_list ap) {
  (void)level;
  if (t_capture) {
    if (t_cap_len < sizeof t_cap - 1) {
      int n = vsnprintf(t_cap + t_cap_len, sizeof t_cap - t_cap_len, fmt, ap);
      if (n > 0) t_cap_len = t_cap_len + (size_t)n > sizeof t_cap - 1 ? sizeof t_cap - 1 : t_cap_len + (size_t)n;
    }
    return;
  }
  vfprintf(stderr, fmt, ap);
}

static void cap_begin(void) {
  t_capture = 1;
  t_cap_len = 0;
  t_cap[0] = 0;
}

/* One line: newlines become "; ", trailing ones dropped. */
static const char *cap_end(void) {
  size_t i;
  t_capture = 0;
  while (t_cap_len && (t_cap[t_cap_len - 1] == '\n' || t_cap[t_cap_len - 1] == ' ')) t_cap[--t_cap_len] = 0;
  for (i = 0; i < t_cap_len; i++)
    if (t_cap[i] == '\n') t_cap[i] = ' ';
  return t_cap;
}

static napi_value throw_error(napi_env env, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  napi_throw_error(env, NULL, msg);
  return NULL;
}

static inline uint64_t du(double d) { return d > 0 && d < 1.8446744073709552e19 ? (uint64_t)d : 0; }
static inline int64_t di(double d) { return d > -9.2e18 && d < 9.2e18 ? (int64_t)d : 0; }

/* ---------- session memory ---------- */

static void sess_free(sess_t *s) {
  job_t *j;
  while ((j = s->free_jobs)) {
    s->free_jobs = j->next;
    free(j);
  }
  free(s->slots);
  free(s->mountpoint);
  pthread_mutex_destroy(&s->mu);
  free(s);
}

static void sess_unref(sess_t *s) {
  if (--s->refs == 0) sess_free(s);
}

static void glist_remove(sess_t *s) {
  sess_t **p;
  pthread_mutex_lock(&g_mu);
  for (p = &g_live; *p; p = &(*p)->gnext) {
    if (*p == s) {
      *p = s->gnext;
      break;
    }
  }
  pthread_mutex_unlock(&g_mu);
}

static void on_async_closed(uv_handle_t *h) { free(h); }

static void close_async(sess_t *s) {
  int was;
  pthread_mutex_lock(&s->mu);
  was = s->async_closed;
  s->async_closed = 1;
  pthread_mutex_unlock(&s->mu);
  if (!was && s->async) uv_close((uv_handle_t *)s->async, on_async_closed);
  s->async = NULL;
}

static void release_js(sess_t *s) {
  napi_env env = s->env;
  if (s->dispatch_ref) napi_delete_reference(env, s->dispatch_ref);
  if (s->args_ref) napi_delete_reference(env, s->args_ref);
  if (s->out_ref) napi_delete_reference(env, s->out_ref);
  if (s->resource_ref) napi_delete_reference(env, s->resource_ref);
  if (s->actx) napi_async_destroy(env, s->actx);
  s->dispatch_ref = s->args_ref = s->out_ref = s->resource_ref = NULL;
  s->actx = NULL;
  s->args = s->out = NULL;
}

/* ---------- claiming a request id (JS thread) ---------- */

static fuse_req_t claim(sess_t *s, uint64_t id) {
  fuse_req_t req = NULL;
  if (!id) return NULL;
  pthread_mutex_lock(&s->mu);
  if (!s->ended) {
    slot_t *sl = slot_lookup_locked(s, id);
    if (sl && sl->state >= SLOT_QUEUED) {
      req = sl->req;
      if (sl->counted) s->npending--;
      slot_free_locked(s, (uint32_t)(id & (SLOT_MAX - 1)));
    }
  }
  pthread_mutex_unlock(&s->mu);
  return req;
}

static int id_live(sess_t *s, uint64_t id) {
  int live;
  pthread_mutex_lock(&s->mu);
  live = !s->ended && slot_lookup_locked(s, id) != NULL;
  pthread_mutex_unlock(&s->mu);
  return live;
}

/* ---------- dispatch (JS thread) ---------- */

static void free_data(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  free(data);
}

static void log_exception(napi_env env, sess_t *s, int op, napi_value exc) {
  char buf[2048];
  size_t len = 0;
  napi_value str = NULL;
  napi_valuetype t;
  buf[0] = 0;
  if (napi_typeof(env, exc, &t) == napi_ok && t == napi_object) {
    bool has = false;
    if (napi_has_named_property(env, exc, "stack", &has) == napi_ok && has)
      napi_get_named_property(env, exc, "stack", &str);
  }
  if (!str || napi_typeof(env, str, &t) != napi_ok || t != napi_string) {
    if (napi_coerce_to_string(env, exc, &str) != napi_ok) {
      bool pending;
      napi_value ignored;
      napi_is_exception_pending(env, &pending);
      if (pending) napi_get_and_clear_last_exception(env, &ignored);
      str = NULL;
    }
  }
  if (str) napi_get_value_string_utf8(env, str, buf, sizeof buf, &len);
  fprintf(stderr, "objfs: dispatch threw on op %d (answered EIO; later exceptions are only counted): %s\n",
          op, len ? buf : "(no message)");
  (void)s;
}

static void dispatch_job(sess_t *s, napi_env env, napi_value fn, napi_value undef, job_t *j) {
  napi_handle_scope hs;
  napi_value argv[5];
  napi_status st;
  int i;
  if (napi_open_handle_scope(env, &hs) != napi_ok) return;
  for (i = 0; i < j->nargs; i++) s->args[i] = j->a[i];
  napi_create_int32(env, j->op, &argv[0]);
  napi_create_double(env, (double)j->id, &argv[1]);
  argv[2] = argv[3] = argv[4] = undef;
  if (j->name) napi_create_string_utf8(env, j->name, j->name_len, &argv[2]);
  if (j->name2) napi_create_string_utf8(env, j->name2, j->name2_len, &argv[3]);
  if (j->data) {
    /* External buffer over our own malloc'd copy (never over libfuse memory). */
    if (napi_create_external_buffer(env, j->data_len, j->data, free_data, NULL, &argv[4]) == napi_ok)
      j->data = NULL;
    else
      napi_create_buffer_copy(env, j->data_len, j->data, NULL, &argv[4]);
  }
  st = napi_call_function(env, undef, fn, 5, argv, NULL);
  if (st != napi_ok) {
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) {
      napi_value exc;
      if (napi_get_and_clear_last_exception(env, &exc) == napi_ok && ++s->exc_count == 1)
        log_exception(env, s, j->op, exc);
    }
    if (j->id && j->op != OP_INTERRUPT) {
      fuse_req_t req = claim(s, j->id);
      if (req) fuse_reply_err(req, EIO);
    }
  }
  napi_close_handle_scope(env, hs);
}

static void session_finish(sess_t *s);
static void env_cleanup(void *arg);

/* The loop has ended: answer everything still pending, then finish (or wait for notifications). */
static void session_ended(sess_t *s) {
  job_t *q, *j;
  uint32_t i;
  if (s->loop_started) {
    pthread_join(s->loop_thread, NULL);
    s->loop_started = 0;
  }
  pthread_mutex_lock(&s->mu);
  s->ended = 1;
  q = s->q_head;
  s->q_head = s->q_tail = NULL;
  /* The workers are joined: no libfuse callback can run, so replying under mu is safe. */
  for (i = 0; i < s->nslots; i++) {
    slot_t *sl = &s->slots[i];
    if (sl->state != SLOT_FREE) {
      fuse_reply_err(sl->req, EIO);
      slot_free_locked(s, i);
    }
  }
  s->npending = 0;
  while ((j = q)) {
    q = j->next;
    job_free(s, j, 1);
  }
  pthread_mutex_unlock(&s->mu);
  if (s->notify_inflight > 0) {
    s->teardown_deferred = 1;
    return;
  }
  session_finish(s);
}

static void session_finish(sess_t *s) {
  napi_env env = s->env;
  napi_handle_scope hs;
  int r = s->loop_result;
  if (s->se) {
    /* The fd is still open here: libfuse polls it, sees the connection gone and skips umount. */
    fuse_session_unmount(s->se);
    fuse_session_destroy(s->se);
    s->se = NULL;
  }
  close_async(s);
  if (s->cleanup_hook) {
    napi_remove_env_cleanup_hook(env, env_cleanup, s);
    s->cleanup_hook = 0;
  }
  glist_remove(s);
  if (s->exc_count > 1) fprintf(stderr, "objfs: dispatch threw %lu times during the session\n", s->exc_count);
  if (napi_open_handle_scope(env, &hs) == napi_ok) {
    napi_value fn, undef, resource;
    napi_callback_scope cs;
    int have_cs;
    job_t j;
    memset(&j, 0, sizeof j);
    j.op = OP_DESTROY;
    j.a[4] = r <= 0 ? (double)r : -(double)EINTR;
    j.nargs = 5;
    napi_get_undefined(env, &undef);
    napi_get_reference_value(env, s->dispatch_ref, &fn);
    napi_get_reference_value(env, s->resource_ref, &resource);
    have_cs = napi_open_callback_scope(env, resource, s->actx, &cs) == napi_ok;
    dispatch_job(s, env, fn, undef, &j);
    if (have_cs) napi_close_callback_scope(env, cs);
    napi_close_handle_scope(env, hs);
  }
  release_js(s);
  sess_unref(s);
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Bounded busy-wait for the next job after the queue ran dry: a request that follows within
 * spin_ns is taken without the worker having to wake this thread (the eventfd write, epoll wakeup
 * and context switch cost more than the request itself). Stops at once when the libuv backend fd
 * has events, so other I/O of the event loop is not delayed. Returns 1 if a job is queued. */
static int spin_for_job(sess_t *s, uv_loop_t *loop) {
  uint64_t deadline = now_ns() + s->spin_ns;
  unsigned n = 0;
  struct pollfd pfd;
  pfd.fd = uv_backend_fd(loop);
  pfd.events = POLLIN;
  for (;;) {
    if (__atomic_load_n(&s->q_head, __ATOMIC_ACQUIRE) != NULL) return 1;
    if ((++n & 15) == 0) {
      if (now_ns() >= deadline) return 0;
      if (pfd.fd >= 0 && poll(&pfd, 1, 0) > 0) return 0;
    }
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }
}

static void on_async(uv_async_t *h) {
  sess_t *s = h->data;
  napi_env env = s->env;
  napi_handle_scope hs;
  napi_value fn, undef, resource;
  unsigned processed = 0;
  int ended = 0, more = 0;
  if (napi_open_handle_scope(env, &hs) != napi_ok) return;
  napi_get_undefined(env, &undef);
  napi_get_reference_value(env, s->dispatch_ref, &fn);
  napi_get_reference_value(env, s->resource_ref, &resource);
  for (;;) {
    job_t *list, *j, *next, *intr = NULL;
    napi_callback_scope cs;
    int have_cs;
    pthread_mutex_lock(&s->mu);
    list = s->q_head;
    s->q_head = s->q_tail = NULL;
    if (!list) {
      if (s->spin_ns && !s->loop_done && !s->closing) {
        pthread_mutex_unlock(&s->mu);
        if (spin_for_job(s, h->loop)) continue;
        pthread_mutex_lock(&s->mu);
        if (s->q_head) {
          pthread_mutex_unlock(&s->mu);
          continue;
        }
      }
      s->awake = 0;
      ended = s->loop_done;
      pthread_mutex_unlock(&s->mu);
      break;
    }
    for (j = list; j; j = j->next) {
      if (j->id && j->op != OP_INTERRUPT) {
        slot_t *sl = slot_lookup_locked(s, j->id);
        if (sl && !sl->counted) {
          sl->counted = 1;
          s->npending++;
        }
      }
    }
    pthread_mutex_unlock(&s->mu);

    have_cs = napi_open_callback_scope(env, resource, s->actx, &cs) == napi_ok;
    for (j = list; j; j = j->next) {
      if (j->op == OP_INTERRUPT && !id_live(s, j->id)) continue; /* already answered: ignore */
      dispatch_job(s, env, fn, undef, j);
      processed++;
    }
    /* QUEUED -> DISPATCHED; an interrupt that arrived before (or during) dispatch is sent now. */
    pthread_mutex_lock(&s->mu);
    for (j = list; j; j = next) {
      next = j->next;
      if (j->id && j->op != OP_INTERRUPT) {
        slot_t *sl = slot_lookup_locked(s, j->id);
        if (sl && sl->state == SLOT_QUEUED) {
          sl->state = SLOT_DISPATCHED;
          if (sl->interrupted) {
            job_release_names(j);
            free(j->data);
            j->data = NULL;
            j->op = OP_INTERRUPT;
            j->nargs = 0;
            j->next = intr;
            intr = j;
            continue;
          }
        }
      }
      job_free(s, j, 1);
    }
    pthread_mutex_unlock(&s->mu);
    for (j = intr; j; j = next) {
      next = j->next;
      if (id_live(s, j->id)) dispatch_job(s, env, fn, undef, j);
      job_free(s, j, 0);
    }
    if (have_cs) napi_close_callback_scope(env, cs);
    if (processed >= DRAIN_LIMIT) {
      more = 1; /* awake stays set: we wake ourselves after other events had their turn */
      break;
    }
  }
  napi_close_handle_scope(env, hs);
  if (more) uv_async_send(h);
  else if (ended) session_ended(s);
}

/* ---------- loop thread ---------- */

static void *loop_main(void *arg) {
  sess_t *s = arg;
  struct fuse_loop_config *cfg = fuse_loop_cfg_create();
  int r;
  if (!cfg) {
    r = -ENOMEM;
  } else {
    fuse_loop_cfg_set_clone_fd(cfg, (unsigned)s->clone_fd);
    fuse_loop_cfg_set_max_threads(cfg, s->max_threads);
    /* max_idle_threads stays at libfuse's default (-1: idle workers are kept, never re-created). */
    r = fuse_session_loop_mt(s->se, cfg);
    fuse_loop_cfg_destroy(cfg);
  }
  pthread_mutex_lock(&s->mu);
  s->loop_result = r;
  s->loop_done = 1;
  wake_locked(s);
  pthread_mutex_unlock(&s->mu);
  return NULL;
}

/* ---------- emergency close (env teardown, process exit) ---------- */

static void emergency_close(sess_t *s) {
  job_t *q, *j;
  uint32_t i;
  int r;
  pthread_mutex_lock(&s->mu);
  if (s->emergency_done || s->ended || s->loop_done) {
    pthread_mutex_unlock(&s->mu);
    return;
  }
  s->emergency_done = 1;
  s->closing = 1;
  q = s->q_head;
  s->q_head = s->q_tail = NULL;
  /* RESERVED slots belong to a worker still in req_submit: it sees `closing` and answers itself.
   * Replying under mu cannot deadlock: libfuse never holds its session lock while waiting for mu. */
  for (i = 0; i < s->nslots; i++) {
    slot_t *sl = &s->slots[i];
    if (sl->state == SLOT_QUEUED || sl->state == SLOT_DISPATCHED) {
      fuse_reply_err(sl->req, EIO);
      slot_free_locked(s, i);
    }
  }
  s->npending = 0;
  pthread_mutex_unlock(&s->mu);
  while ((j = q)) {
    q = j->next;
    job_free(s, j, 0);
  }
  /* Workers now answer EIO themselves, so the unmount's final flush cannot wait on JS. */
  r = lazy_unmount(s->mountpoint);
  if (r != 0 && r != -EINVAL)
    fprintf(stderr, "objfs: could not unmount %s at exit: %s\n", s->mountpoint, strerror(-r));
}

static void at_exit(void) {
  sess_t *s;
  pthread_mutex_lock(&g_mu);
  for (s = g_live; s; s = s->gnext) emergency_close(s);
  pthread_mutex_unlock(&g_mu);
}

static void env_cleanup(void *arg) {
  sess_t *s = arg;
  int joined = 0;
  s->cleanup_hook = 0;
  glist_remove(s);
  emergency_close(s);
  if (s->loop_started) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 2;
    if (pthread_timedjoin_np(s->loop_thread, NULL, &ts) == 0) {
      s->loop_started = 0;
      joined = 1;
    }
  }
  close_async(s);
  pthread_mutex_lock(&s->mu);
  s->ended = 1;
  pthread_mutex_unlock(&s->mu);
  if (joined && s->notify_inflight == 0) {
    fuse_session_unmount(s->se);
    fuse_session_destroy(s->se);
    s->se = NULL;
    release_js(s);
    sess_unref(s);
  }
  /* else: libfuse threads may still run; the session memory is left to the process exit. */
}

/* ---------- reply functions (JS thread) ---------- */

#define PROLOGUE(N)                                                          \
  size_t argc = (N);                                                         \
  napi_value argv[(N) > 0 ? (N) : 1];                                        \
  void *cbdata;                                                              \
  sess_t *s;                                                                 \
  if (napi_get_cb_info(env, info, &argc, argv, NULL, &cbdata) != napi_ok) return NULL; \
  s = cbdata

static napi_value js_bool(napi_env env, bool b) {
  napi_value v;
  napi_get_boolean(env, b, &v);
  return v;
}

static napi_value js_num(napi_env env, double d) {
  napi_value v;
  napi_create_double(env, d, &v);
  return v;
}

static int get_num(napi_env env, napi_value v, double *d, const char *what) {
  if (napi_get_value_double(env, v, d) != napi_ok) {
    char msg[128];
    snprintf(msg, sizeof msg, "objfs: %s must be a number", what);
    napi_throw_type_error(env, NULL, msg);
    return -1;
  }
  return 0;
}

/* A number that is not a valid id maps to 0 (unknown: the reply returns false). */
static int get_id(napi_env env, napi_value v, uint64_t *id) {
  double d;
  if (get_num(env, v, &d, "request id")) return -1;
  *id = d >= 1 && d <= 9007199254740991.0 && d == floor(d) ? (uint64_t)d : 0;
  return 0;
}

static void rec_to_stat(const double *r, struct stat *st) {
  memset(st, 0, sizeof *st);
  st->st_ino = du(r[0]);
  st->st_mode = (mode_t)du(r[4]);
  st->st_nlink = du(r[5]);
  st->st_uid = (uid_t)du(r[6]);
  st->st_gid = (gid_t)du(r[7]);
  st->st_rdev = du(r[8]);
  st->st_size = di(r[9]);
  st->st_blksize = di(r[10]);
  st->st_blocks = di(r[11]);
  st->st_atim.tv_sec = di(r[12]);
  st->st_atim.tv_nsec = di(r[13]);
  st->st_mtim.tv_sec = di(r[14]);
  st->st_mtim.tv_nsec = di(r[15]);
  st->st_ctim.tv_sec = di(r[16]);
  st->st_ctim.tv_nsec = di(r[17]);
}

static void rec_to_entry(const double *r, struct fuse_entry_param *e) {
  memset(e, 0, sizeof *e);
  e->ino = du(r[0]);
  e->generation = du(r[1]);
  e->entry_timeout = r[2] > 0 ? r[2] : 0;
  e->attr_timeout = r[3] > 0 ? r[3] : 0;
  rec_to_stat(r, &e->attr);
}

static void open_flags(struct fuse_file_info *fi, double fh, double flags) {
  unsigned f = (unsigned)du(flags);
  memset(fi, 0, sizeof *fi);
  fi->fh = du(fh);
  fi->direct_io = (f & 1) != 0;
  fi->keep_cache = (f & 2) != 0;
  fi->nonseekable = (f & 4) != 0;
  fi->cache_readdir = (f & 8) != 0;
}

static napi_value js_replyErr(napi_env env, napi_callback_info info) {
  PROLOGUE(2);
  uint64_t id;
  double e;
  fuse_req_t req;
  if (get_id(env, argv[0], &id) || get_num(env, argv[1], &e, "errno")) return NULL;
  if (!(e >= 0 && e < 4096 && e == floor(e))) {
    napi_throw_range_error(env, NULL, "objfs: errno must be an integer in 0..4095");
    return NULL;
  }
  if (!(req = claim(s, id))) return js_bool(env, false);
  fuse_reply_err(req, (int)e);
  return js_bool(env, true);
}

static napi_value js_replyEntry(napi_env env, napi_callback_info info) {
  PROLOGUE(1);
  uint64_t id;
  fuse_req_t req;
  struct fuse_entry_param e;
  if (get_id(env, argv[0], &id)) return NULL;
  if (!(req = claim(s, id))) return js_bool(env, false);
  rec_to_entry(s->out, &e);
  fuse_reply_entry(req, &e);
  return js_bool(env, true);
}

static napi_value js_replyAttr(napi_env env, napi_callback_info info) {
  PROLOGUE(1);
  uint64_t id;
  fuse_req_t req;
  struct stat st;
  if (get_id(env, argv[0], &id)) return NULL;
  if (!(req = claim(s, id))) return js_bool(env, false);
  rec_to_stat(s->out, &st);
  fuse_reply_attr(req, &st, s->out[3] > 0 ? s->out[3] : 0);
  return js_bool(env, true);
}

static napi_value js_replyOpen(napi_env env, napi_callback_info info) {
  PROLOGUE(3);
  uint64_t id;
  double fh, flags;
  fuse_req_t req;
  struct fuse_file_info fi;
  if (get_id(env, argv[0], &id) || get_num(env, argv[1], &fh, "fh") || get_num(env, argv[2], &flags, "openFlags"))
    return NULL;
  if (!(req = claim(s, id))) return js_bool(env, false);
  open_flags(&fi, fh, flags);
  fuse_reply_open(req, &fi);
  return js_bool(env, true);
}

static napi_value js_replyCreate(napi_env env, napi_callback_info info) {
  PROLOGUE(3);
  uint64_t id;
  double fh, flags;
  fuse_req_t req;
  struct fuse_file_info fi;
  struct fuse_entry_param e;
  if (get_id(env, argv[0], &id) || get_num(env, argv[1], &fh, "fh") || get_num(env, argv[2], &flags, "openFlags"))
    return NULL;
  if (!(req = claim(s, id))) return js_bool(env, false);
  open_flags(&fi, fh, flags);
  rec_to_entry(s->out, &e);
  fuse_reply_create(req, &e, &fi);
  return js_bool(env, true);
}

static napi_value js_replyBuf(napi_env env, napi_callback_info info) {
  PROLOGUE(4);
  uint64_t id;
  void *data;
  size_t len;
  double off = 0, n;
  napi_valuetype t;
  fuse_req_t req;
  if (get_id(env, argv[0], &id)) return NULL;
  if (napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "objfs: replyBuf expects a Buffer");
    return NULL;
  }
  if (argc > 2 && napi_typeof(env, argv[2], &t) == napi_ok && t != napi_undefined && get_num(env, argv[2], &off, "offset"))
    return NULL;
  n = (double)len - off;
  if (argc > 3 && napi_typeof(env, argv[3], &t) == napi_ok && t != napi_undefined && get_num(env, argv[3], &n, "length"))
    return NULL;
  if (!(off >= 0 && n >= 0 && off + n <= (double)len && off == floor(off) && n == floor(n))) {
    napi_throw_range_error(env, NULL, "objfs: replyBuf range is outside the buffer");
    return NULL;
  }
  if (!(req = claim(s, id))) return js_bool(env, false);
  /* fuse_reply_buf writes synchronously: the Buffer's memory is used directly, no copy. */
  fuse_reply_buf(req, (const char *)data + (size_t)off, (size_t)n);
  return js_bool(env, true);
}

static napi_value js_replyWrite(napi_env env, napi_callback_info info) {
  PROLOGUE(2);
  uint64_t id;
  double n;
  fuse_req_t req;
  if (get_id(env, argv[0], &id) || get_num(env, argv[1], &n, "count")) return NULL;
  if (!(req = claim(s, id))) return js_bool(env, false);
  fuse_reply_write(req, (size_t)du(n));
  return js_bool(env, true);
}

static napi_value js_replyReadlink(napi_env env, napi_callback_info info) {
  PROLOGUE(2);
  uint64_t id;
  size_t len;
  char stackbuf[1024], *buf = stackbuf;
  fuse_req_t req;
  if (get_id(env, argv[0], &id)) return NULL;
  if (napi_get_value_string_utf8(env, argv[1], NULL, 0, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "objfs: readlink target must be a string");
    return NULL;
  }
  if (len + 1 > sizeof stackbuf && !(buf = malloc(len + 1))) return throw_error(env, "objfs: out of memory");
  napi_get_value_string_utf8(env, argv[1], buf, len + 1, &len);
  req = claim(s, id);
  if (req) fuse_reply_readlink(req, buf);
  if (buf != stackbuf) free(buf);
  return js_bool(env, req != NULL);
}

static napi_value js_replyStatfs(napi_env env, napi_callback_info info) {
  PROLOGUE(1);
  uint64_t id;
  fuse_req_t req;
  struct statvfs sv;
  const double *o;
  if (get_id(env, argv[0], &id)) return NULL;
  if (!(req = claim(s, id))) return js_bool(env, false);
  o = s->out;
  memset(&sv, 0, sizeof sv);
  sv.f_bsize = du(o[0]);
  sv.f_frsize = du(o[1]);
  sv.f_blocks = du(o[2]);
  sv.f_bfree = du(o[3]);
  sv.f_bavail = du(o[4]);
  sv.f_files = du(o[5]);
  sv.f_ffree = du(o[6]);
  sv.f_favail = du(o[7]);
  sv.f_namemax = du(o[8]);
  fuse_reply_statfs(req, &sv);
  return js_bool(env, true);
}

static napi_value js_replyXattrSize(napi_env env, napi_callback_info info) {
  PROLOGUE(2);
  uint64_t id;
  double n;
  fuse_req_t req;
  if (get_id(env, argv[0], &id) || get_num(env, argv[1], &n, "size")) return NULL;
  if (!(req = claim(s, id))) return js_bool(env, false);
  fuse_reply_xattr(req, (size_t)du(n));
  return js_bool(env, true);
}

static napi_value js_replyDir(napi_env env, napi_callback_info info) {
  PROLOGUE(6);
  uint64_t id;
  double dsize, dfirst;
  bool is_array = false, plus = false, is_ta = false;
  uint32_t nnames, n, i, count = 0;
  napi_typedarray_type tt;
  size_t rlen, size, used = 0;
  void *rdata;
  const double *rec;
  char *buf, name[1028];
  fuse_req_t req;
  if (get_id(env, argv[0], &id) || get_num(env, argv[1], &dsize, "size") || get_num(env, argv[2], &dfirst, "firstOffset"))
    return NULL;
  if (napi_is_array(env, argv[3], &is_array) != napi_ok || !is_array) {
    napi_throw_type_error(env, NULL, "objfs: replyDir names must be an array");
    return NULL;
  }
  napi_get_array_length(env, argv[3], &nnames);
  if (napi_is_typedarray(env, argv[4], &is_ta) != napi_ok || !is_ta ||
      napi_get_typedarray_info(env, argv[4], &tt, &rlen, &rdata, NULL, NULL) != napi_ok || tt != napi_float64_array) {
    napi_throw_type_error(env, NULL, "objfs: replyDir records must be a Float64Array");
    return NULL;
  }
  napi_get_value_bool(env, argv[5], &plus);
  rec = rdata;
  n = nnames;
  if (rlen / REC_LEN < n) n = (uint32_t)(rlen / REC_LEN);
  size = dsize > 0 ? (size_t)(dsize < 16777216 ? dsize : 16777216) : 0;
  if (!(buf = malloc(size ? size : 1))) return throw_error(env, "objfs: out of memory");
  /* Build the page first (fuse_add_direntry* do not use the request), then claim and reply. */
  for (i = 0; i < n; i++) {
    napi_value nv;
    size_t nl, need;
    const double *r = rec + (size_t)i * REC_LEN;
    off_t off = (off_t)di(dfirst + i + 1);
    if (napi_get_element(env, argv[3], i, &nv) != napi_ok ||
        napi_get_value_string_utf8(env, nv, name, sizeof name, &nl) != napi_ok) {
      free(buf);
      napi_throw_type_error(env, NULL, "objfs: replyDir names must be strings");
      return NULL;
    }
    if (nl >= sizeof name - 1) {
      free(buf);
      napi_throw_range_error(env, NULL, "objfs: replyDir name longer than 1024 bytes");
      return NULL;
    }
    if (plus) {
      struct fuse_entry_param e;
      rec_to_entry(r, &e);
      need = fuse_add_direntry_plus(NULL, buf + used, size - used, name, &e, off);
    } else {
      struct stat st;
      memset(&st, 0, sizeof st);
      st.st_ino = du(r[0]);
      st.st_mode = (mode_t)du(r[4]);
      need = fuse_add_direntry(NULL, buf + used, size - used, name, &st, off);
    }
    if (need > size - used) break;
    used += need;
    count++;
  }
  req = claim(s, id);
  if (req) fuse_reply_buf(req, buf, used);
  free(buf);
  return js_num(env, req ? (double)count : -1);
}

static napi_value js_pending(napi_env env, napi_callback_info info) {
  PROLOGUE(0);
  uint32_t n;
  (void)argv;
  pthread_mutex_lock(&s->mu);
  n = s->ended ? 0 : s->npending;
  pthread_mutex_unlock(&s->mu);
  return js_num(env, n);
}

static void *unmount_thread(void *arg) {
  char *mp = arg;
  int r = lazy_unmount(mp);
  if (r != 0 && r != -EINVAL) fprintf(stderr, "objfs: could not unmount %s: %s\n", mp, strerror(-r));
  free(mp);
  return NULL;
}

static napi_value js_unmount(napi_env env, napi_callback_info info) {
  PROLOGUE(0);
  napi_value undef;
  (void)argv;
  napi_get_undefined(env, &undef);
  if (s->ended || s->unmount_requested || s->loop_done) return undef;
  s->unmount_requested = 1;
  {
    /* Off the JS thread: the kernel flushes dirty pages through us while it unmounts. */
    pthread_t t;
    pthread_attr_t attr;
    sigset_t all, old;
    char *mp = strdup(s->mountpoint);
    if (!mp) return throw_error(env, "objfs: out of memory");
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    if (pthread_create(&t, &attr, unmount_thread, mp) != 0) {
      free(mp);
      s->unmount_requested = 0;
      pthread_sigmask(SIG_SETMASK, &old, NULL);
      pthread_attr_destroy(&attr);
      return throw_error(env, "objfs: cannot start the unmount thread");
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
  }
  return undef;
}

/* ---------- notifications (libuv threadpool) ---------- */

enum { N_INVAL_INODE, N_INVAL_ENTRY, N_DELETE };

typedef struct notify {
  sess_t *s;
  int kind;
  uint64_t a, b;
  int64_t off, len;
  char *name;
  size_t namelen;
  int result;
  napi_deferred d;
  napi_async_work w;
} notify_t;

static void notify_exec(napi_env env, void *data) {
  notify_t *n = data;
  struct fuse_session *se = n->s->se;
  (void)env;
  switch (n->kind) {
    case N_INVAL_INODE: n->result = fuse_lowlevel_notify_inval_inode(se, n->a, n->off, n->len); break;
    case N_INVAL_ENTRY: n->result = fuse_lowlevel_notify_inval_entry(se, n->a, n->name, n->namelen); break;
    default: n->result = fuse_lowlevel_notify_delete(se, n->a, n->b, n->name, n->namelen); break;
  }
}

static void notify_done(napi_env env, napi_status status, void *data) {
  notify_t *n = data;
  sess_t *s = n->s;
  napi_value v;
  if (status == napi_cancelled) n->result = -ECANCELED;
  napi_create_int32(env, n->result, &v);
  napi_resolve_deferred(env, n->d, v);
  napi_delete_async_work(env, n->w);
  free(n->name);
  free(n);
  if (--s->notify_inflight == 0 && s->teardown_deferred) {
    s->teardown_deferred = 0;
    session_finish(s);
  }
  sess_unref(s);
}

static napi_value notify_start(napi_env env, sess_t *s, int kind, uint64_t a, uint64_t b, int64_t off,
                               int64_t len, napi_value name) {
  napi_value promise, rname, v;
  notify_t *n = calloc(1, sizeof *n);
  if (!n) return throw_error(env, "objfs: out of memory");
  n->s = s;
  n->kind = kind;
  n->a = a;
  n->b = b;
  n->off = off;
  n->len = len;
  if (name) {
    size_t l;
    if (napi_get_value_string_utf8(env, name, NULL, 0, &l) != napi_ok) {
      free(n);
      napi_throw_type_error(env, NULL, "objfs: name must be a string");
      return NULL;
    }
    if (!(n->name = malloc(l + 1))) {
      free(n);
      return throw_error(env, "objfs: out of memory");
    }
    napi_get_value_string_utf8(env, name, n->name, l + 1, &n->namelen);
  }
  if (napi_create_promise(env, &n->d, &promise) != napi_ok) {
    free(n->name);
    free(n);
    return NULL;
  }
  if (s->ended || s->loop_done || !s->se) {
    napi_create_int32(env, -ENOTCONN, &v);
    napi_resolve_deferred(env, n->d, v);
    free(n->name);
    free(n);
    return promise;
  }
  napi_create_string_utf8(env, "objfs:notify", NAPI_AUTO_LENGTH, &rname);
  if (napi_create_async_work(env, NULL, rname, notify_exec, notify_done, n, &n->w) != napi_ok ||
      napi_queue_async_work(env, n->w) != napi_ok) {
    napi_create_int32(env, -ENOMEM, &v);
    napi_resolve_deferred(env, n->d, v);
    free(n->name);
    free(n);
    return promise;
  }
  s->notify_inflight++;
  s->refs++;
  return promise;
}

static napi_value js_notifyInvalInode(napi_env env, napi_callback_info info) {
  PROLOGUE(3);
  double ino, off, len;
  if (get_num(env, argv[0], &ino, "ino") || get_num(env, argv[1], &off, "off") || get_num(env, argv[2], &len, "len"))
    return NULL;
  return notify_start(env, s, N_INVAL_INODE, du(ino), 0, di(off), di(len), NULL);
}

static napi_value js_notifyInvalEntry(napi_env env, napi_callback_info info) {
  PROLOGUE(2);
  double parent;
  if (get_num(env, argv[0], &parent, "parent")) return NULL;
  return notify_start(env, s, N_INVAL_ENTRY, du(parent), 0, 0, 0, argv[1]);
}

static napi_value js_notifyDelete(napi_env env, napi_callback_info info) {
  PROLOGUE(3);
  double parent, child;
  if (get_num(env, argv[0], &parent, "parent") || get_num(env, argv[1], &child, "child")) return NULL;
  return notify_start(env, s, N_DELETE, du(parent), du(child), 0, 0, argv[2]);
}

/* ---------- mount ---------- */

static void fn_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  sess_unref(data);
}

static int opt_value(napi_env env, napi_value obj, const char *key, napi_value *v) {
  napi_valuetype t;
  if (napi_get_named_property(env, obj, key, v) != napi_ok) return 0;
  if (napi_typeof(env, *v, &t) != napi_ok || t == napi_undefined || t == napi_null) return 0;
  return 1;
}

static int opt_str(napi_env env, napi_value obj, const char *key, char **out) {
  napi_value v;
  size_t l;
  *out = NULL;
  if (!opt_value(env, obj, key, &v) || napi_get_value_string_utf8(env, v, NULL, 0, &l) != napi_ok) {
    throw_error(env, "objfs: mount option '%s' must be a string", key);
    return -1;
  }
  if (!(*out = malloc(l + 1))) {
    throw_error(env, "objfs: out of memory");
    return -1;
  }
  napi_get_value_string_utf8(env, v, *out, l + 1, &l);
  return 0;
}

static int opt_bool(napi_env env, napi_value obj, const char *key) {
  napi_value v;
  bool b = false;
  if (opt_value(env, obj, key, &v)) napi_get_value_bool(env, v, &b);
  return b;
}

static unsigned opt_uint(napi_env env, napi_value obj, const char *key, unsigned def, unsigned lo, unsigned hi) {
  napi_value v;
  double d;
  if (!opt_value(env, obj, key, &v) || napi_get_value_double(env, v, &d) != napi_ok || !(d >= 1)) return def;
  if (d < lo) return lo;
  if (d > hi) return hi;
  return (unsigned)d;
}

static int get_f64(napi_env env, napi_value v, double **ptr, napi_ref *ref, const char *what) {
  bool is_ta = false;
  napi_typedarray_type tt;
  size_t len;
  void *data;
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta ||
      napi_get_typedarray_info(env, v, &tt, &len, &data, NULL, NULL) != napi_ok || tt != napi_float64_array ||
      len < ARGS_LEN) {
    throw_error(env, "objfs: mount() %s must be a Float64Array of length >= %d", what, ARGS_LEN);
    return -1;
  }
  *ptr = data;
  return napi_create_reference(env, v, 1, ref) == napi_ok ? 0 : -1;
}

/* fuse_opt splits -o values on commas: escape ',' and '\'. */
static void append_escaped(char *dst, size_t cap, const char *src) {
  size_t l = strlen(dst);
  for (; *src && l + 2 < cap; src++) {
    if (*src == ',' || *src == '\\') dst[l++] = '\\';
    dst[l++] = *src;
  }
  dst[l] = 0;
}

static const struct {
  const char *name;
  napi_callback cb;
} methods[] = {
  {"replyErr", js_replyErr},
  {"replyEntry", js_replyEntry},
  {"replyAttr", js_replyAttr},
  {"replyOpen", js_replyOpen},
  {"replyCreate", js_replyCreate},
  {"replyBuf", js_replyBuf},
  {"replyWrite", js_replyWrite},
  {"replyReadlink", js_replyReadlink},
  {"replyStatfs", js_replyStatfs},
  {"replyXattrSize", js_replyXattrSize},
  {"replyDir", js_replyDir},
  {"notifyInvalInode", js_notifyInvalInode},
  {"notifyInvalEntry", js_notifyInvalEntry},
  {"notifyDelete", js_notifyDelete},
  {"unmount", js_unmount},
  {"pending", js_pending},
};

static napi_value js_mount(napi_env env, napi_callback_info info) {
  size_t argc = 4, i;
  napi_value argv[4], obj, resource, rname;
  napi_valuetype t;
  char *mp = NULL, *fsname = NULL, *subtype = NULL, *real = NULL, opts[4096];
  struct fuse_args fa = FUSE_ARGS_INIT(0, NULL);
  struct stat st;
  uv_loop_t *loop;
  sess_t *s = NULL;
  sigset_t all, old;
  int debug, r;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 4 || napi_typeof(env, argv[0], &t) != napi_ok || t != napi_object)
    return throw_error(env, "objfs: mount(opts, dispatch, args, out) expects an options object");
  if (napi_typeof(env, argv[1], &t) != napi_ok || t != napi_function)
    return throw_error(env, "objfs: mount() dispatch must be a function");
  if (opt_str(env, argv[0], "mountpoint", &mp) || opt_str(env, argv[0], "fsname", &fsname) ||
      opt_str(env, argv[0], "subtype", &subtype))
    goto fail;

  if (stat(mp, &st) != 0) {
    int e = errno;
    if (e == ENOENT) throw_error(env, "objfs: cannot mount on %s: the mountpoint does not exist", mp);
    else if (e == ENOTCONN)
      throw_error(env, "objfs: cannot mount on %s: it is a stale FUSE mount (transport endpoint is not connected); clear it with: fusermount3 -uz %s", mp, mp);
    else throw_error(env, "objfs: cannot mount on %s: %s", mp, strerror(e));
    goto fail;
  }
  if (!S_ISDIR(st.st_mode)) {
    throw_error(env, "objfs: cannot mount on %s: not a directory", mp);
    goto fail;
  }
  if (!(real = realpath(mp, NULL))) {
    throw_error(env, "objfs: cannot mount on %s: %s", mp, strerror(errno));
    goto fail;
  }
  if (access("/dev/fuse", R_OK | W_OK) != 0) {
    throw_error(env, "objfs: cannot mount on %s: /dev/fuse is not usable (%s); is the fuse kernel module loaded?", mp, strerror(errno));
    goto fail;
  }

  if (!(s = calloc(1, sizeof *s))) {
    throw_error(env, "objfs: out of memory");
    goto fail;
  }
  pthread_mutex_init(&s->mu, NULL);
  s->refs = 1;
  s->env = env;
  s->free_head = s->free_tail = SLOT_NONE;
  s->mountpoint = real;
  real = NULL;
  s->max_write = opt_uint(env, argv[0], "maxWrite", 1u << 20, 4096, 1u << 20);
  s->max_read = opt_uint(env, argv[0], "maxRead", 1u << 20, 4096, 1u << 20);
  s->max_threads = opt_uint(env, argv[0], "maxThreads", 4, 1, 256);
  s->writeback = opt_bool(env, argv[0], "writebackCache");
  s->clone_fd = 1;
  {
    const char *sp = getenv("OBJFS_FUSE_SPIN_US"); /* tuning knob, not part of the contract */
    s->spin_ns = (sp && *sp ? strtoul(sp, NULL, 10) : DEFAULT_SPIN_US) * 1000u;
  }
  {
    const char *cfd = getenv("OBJFS_FUSE_CLONE_FD"); /* benchmarking knob, not part of the contract */
    if (cfd && (cfd[0] == '0' || cfd[0] == '1')) s->clone_fd = cfd[0] == '1';
  }
  debug = opt_bool(env, argv[0], "debug");
  if (get_f64(env, argv[2], &s->args, &s->args_ref, "args") || get_f64(env, argv[3], &s->out, &s->out_ref, "out"))
    goto fail;
  if (napi_create_reference(env, argv[1], 1, &s->dispatch_ref) != napi_ok) goto fail;
  if (napi_create_object(env, &resource) != napi_ok || napi_create_reference(env, resource, 1, &s->resource_ref) != napi_ok ||
      napi_create_string_utf8(env, "objfs:fuse", NAPI_AUTO_LENGTH, &rname) != napi_ok ||
      napi_async_init(env, resource, rname, &s->actx) != napi_ok)
    goto fail;

  /* The session object: one function per method, each holding a reference on s. */
  if (napi_create_object(env, &obj) != napi_ok) goto fail;
  for (i = 0; i < sizeof methods / sizeof methods[0]; i++) {
    napi_value fn;
    if (napi_create_function(env, methods[i].name, NAPI_AUTO_LENGTH, methods[i].cb, s, &fn) != napi_ok ||
        napi_add_finalizer(env, fn, s, fn_finalize, NULL, NULL) != napi_ok)
      goto fail;
    s->refs++;
    if (napi_set_named_property(env, obj, methods[i].name, fn) != napi_ok) goto fail;
  }

  snprintf(opts, sizeof opts, "fsname=");
  append_escaped(opts, sizeof opts, fsname);
  snprintf(opts + strlen(opts), sizeof opts - strlen(opts), ",subtype=");
  append_escaped(opts, sizeof opts, subtype);
  snprintf(opts + strlen(opts), sizeof opts - strlen(opts), ",max_read=%u%s%s%s%s", s->max_read,
           opt_bool(env, argv[0], "allowOther") ? ",allow_other" : "",
           opt_bool(env, argv[0], "defaultPermissions") ? ",default_permissions" : "",
           opt_bool(env, argv[0], "readOnly") ? ",ro" : "", opt_bool(env, argv[0], "autoUnmount") ? ",auto_unmount" : "");
  if (fuse_opt_add_arg(&fa, "objfs") || fuse_opt_add_arg(&fa, "-o") || fuse_opt_add_arg(&fa, opts) ||
      (debug && fuse_opt_add_arg(&fa, "-d"))) {
    throw_error(env, "objfs: out of memory");
    goto fail;
  }
  cap_begin();
  s->se = fuse_session_new(&fa, &objfs_ll_ops, sizeof objfs_ll_ops, s);
  if (!s->se) {
    const char *m = cap_end();
    throw_error(env, "objfs: cannot mount on %s: invalid FUSE options (%s)%s%s", mp, opts, *m ? ": " : "", m);
    goto fail;
  }
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || !(s->async = malloc(sizeof(uv_async_t))) ||
      uv_async_init(loop, s->async, on_async) != 0) {
    cap_end();
    free(s->async);
    s->async = NULL;
    throw_error(env, "objfs: cannot create the libuv wakeup handle");
    goto fail;
  }
  s->async->data = s;
  if (fuse_session_mount(s->se, s->mountpoint) != 0) {
    const char *m = cap_end();
    throw_error(env, "objfs: cannot mount on %s: %s", mp, *m ? m : "mount failed (see the fusermount3 message above)");
    goto fail;
  }
  cap_end();

  sigfillset(&all); /* libfuse threads inherit this mask: Node owns the signals */
  pthread_sigmask(SIG_SETMASK, &all, &old);
  r = pthread_create(&s->loop_thread, NULL, loop_main, s);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (r != 0) {
    fuse_session_unmount(s->se);
    throw_error(env, "objfs: cannot mount on %s: cannot start the FUSE loop thread: %s", mp, strerror(r));
    goto fail;
  }
  s->loop_started = 1;
  if (napi_add_env_cleanup_hook(env, env_cleanup, s) == napi_ok) s->cleanup_hook = 1;
  pthread_mutex_lock(&g_mu);
  s->gnext = g_live;
  g_live = s;
  if (!g_atexit_installed) g_atexit_installed = atexit(at_exit) == 0;
  pthread_mutex_unlock(&g_mu);
  fuse_opt_free_args(&fa);
  free(mp);
  free(fsname);
  free(subtype);
  return obj;

fail:
  fuse_opt_free_args(&fa);
  free(mp);
  free(fsname);
  free(subtype);
  free(real);
  if (s) {
    s->ended = 1;
    if (s->se) fuse_session_destroy(s->se);
    s->se = NULL;
    close_async(s);
    release_js(s);
    sess_unref(s); /* the method functions keep s alive until they are collected */
  }
  return NULL;
}

static napi_value js_libfuseVersion(napi_env env, napi_callback_info info) {
  napi_value v;
  (void)info;
  napi_create_string_utf8(env, fuse_pkgversion(), NAPI_AUTO_LENGTH, &v);
  return v;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  fuse_set_log_func(log_func);
  if (napi_create_function(env, "mount", NAPI_AUTO_LENGTH, js_mount, NULL, &fn) != napi_ok ||
      napi_set_named_property(env, exports, "mount", fn) != napi_ok ||
      napi_create_function(env, "libfuseVersion", NAPI_AUTO_LENGTH, js_libfuseVersion, NULL, &fn) != napi_ok ||
      napi_set_named_property(env, exports, "libfuseVersion", fn) != napi_ok)
    return NULL;
  return exports;
}
