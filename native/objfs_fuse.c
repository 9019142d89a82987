/*
 * objfs native FUSE binding, N-API side: mount(), the drain that hands queued jobs to JS, the reply
 * functions, notifications and the session's end. Implements NativeAddon / NativeSession of
 * src/fuse/native-api.ts. Mechanism only: no filesystem policy here.
 *
 * Life of a session:
 *   mount() -> fuse_session_new + fuse_session_mount -> loop thread runs fuse_session_loop_mt
 *   (clone_fd=1, max_threads = opts.maxThreads).
 *   Worker threads queue jobs (ll_ops.c) and wake the JS thread with uv_async_send, only when it
 *   is not already awake. drain() (JS thread) empties the queue in passes, calling dispatch() once
 *   per job inside one handle scope per job and one callback scope per pass (so promise
 *   continuations and nextTicks run after each pass, as after any Node callback).
 *   Fast path: the JS thread also polls the session's own fd (uv_poll; O_NONBLOCK, the workers
 *   read their clone fds) and, when a request is there, runs libfuse's processing itself (pump()):
 *   the same callbacks queue the job, so nothing else changes, but the request costs one wakeup
 *   instead of two. After the queue runs dry, drain() keeps polling for up to spin_ns (default
 *   50 us, yielding the CPU on each turn): a request that follows at once is taken with no wakeup
 *   at all. While the JS thread drains this way, a worker that has just queued a request parks
 *   (ll_ops.c, park_locked) instead of blocking in read() again, so requests stop waking workers
 *   for nothing; the drain's end releases them (and a 10 ms timeout, as a safety net). The drain
 *   hands back to the event loop after 2 ms or 4096 jobs even under continuous load.
 *   Tuning knobs (environment, not part of the contract): OBJFS_FUSE_SPIN_US (default 50, 0 = off),
 *   OBJFS_FUSE_NO_FAST_PATH=1, OBJFS_FUSE_NO_PARK=1, OBJFS_FUSE_CLONE_FD=0 (also disables the fast
 *   path).
 *   unmount() starts a lazy unmount on a helper thread; the kernel then ends the connection, the
 *   workers see ENODEV and the loop returns. (The same happens after `fusermount3 -u` or `umount`
 *   from outside.) The loop thread then wakes the JS thread, which answers EIO to every request
 *   still pending, joins the thread, unmounts/destroys the libfuse session, closes the uv handles
 *   and dispatches DESTROY.
 *   If the environment or the process goes away while mounted (env cleanup hook, atexit), the
 *   session switches to "closing": workers answer EIO themselves and the mount is lazily detached.
 */
#include "objfs_fuse.h"
#include "buf_pool.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <sched.h>
#include <fcntl.h>
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
#define DRAIN_MAX_NS 2000000u /* ... or this long (timers and other handles get their turn) */
#define DEFAULT_SPIN_US 50

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

napi_value throw_error(napi_env env, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  napi_throw_error(env, NULL, msg);
  return NULL;
}


/* ---------- session memory ---------- */

static void sess_free(sess_t *s) {
  job_t *j;
  while ((j = s->free_jobs)) {
    s->free_jobs = j->next;
    free(j);
  }
  free(s->slots);
  free(s->mountpoint);
  pthread_cond_destroy(&s->park_cv);
  pthread_mutex_destroy(&s->mu);
  free(s);
}

void sess_unref(sess_t *s) {
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

/* At environment teardown (env_cleanup) Node may unload the addon before the loop runs the close
 * callbacks, so there the handles are closed without a callback and their memory is left. */
static void close_async(sess_t *s, int teardown) {
  int was;
  pthread_mutex_lock(&s->mu);
  was = s->async_closed;
  s->async_closed = 1;
  pthread_mutex_unlock(&s->mu);
  if (!was && s->async) uv_close((uv_handle_t *)s->async, teardown ? NULL : on_async_closed);
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

fuse_req_t claim(sess_t *s, uint64_t id) {
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
  buf_pool_free(data, hint != NULL); /* hint: the memory is a buf_pool block */
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
    if (napi_create_external_buffer(env, j->data_len, j->data, free_data, j->data_pooled ? (void *)1 : NULL,
                                    &argv[4]) == napi_ok) {
      j->data = NULL;
      j->data_pooled = 0;
    }
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

void session_finish(sess_t *s) {
  napi_env env = s->env;
  napi_handle_scope hs;
  int r = s->loop_result;
  stop_poll(s);
  free(s->jsbuf.mem);
  s->jsbuf.mem = NULL;
  if (s->se) {
    /* The fd is still open here: libfuse polls it, sees the connection gone and skips umount. */
    fuse_session_unmount(s->se);
    fuse_session_destroy(s->se);
    s->se = NULL;
  }
  close_async(s, 0);
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

/* Fast path: take requests straight from the session fd (O_NONBLOCK; the libfuse workers read
 * their own clone fds) and let libfuse process them on this thread. Our callbacks queue the jobs
 * as usual, so a request costs one wakeup (this thread, by the kernel) instead of two (a worker,
 * then this thread). Returns how many requests were taken. */
static int pump(sess_t *s, int max) {
  int n = 0;
  while (s->poll && n < max) {
    int r = fuse_session_receive_buf(s->se, &s->jsbuf);
    if (r > 0) {
      fuse_session_process_buf(s->se, &s->jsbuf);
      n++;
      continue;
    }
    if (r != -EAGAIN && r != -EINTR) stop_poll(s); /* connection gone (0) or a device error */
    break;
  }
  return n;
}

/* Bounded wait for the next request after the queue ran dry: one that comes within spin_ns is
 * taken without any wakeup (the eventfd write, epoll wakeup and context switch cost more than the
 * request itself). Yields the CPU on every turn, so threads on this CPU (often the very caller
 * we just answered) still run. Stops at once when the libuv backend has other events, so other
 * I/O of the event loop is not delayed. Returns 1 if a job is queued. */
static int spin_for_job(sess_t *s, uv_loop_t *loop) {
  uint64_t deadline = now_ns() + s->spin_ns;
  unsigned n = 0;
  struct pollfd pfd;
  pfd.fd = uv_backend_fd(loop);
  pfd.events = POLLIN;
  for (;;) {
    if (__atomic_load_n(&s->q_head, __ATOMIC_ACQUIRE) != NULL) return 1;
    if (__atomic_load_n(&s->loop_done, __ATOMIC_RELAXED)) return 0;
    if (pump(s, 1) > 0) return 1;
    if ((++n & 7) == 0) {
      if (now_ns() >= deadline) return 0;
      /* Our own device fd is in the backend too; with the fast path it is read above. */
      if (pfd.fd >= 0 && poll(&pfd, 1, 0) > 0 && !s->poll) return 0;
    }
    sched_yield();
  }
}

static void drain(sess_t *s, uv_loop_t *loop) {
  napi_env env = s->env;
  napi_handle_scope hs;
  napi_value fn, undef, resource;
  unsigned processed = 0;
  int ended = 0, more = 0;
  uint64_t t0 = now_ns();
  pthread_mutex_lock(&s->mu);
  s->js_active = 1;
  pthread_mutex_unlock(&s->mu);
  if (napi_open_handle_scope(env, &hs) != napi_ok) {
    pthread_mutex_lock(&s->mu);
    s->js_active = 0;
    unpark_locked(s);
    pthread_mutex_unlock(&s->mu);
    return;
  }
  napi_get_undefined(env, &undef);
  napi_get_reference_value(env, s->dispatch_ref, &fn);
  napi_get_reference_value(env, s->resource_ref, &resource);
  for (;;) {
    job_t *list, *j, *next, *intr = NULL;
    napi_callback_scope cs;
    int have_cs;
    pump(s, 64);
    pthread_mutex_lock(&s->mu);
    list = s->q_head;
    s->q_head = s->q_tail = NULL;
    if (!list) {
      if (s->spin_ns && !s->loop_done && !s->closing) {
        pthread_mutex_unlock(&s->mu);
        if (spin_for_job(s, loop)) continue;
        pthread_mutex_lock(&s->mu);
        if (s->q_head) {
          pthread_mutex_unlock(&s->mu);
          continue;
        }
      }
      s->awake = 0;
      s->js_active = 0;
      unpark_locked(s);
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
            job_drop_data(j);
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
    if (processed >= DRAIN_LIMIT || now_ns() - t0 > DRAIN_MAX_NS) {
      pthread_mutex_lock(&s->mu);
      s->js_active = 0; /* the workers read while other handles have their turn */
      unpark_locked(s);
      pthread_mutex_unlock(&s->mu);
      more = 1; /* awake stays set: we wake ourselves after other events had their turn */
      break;
    }
  }
  napi_close_handle_scope(env, hs);
  if (more) {
    if (s->async) uv_async_send(s->async);
  } else if (ended) {
    session_ended(s);
  }
}

static void on_async(uv_async_t *h) {
  sess_t *s = h->data;
  drain(s, h->loop);
}

/* The session fd is readable: this thread takes the request itself (see pump). */
static void on_poll(uv_poll_t *h, int status, int events) {
  sess_t *s = h->data;
  (void)events;
  if (status < 0) {
    stop_poll(s);
    return;
  }
  pthread_mutex_lock(&s->mu);
  s->awake = 1; /* workers need not wake us while we drain */
  pthread_mutex_unlock(&s->mu);
  drain(s, h->loop);
}

static void on_poll_closed(uv_handle_t *h) { free(h); }

static void stop_poll_ex(sess_t *s, int teardown) {
  if (!s->poll) return;
  pthread_mutex_lock(&s->mu);
  s->fast_active = 0;
  unpark_locked(s);
  pthread_mutex_unlock(&s->mu);
  uv_poll_stop(s->poll);
  uv_close((uv_handle_t *)s->poll, teardown ? NULL : on_poll_closed);
  s->poll = NULL;
}

void stop_poll(sess_t *s) { stop_poll_ex(s, 0); }

/* Enables the fast path when the workers use clone fds (so nobody else reads the session fd). */
static void start_poll(sess_t *s, uv_loop_t *loop) {
  int fd = fuse_session_fd(s->se), fl = fcntl(fd, F_GETFL);
  if (!s->clone_fd || s->no_fast_path || fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) return;
  if (!(s->poll = malloc(sizeof(uv_poll_t)))) return;
  if (uv_poll_init(loop, s->poll, fd) != 0) {
    free(s->poll);
    s->poll = NULL;
    return;
  }
  s->poll->data = s;
  pthread_mutex_lock(&s->mu);
  s->fast_active = 1;
  pthread_mutex_unlock(&s->mu);
  if (uv_poll_start(s->poll, UV_READABLE, on_poll) != 0) stop_poll(s);
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
  unpark_locked(s);
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
  close_async(s, 1);
  stop_poll_ex(s, 1);
  pthread_mutex_lock(&s->mu);
  s->ended = 1;
  pthread_mutex_unlock(&s->mu);
  if (joined && s->notify_inflight == 0) {
    free(s->jsbuf.mem);
    s->jsbuf.mem = NULL;
    fuse_session_unmount(s->se);
    fuse_session_destroy(s->se);
    s->se = NULL;
    release_js(s);
    sess_unref(s);
  }
  /* else: libfuse threads may still run; the session memory is left to the process exit. */
}

/* ---------- unmount ---------- */

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
  /* /dev/fuse must exist. Whether this process may open it matters only when libfuse mounts
   * directly (root without auto_unmount); otherwise the setuid fusermount3 opens it for us, so an
   * ordinary user can mount even where /dev/fuse is mode 0600. */
  if (access("/dev/fuse", F_OK) != 0) {
    throw_error(env, "objfs: cannot mount on %s: /dev/fuse is missing (%s); is the fuse kernel module loaded?", mp, strerror(errno));
    goto fail;
  }

  if (!(s = calloc(1, sizeof *s))) {
    throw_error(env, "objfs: out of memory");
    goto fail;
  }
  pthread_mutex_init(&s->mu, NULL);
  {
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->park_cv, &ca);
    pthread_condattr_destroy(&ca);
  }
  s->js_thread = pthread_self();
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
    s->no_fast_path = getenv("OBJFS_FUSE_NO_FAST_PATH") != NULL; /* tuning knobs */
    s->no_park = getenv("OBJFS_FUSE_NO_PARK") != NULL;
  }
  {
    const char *cfd = getenv("OBJFS_FUSE_CLONE_FD"); /* benchmarking knob, not part of the contract */
    if (cfd && (cfd[0] == '0' || cfd[0] == '1')) s->clone_fd = cfd[0] == '1';
  }
  {
    napi_value v;
    size_t l = 0;
    if (opt_value(env, argv[0], "xattrOnly", &v)) {
      if (napi_get_value_string_utf8(env, v, NULL, 0, &l) != napi_ok || l >= sizeof s->xattr_only) {
        throw_error(env, "objfs: mount option 'xattrOnly' must be a string of at most %d bytes", (int)sizeof s->xattr_only - 1);
        goto fail;
      }
      napi_get_value_string_utf8(env, v, s->xattr_only, sizeof s->xattr_only, &l);
      s->xattr_only_len = l;
    }
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
  start_poll(s, loop);

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
    stop_poll(s);
    if (s->se) fuse_session_destroy(s->se);
    s->se = NULL;
    close_async(s, 0);
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

/* alignedBuffer(size): a Buffer over page-aligned memory (freed when the Buffer is collected),
 * for O_DIRECT writes from JS: the kernel needs the user buffer aligned. Meant for a few
 * long-lived buffers (the block cache's write buffers), not for one allocation per request. */
static void free_aligned(napi_env env, void *data, void *hint) {
  int64_t ignored;
  napi_adjust_external_memory(env, -(int64_t)(uintptr_t)hint, &ignored);
  free(data);
}

static napi_value js_alignedBuffer(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  double d;
  void *mem = NULL;
  int64_t ignored;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_double(env, argv[0], &d) != napi_ok || !(d >= 0) || d > (double)(1u << 30) || d != (double)(size_t)d) {
    napi_throw_range_error(env, NULL, "objfs: alignedBuffer(size) expects a size in bytes, at most 1 GiB");
    return NULL;
  }
  if (posix_memalign(&mem, 4096, d > 0 ? (size_t)d : 1) != 0) return throw_error(env, "objfs: out of memory");
  if (napi_create_external_buffer(env, (size_t)d, mem, free_aligned, (void *)(uintptr_t)(size_t)d, &out) != napi_ok) {
    free(mem);
    return throw_error(env, "objfs: cannot create a Buffer");
  }
  napi_adjust_external_memory(env, (int64_t)d, &ignored); /* V8 does not see memory it did not allocate */
  return out;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  fuse_set_log_func(log_func);
  if (napi_create_function(env, "mount", NAPI_AUTO_LENGTH, js_mount, NULL, &fn) != napi_ok ||
      napi_set_named_property(env, exports, "mount", fn) != napi_ok ||
      napi_create_function(env, "libfuseVersion", NAPI_AUTO_LENGTH, js_libfuseVersion, NULL, &fn) != napi_ok ||
      napi_set_named_property(env, exports, "libfuseVersion", fn) != napi_ok ||
      napi_create_function(env, "alignedBuffer", NAPI_AUTO_LENGTH, js_alignedBuffer, NULL, &fn) != napi_ok ||
      napi_set_named_property(env, exports, "alignedBuffer", fn) != napi_ok)
    return NULL;
  return exports;
}
