/*
 * libfuse3 low-level callbacks (run on libfuse worker threads). Each one copies its arguments
 * into a job, takes a request slot (its id), registers the interrupt callback with the id (never a
 * pointer) and queues the job for the JS thread; it returns at once and never waits on JS.
 * One exception answers in place: getxattr of a name outside the namespace JS gave at mount
 * (sess_t.xattr_only) gets ENODATA here, with no job and no slot.
 * See objfs_fuse.h for the lock rules.
 */
#include "objfs_fuse.h"
#include "buf_pool.h"

#include <errno.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>
#include <time.h>

#define JOB_FREE_MAX 512

/* ---------- jobs (callers hold mu where the name says _locked) ---------- */

job_t *job_get_locked(sess_t *s) {
  job_t *j = s->free_jobs;
  if (j) {
    s->free_jobs = j->next;
    s->n_free_jobs--;
  }
  return j;
}

static void job_init(job_t *j, int op, uint64_t id) {
  j->next = NULL;
  j->op = op;
  j->nargs = 0;
  j->id = id;
  j->name = j->name2 = NULL;
  j->name_len = j->name2_len = 0;
  j->data = NULL;
  j->data_len = 0;
  j->data_pooled = 0;
}

static int in_inline(const job_t *j, const char *p) { return p >= j->inl && p < j->inl + JOB_INLINE; }

void job_release_names(job_t *j) {
  if (j->name && !in_inline(j, j->name)) free(j->name);
  if (j->name2 && !in_inline(j, j->name2)) free(j->name2);
  j->name = j->name2 = NULL;
}

/* Frees the job's data (not handed to JS), from the pool or not. */
void job_drop_data(job_t *j) {
  if (j->data_pooled) buf_pool_free(j->data, 1);
  else free(j->data);
  j->data = NULL;
  j->data_pooled = 0;
}

/* Frees what the job still owns (names, data not handed to JS) and recycles it. */
void job_free(sess_t *s, job_t *j, int locked) {
  job_release_names(j);
  job_drop_data(j);
  if (!locked) pthread_mutex_lock(&s->mu);
  if (s->n_free_jobs < JOB_FREE_MAX) {
    j->next = s->free_jobs;
    s->free_jobs = j;
    s->n_free_jobs++;
    j = NULL;
  }
  if (!locked) pthread_mutex_unlock(&s->mu);
  free(j);
}

static int job_set_names(job_t *j, const char *n1, const char *n2) {
  size_t used = 0;
  if (n1) {
    size_t l = strlen(n1);
    if (l + 1 <= JOB_INLINE) {
      j->name = j->inl;
      used = l + 1;
    } else if (!(j->name = malloc(l + 1))) {
      return -1;
    }
    memcpy(j->name, n1, l + 1);
    j->name_len = l;
  }
  if (n2) {
    size_t l = strlen(n2);
    if (used + l + 1 <= JOB_INLINE) j->name2 = j->inl + used;
    else if (!(j->name2 = malloc(l + 1))) return -1;
    memcpy(j->name2, n2, l + 1);
    j->name2_len = l;
  }
  return 0;
}

void wake_locked(sess_t *s) {
  if (!s->awake && !s->async_closed) {
    s->awake = 1;
    uv_async_send(s->async);
  }
}

void queue_push_locked(sess_t *s, job_t *j) {
  j->next = NULL;
  if (s->q_tail) s->q_tail->next = j;
  else __atomic_store_n(&s->q_head, j, __ATOMIC_RELEASE); /* read unlocked by spin_for_job */
  s->q_tail = j;
  wake_locked(s);
}

/* ---------- request slots ---------- */

static int slots_grow_locked(sess_t *s) {
  uint32_t old = s->nslots, n = old ? old * 2 : 1024, i;
  slot_t *ns;
  if (old >= SLOT_MAX) return -1;
  if (n > SLOT_MAX) n = SLOT_MAX;
  ns = realloc(s->slots, (size_t)n * sizeof(slot_t));
  if (!ns) return -1;
  s->slots = ns;
  for (i = old; i < n; i++) {
    memset(&ns[i], 0, sizeof(slot_t));
    ns[i].next_free = i + 1 < n ? i + 1 : SLOT_NONE;
  }
  if (s->free_tail != SLOT_NONE) ns[s->free_tail].next_free = old;
  else s->free_head = old;
  s->free_tail = n - 1;
  s->nslots = n;
  return 0;
}

/* FIFO reuse keeps each slot's generation low, so ids stay unique for the session's life. */
int slot_alloc_locked(sess_t *s, fuse_req_t req, uint32_t *idx) {
  uint32_t i;
  slot_t *sl;
  if (s->free_head == SLOT_NONE && slots_grow_locked(s) != 0) return -1;
  i = s->free_head;
  sl = &s->slots[i];
  s->free_head = sl->next_free;
  if (s->free_head == SLOT_NONE) s->free_tail = SLOT_NONE;
  sl->gen = sl->gen >= GEN_MAX ? 1 : sl->gen + 1;
  sl->req = req;
  sl->state = SLOT_RESERVED;
  sl->interrupted = 0;
  sl->counted = 0;
  *idx = i;
  return 0;
}

void slot_free_locked(sess_t *s, uint32_t idx) {
  slot_t *sl = &s->slots[idx];
  sl->state = SLOT_FREE;
  sl->req = NULL;
  sl->next_free = SLOT_NONE;
  if (s->free_tail != SLOT_NONE) s->slots[s->free_tail].next_free = idx;
  else s->free_head = idx;
  s->free_tail = idx;
}

slot_t *slot_lookup_locked(sess_t *s, uint64_t id) {
  uint32_t idx = (uint32_t)(id & (SLOT_MAX - 1));
  slot_t *sl;
  if (idx >= s->nslots) return NULL;
  sl = &s->slots[idx];
  if (sl->state == SLOT_FREE || sl->gen != (id >> SLOT_BITS)) return NULL;
  return sl;
}

/* ---------- request path ---------- */

static void on_interrupt(fuse_req_t req, void *data) {
  sess_t *s = fuse_req_userdata(req);
  uint64_t id = (uint64_t)(uintptr_t)data;
  slot_t *sl;
  pthread_mutex_lock(&s->mu);
  sl = slot_lookup_locked(s, id);
  if (sl && sl->req == req && !sl->interrupted) {
    sl->interrupted = 1;
    /* Not yet dispatched: the JS thread dispatches INTERRUPT right after the job. */
    if (sl->state == SLOT_DISPATCHED && !s->closing) {
      job_t *j = job_get_locked(s);
      if (!j) j = malloc(sizeof(job_t));
      if (j) {
        job_init(j, OP_INTERRUPT, id);
        queue_push_locked(s, j);
      }
    }
  }
  pthread_mutex_unlock(&s->mu);
}

/* While the JS thread is draining and reading the session fd itself (fast path), a worker that
 * just queued a request waits here instead of going back to block in read(): otherwise every new
 * request would also wake a worker for nothing (it races the JS thread), which on a small machine
 * takes the CPU the callers need. Released when the drain ends (unpark_locked), on close, or after
 * PARK_MAX_NS as a safety net. Never on the JS thread, and never inside init or the interrupt
 * callback (libfuse holds the request lock there). No libfuse lock is held here. */
#define PARK_MAX_NS 10000000L
static void park_locked(sess_t *s) {
  struct timespec ts;
  if (!s->js_active || !s->fast_active || s->closing || s->no_park || pthread_equal(pthread_self(), s->js_thread))
    return;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  ts.tv_nsec += PARK_MAX_NS;
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  s->parked++;
  while (s->js_active && s->fast_active && !s->closing) {
    if (pthread_cond_timedwait(&s->park_cv, &s->mu, &ts) != 0) break;
  }
  s->parked--;
}

void unpark_locked(sess_t *s) {
  if (s->parked) pthread_cond_broadcast(&s->park_cv);
}

static job_t *req_begin(fuse_req_t req, int op, fuse_ino_t ino) {
  sess_t *s = fuse_req_userdata(req);
  const struct fuse_ctx *ctx;
  uint32_t idx;
  uint64_t id;
  job_t *j;
  pthread_mutex_lock(&s->mu);
  if (s->closing) {
    pthread_mutex_unlock(&s->mu);
    fuse_reply_err(req, EIO);
    return NULL;
  }
  if (slot_alloc_locked(s, req, &idx) != 0) {
    pthread_mutex_unlock(&s->mu);
    fuse_reply_err(req, ENOMEM);
    return NULL;
  }
  id = make_id(s->slots[idx].gen, idx);
  j = job_get_locked(s);
  if (!j && !(j = malloc(sizeof(job_t)))) {
    slot_free_locked(s, idx);
    pthread_mutex_unlock(&s->mu);
    fuse_reply_err(req, ENOMEM);
    return NULL;
  }
  pthread_mutex_unlock(&s->mu);
  job_init(j, op, id);
  ctx = fuse_req_ctx(req);
  j->a[0] = (double)ino;
  j->a[1] = (double)ctx->uid;
  j->a[2] = (double)ctx->gid;
  j->a[3] = (double)ctx->pid;
  j->nargs = 4;
  return j;
}

/* Give up on a request between req_begin and req_submit. */
static void req_abort(fuse_req_t req, job_t *j, int err) {
  sess_t *s = fuse_req_userdata(req);
  pthread_mutex_lock(&s->mu);
  slot_t *sl = slot_lookup_locked(s, j->id);
  if (sl) slot_free_locked(s, (uint32_t)(j->id & (SLOT_MAX - 1)));
  pthread_mutex_unlock(&s->mu);
  fuse_reply_err(req, err);
  job_free(s, j, 0);
}

static void req_submit(fuse_req_t req, job_t *j) {
  sess_t *s = fuse_req_userdata(req);
  slot_t *sl;
  /* May call on_interrupt synchronously (slot still RESERVED: it only sets the flag). */
  fuse_req_interrupt_func(req, on_interrupt, (void *)(uintptr_t)j->id);
  pthread_mutex_lock(&s->mu);
  sl = slot_lookup_locked(s, j->id);
  if (s->closing || !sl) {
    pthread_mutex_unlock(&s->mu);
    req_abort(req, j, EIO);
    return;
  }
  sl->state = SLOT_QUEUED;
  queue_push_locked(s, j);
  park_locked(s);
  pthread_mutex_unlock(&s->mu);
}

/* Jobs without a reply (INIT, FORGET, FORGET_MULTI). */
static job_t *plain_begin(sess_t *s, int op) {
  job_t *j;
  pthread_mutex_lock(&s->mu);
  if (s->closing) {
    pthread_mutex_unlock(&s->mu);
    return NULL;
  }
  j = job_get_locked(s);
  pthread_mutex_unlock(&s->mu);
  if (!j && !(j = malloc(sizeof(job_t)))) return NULL;
  job_init(j, op, 0);
  memset(j->a, 0, 4 * sizeof(double));
  j->nargs = 4;
  return j;
}

static void plain_submit(sess_t *s, job_t *j) {
  pthread_mutex_lock(&s->mu);
  if (s->closing) {
    pthread_mutex_unlock(&s->mu);
    job_free(s, j, 0);
    return;
  }
  queue_push_locked(s, j);
  pthread_mutex_unlock(&s->mu);
}

static double fh_of(const struct fuse_file_info *fi) { return fi ? (double)fi->fh : -1.0; }

#define BEGIN(op, ino)                     \
  job_t *j = req_begin(req, (op), (ino)); \
  if (!j) return
#define NAMES(n1, n2)                                 \
  if (job_set_names(j, (n1), (n2)) != 0) {            \
    req_abort(req, j, ENOMEM);                        \
    return;                                           \
  }
#define ARG(i, v) (j->a[(i)] = (double)(v), j->nargs = (i) + 1 > j->nargs ? (i) + 1 : j->nargs)

static void ll_init(void *ud, struct fuse_conn_info *c) {
  sess_t *s = ud;
  unsigned on = FUSE_CAP_ASYNC_READ | FUSE_CAP_PARALLEL_DIROPS | FUSE_CAP_READDIRPLUS |
                FUSE_CAP_READDIRPLUS_AUTO | FUSE_CAP_EXPLICIT_INVAL_DATA | FUSE_CAP_CACHE_SYMLINKS |
                FUSE_CAP_ATOMIC_O_TRUNC;
  unsigned off = FUSE_CAP_AUTO_INVAL_DATA | FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE |
                 FUSE_CAP_SPLICE_MOVE;
  job_t *j;
  if (s->writeback) on |= FUSE_CAP_WRITEBACK_CACHE;
  else off |= FUSE_CAP_WRITEBACK_CACHE;
  c->want = (c->want & ~off) | (on & c->capable);
  c->max_write = s->max_write;
  c->max_read = s->max_read; /* must equal the max_read mount option */
  c->max_readahead = s->max_read;
  c->max_background = 64;
  c->congestion_threshold = 48;
  j = plain_begin(s, OP_INIT);
  if (!j) return;
  j->a[4] = c->proto_major;
  j->a[5] = c->proto_minor;
  j->a[6] = c->capable;
  j->a[7] = c->want;
  j->nargs = 8;
  plain_submit(s, j);
}

static void ll_lookup(fuse_req_t req, fuse_ino_t parent, const char *name) {
  BEGIN(OP_LOOKUP, parent);
  NAMES(name, NULL);
  req_submit(req, j);
}

static void ll_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
  sess_t *s = fuse_req_userdata(req);
  job_t *j;
  fuse_reply_none(req);
  if (!(j = plain_begin(s, OP_FORGET))) return;
  j->a[0] = (double)ino;
  j->a[4] = (double)nlookup;
  j->nargs = 5;
  plain_submit(s, j);
}

static void ll_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *fd) {
  sess_t *s = fuse_req_userdata(req);
  double *pairs = count ? malloc(count * 2 * sizeof(double)) : NULL;
  size_t i;
  job_t *j;
  for (i = 0; pairs && i < count; i++) {
    pairs[2 * i] = (double)fd[i].ino;
    pairs[2 * i + 1] = (double)fd[i].nlookup;
  }
  fuse_reply_none(req);
  if (!pairs || !(j = plain_begin(s, OP_FORGET_MULTI))) {
    free(pairs);
    return;
  }
  j->a[4] = (double)count;
  j->nargs = 5;
  j->data = pairs;
  j->data_len = count * 2 * sizeof(double);
  plain_submit(s, j);
}

static void ll_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  BEGIN(OP_GETATTR, ino);
  ARG(4, fh_of(fi));
  req_submit(req, j);
}

static void ll_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *a, int to_set, struct fuse_file_info *fi) {
  BEGIN(OP_SETATTR, ino);
  ARG(4, to_set);
  ARG(5, a->st_mode);
  ARG(6, a->st_uid);
  ARG(7, a->st_gid);
  ARG(8, a->st_size);
  ARG(9, a->st_atim.tv_sec);
  ARG(10, a->st_atim.tv_nsec);
  ARG(11, a->st_mtim.tv_sec);
  ARG(12, a->st_mtim.tv_nsec);
  ARG(13, fh_of(fi));
  req_submit(req, j);
}

static void ll_readlink(fuse_req_t req, fuse_ino_t ino) {
  BEGIN(OP_READLINK, ino);
  req_submit(req, j);
}

static void ll_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev) {
  BEGIN(OP_MKNOD, parent);
  NAMES(name, NULL);
  ARG(4, mode);
  ARG(5, rdev);
  ARG(6, fuse_req_ctx(req)->umask);
  req_submit(req, j);
}

static void ll_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode) {
  BEGIN(OP_MKDIR, parent);
  NAMES(name, NULL);
  ARG(4, mode);
  ARG(5, 0);
  ARG(6, fuse_req_ctx(req)->umask);
  req_submit(req, j);
}

static void ll_unlink(fuse_req_t req, fuse_ino_t parent, const char *name) {
  BEGIN(OP_UNLINK, parent);
  NAMES(name, NULL);
  req_submit(req, j);
}

static void ll_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name) {
  BEGIN(OP_RMDIR, parent);
  NAMES(name, NULL);
  req_submit(req, j);
}

static void ll_symlink(fuse_req_t req, const char *target, fuse_ino_t parent, const char *name) {
  BEGIN(OP_SYMLINK, parent);
  NAMES(name, target);
  req_submit(req, j);
}

static void ll_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                      const char *newname, unsigned int flags) {
  BEGIN(OP_RENAME, parent);
  NAMES(name, newname);
  ARG(4, newparent);
  ARG(5, flags);
  req_submit(req, j);
}

static void ll_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname) {
  BEGIN(OP_LINK, ino);
  NAMES(newname, NULL);
  ARG(4, newparent);
  req_submit(req, j);
}

static void ll_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  BEGIN(OP_OPEN, ino);
  ARG(4, fi->flags);
  req_submit(req, j);
}

static void ll_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
  BEGIN(OP_READ, ino);
  ARG(4, fh_of(fi));
  ARG(5, size);
  ARG(6, off);
  req_submit(req, j);
}

static void ll_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                     struct fuse_file_info *fi) {
  BEGIN(OP_WRITE, ino);
  ARG(4, fh_of(fi));
  ARG(5, off);
  ARG(6, fi->flags);
  /* Copy out of libfuse's buffer: JS gets an external Buffer over this copy (large ones in a
   * block from buf_pool.c). */
  j->data = buf_pool_alloc(size, &j->data_pooled);
  if (!j->data) {
    req_abort(req, j, ENOMEM);
    return;
  }
  memcpy(j->data, buf, size);
  j->data_len = size;
  req_submit(req, j);
}

static void ll_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  BEGIN(OP_FLUSH, ino);
  ARG(4, fh_of(fi));
  req_submit(req, j);
}

static void ll_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  BEGIN(OP_RELEASE, ino);
  ARG(4, fh_of(fi));
  ARG(5, fi->flags);
  req_submit(req, j);
}

static void ll_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi) {
  BEGIN(OP_FSYNC, ino);
  ARG(4, fh_of(fi));
  ARG(5, datasync);
  req_submit(req, j);
}

static void ll_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  BEGIN(OP_OPENDIR, ino);
  ARG(4, fi->flags);
  req_submit(req, j);
}

static void ll_readdir_common(fuse_req_t req, int op, fuse_ino_t ino, size_t size, off_t off,
                              struct fuse_file_info *fi) {
  BEGIN(op, ino);
  ARG(4, fh_of(fi));
  ARG(5, size);
  ARG(6, off);
  req_submit(req, j);
}

static void ll_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
  ll_readdir_common(req, OP_READDIR, ino, size, off, fi);
}

static void ll_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
  ll_readdir_common(req, OP_READDIRPLUS, ino, size, off, fi);
}

static void ll_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  BEGIN(OP_RELEASEDIR, ino);
  ARG(4, fh_of(fi));
  req_submit(req, j);
}

static void ll_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi) {
  BEGIN(OP_FSYNCDIR, ino);
  ARG(4, fh_of(fi));
  ARG(5, datasync);
  req_submit(req, j);
}

static void ll_statfs(fuse_req_t req, fuse_ino_t ino) {
  BEGIN(OP_STATFS, ino);
  req_submit(req, j);
}

static void ll_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
                        size_t size, int flags) {
  BEGIN(OP_SETXATTR, ino);
  NAMES(name, NULL);
  ARG(4, flags);
  j->data = malloc(size ? size : 1);
  if (!j->data) {
    req_abort(req, j, ENOMEM);
    return;
  }
  memcpy(j->data, value, size);
  j->data_len = size;
  req_submit(req, j);
}

static void ll_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size) {
  sess_t *s = fuse_req_userdata(req);
  if (s->xattr_only_len && strncmp(name, s->xattr_only, s->xattr_only_len) != 0) {
    fuse_reply_err(req, ENODATA);
    return;
  }
  BEGIN(OP_GETXATTR, ino);
  NAMES(name, NULL);
  ARG(4, size);
  req_submit(req, j);
}

static void ll_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  BEGIN(OP_LISTXATTR, ino);
  ARG(4, size);
  req_submit(req, j);
}

static void ll_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name) {
  BEGIN(OP_REMOVEXATTR, ino);
  NAMES(name, NULL);
  req_submit(req, j);
}

static void ll_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                      struct fuse_file_info *fi) {
  BEGIN(OP_CREATE, parent);
  NAMES(name, NULL);
  ARG(4, mode);
  ARG(5, fi->flags);
  ARG(6, fuse_req_ctx(req)->umask);
  req_submit(req, j);
}

static void ll_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
                         struct fuse_file_info *fi) {
  BEGIN(OP_FALLOCATE, ino);
  ARG(4, fh_of(fi));
  ARG(5, mode);
  ARG(6, offset);
  ARG(7, length);
  req_submit(req, j);
}

/* Ops not in the contract stay NULL: libfuse answers ENOSYS. */
const struct fuse_lowlevel_ops objfs_ll_ops = {
  .init = ll_init,
  .lookup = ll_lookup,
  .forget = ll_forget,
  .getattr = ll_getattr,
  .setattr = ll_setattr,
  .readlink = ll_readlink,
  .mknod = ll_mknod,
  .mkdir = ll_mkdir,
  .unlink = ll_unlink,
  .rmdir = ll_rmdir,
  .symlink = ll_symlink,
  .rename = ll_rename,
  .link = ll_link,
  .open = ll_open,
  .read = ll_read,
  .write = ll_write,
  .flush = ll_flush,
  .release = ll_release,
  .fsync = ll_fsync,
  .opendir = ll_opendir,
  .readdir = ll_readdir,
  .releasedir = ll_releasedir,
  .fsyncdir = ll_fsyncdir,
  .statfs = ll_statfs,
  .setxattr = ll_setxattr,
  .getxattr = ll_getxattr,
  .listxattr = ll_listxattr,
  .removexattr = ll_removexattr,
  .create = ll_create,
  .forget_multi = ll_forget_multi,
  .fallocate = ll_fallocate,
  .readdirplus = ll_readdirplus,
};

/* ---------- unmount helper ---------- */

extern char **environ;

/* Lazy unmount without touching the session fd (libfuse's fuse_session_unmount closes it, which
 * is unsafe while worker threads still read it). Blocking: never call on the JS thread while JS
 * must answer requests (the kernel flushes dirty pages through the filesystem on unmount). */
int lazy_unmount(const char *mountpoint) {
  if (geteuid() == 0) {
    if (umount2(mountpoint, MNT_DETACH) == 0) return 0;
    return -errno;
  } else {
    char *argv[] = {"fusermount3", "-u", "-q", "-z", "--", (char *)mountpoint, NULL};
    pid_t pid;
    int st = 0, r = posix_spawnp(&pid, "fusermount3", NULL, NULL, argv, environ);
    if (r != 0) return -r;
    while (waitpid(pid, &st, 0) < 0) {
      if (errno != EINTR) return -errno;
    }
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -EIO;
  }
}
