/*
 * objfs native FUSE binding: reply functions and notifications of the session object (JS
 * thread). Each reply validates its arguments first, then claims the request id (exactly one
 * reply wins), then calls fuse_reply_*. See objfs_fuse.h for the lock rules.
 */
#include "objfs_fuse.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

/* ---------- reply functions (JS thread) ---------- */

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

napi_value js_replyErr(napi_env env, napi_callback_info info) {
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

napi_value js_replyEntry(napi_env env, napi_callback_info info) {
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

napi_value js_replyAttr(napi_env env, napi_callback_info info) {
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

napi_value js_replyOpen(napi_env env, napi_callback_info info) {
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

napi_value js_replyCreate(napi_env env, napi_callback_info info) {
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

napi_value js_replyBuf(napi_env env, napi_callback_info info) {
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

napi_value js_replyWrite(napi_env env, napi_callback_info info) {
  PROLOGUE(2);
  uint64_t id;
  double n;
  fuse_req_t req;
  if (get_id(env, argv[0], &id) || get_num(env, argv[1], &n, "count")) return NULL;
  if (!(req = claim(s, id))) return js_bool(env, false);
  fuse_reply_write(req, (size_t)du(n));
  return js_bool(env, true);
}

napi_value js_replyReadlink(napi_env env, napi_callback_info info) {
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

napi_value js_replyStatfs(napi_env env, napi_callback_info info) {
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

napi_value js_replyXattrSize(napi_env env, napi_callback_info info) {
  PROLOGUE(2);
  uint64_t id;
  double n;
  fuse_req_t req;
  if (get_id(env, argv[0], &id) || get_num(env, argv[1], &n, "size")) return NULL;
  if (!(req = claim(s, id))) return js_bool(env, false);
  fuse_reply_xattr(req, (size_t)du(n));
  return js_bool(env, true);
}

napi_value js_replyDir(napi_env env, napi_callback_info info) {
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

napi_value js_pending(napi_env env, napi_callback_info info) {
  PROLOGUE(0);
  uint32_t n;
  (void)argv;
  pthread_mutex_lock(&s->mu);
  n = s->ended ? 0 : s->npending;
  pthread_mutex_unlock(&s->mu);
  return js_num(env, n);
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

napi_value js_notifyInvalInode(napi_env env, napi_callback_info info) {
  PROLOGUE(3);
  double ino, off, len;
  if (get_num(env, argv[0], &ino, "ino") || get_num(env, argv[1], &off, "off") || get_num(env, argv[2], &len, "len"))
    return NULL;
  return notify_start(env, s, N_INVAL_INODE, du(ino), 0, di(off), di(len), NULL);
}

napi_value js_notifyInvalEntry(napi_env env, napi_callback_info info) {
  PROLOGUE(2);
  double parent;
  if (get_num(env, argv[0], &parent, "parent")) return NULL;
  return notify_start(env, s, N_INVAL_ENTRY, du(parent), 0, 0, 0, argv[1]);
}

napi_value js_notifyDelete(napi_env env, napi_callback_info info) {
  PROLOGUE(3);
  double parent, child;
  if (get_num(env, argv[0], &parent, "parent") || get_num(env, argv[1], &child, "child")) return NULL;
  return notify_start(env, s, N_DELETE, du(parent), du(child), 0, 0, argv[2]);
}
