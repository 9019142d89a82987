/*
 * Binding-overhead benchmark: the C reference. A minimal libfuse3 low-level filesystem answering
 * from memory: root directory (ino 1) with one file `data` (ino 2) of 8 GiB, virtual: reads are
 * answered from one static 1 MiB pattern buffer. Entry and attr timeouts 0; open replies
 * direct_io=1. Same init settings and the same multi-threaded loop configuration as the objfs
 * addon (native/): fuse_session_loop_mt, clone_fd=1, max_threads from argv (default 4), so the
 * comparison measures the JS hop only.
 *
 * usage: memfs_ll MOUNTPOINT [MAX_THREADS]   (unmount with fusermount3 -u, or SIGTERM/SIGINT)
 */
#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MIB (1024 * 1024)
#define FILE_SIZE (8ULL * 1024 * MIB)

static char pattern[MIB];

static void attr_of(fuse_ino_t ino, struct stat *st) {
  memset(st, 0, sizeof *st);
  st->st_ino = ino;
  st->st_blksize = 4096;
  st->st_mtime = 1700000000;
  if (ino == 1) {
    st->st_mode = S_IFDIR | 0755;
    st->st_nlink = 2;
  } else {
    st->st_mode = S_IFREG | 0644;
    st->st_nlink = 1;
    st->st_size = FILE_SIZE;
    st->st_blocks = FILE_SIZE / 512;
  }
}

static void mf_init(void *ud, struct fuse_conn_info *c) {
  (void)ud;
  unsigned on = FUSE_CAP_ASYNC_READ | FUSE_CAP_PARALLEL_DIROPS | FUSE_CAP_READDIRPLUS |
                FUSE_CAP_READDIRPLUS_AUTO | FUSE_CAP_EXPLICIT_INVAL_DATA | FUSE_CAP_CACHE_SYMLINKS |
                FUSE_CAP_ATOMIC_O_TRUNC;
  unsigned off = FUSE_CAP_AUTO_INVAL_DATA | FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE |
                 FUSE_CAP_SPLICE_MOVE | FUSE_CAP_WRITEBACK_CACHE;
  c->want = (c->want & ~off) | (on & c->capable);
  c->max_write = MIB;
  c->max_read = MIB;
  c->max_readahead = MIB;
  c->max_background = 64;
  c->congestion_threshold = 48;
}

static void mf_lookup(fuse_req_t req, fuse_ino_t parent, const char *name) {
  struct fuse_entry_param e;
  if (parent != 1 || strcmp(name, "data") != 0) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  memset(&e, 0, sizeof e);
  e.ino = 2;
  attr_of(2, &e.attr);
  fuse_reply_entry(req, &e);
}

static void mf_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  struct stat st;
  (void)fi;
  if (ino != 1 && ino != 2) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  attr_of(ino, &st);
  fuse_reply_attr(req, &st, 0);
}

static void mf_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  if (ino != 2) {
    fuse_reply_err(req, EISDIR);
    return;
  }
  fi->direct_io = 1;
  fi->fh = 1;
  fuse_reply_open(req, fi);
}

static void mf_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
  (void)ino;
  (void)fi;
  if ((unsigned long long)off >= FILE_SIZE) size = 0;
  else if (off + size > FILE_SIZE) size = FILE_SIZE - off;
  if (size > MIB) size = MIB;
  fuse_reply_buf(req, pattern, size);
}

static void mf_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  (void)ino;
  (void)fi;
  fuse_reply_err(req, 0);
}

static void mf_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  if (ino != 1) {
    fuse_reply_err(req, ENOTDIR);
    return;
  }
  fi->fh = 1;
  fuse_reply_open(req, fi);
}

static void mf_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
  static const char *names[] = {".", "..", "data"};
  char buf[4096];
  size_t used = 0;
  (void)fi;
  (void)ino;
  if (size > sizeof buf) size = sizeof buf;
  for (off_t i = off; i < 3; i++) {
    struct stat st;
    attr_of(i == 2 ? 2 : 1, &st);
    size_t need = fuse_add_direntry(req, buf + used, size - used, names[i], &st, i + 1);
    if (need > size - used) break;
    used += need;
  }
  fuse_reply_buf(req, buf, used);
}

static const struct fuse_lowlevel_ops ops = {
  .init = mf_init,
  .lookup = mf_lookup,
  .getattr = mf_getattr,
  .open = mf_open,
  .read = mf_read,
  .release = mf_release,
  .opendir = mf_opendir,
  .readdir = mf_readdir,
  .releasedir = mf_release,
};

int main(int argc, char **argv) {
  struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
  struct fuse_session *se;
  struct fuse_loop_config *cfg;
  unsigned threads = argc > 2 ? (unsigned)atoi(argv[2]) : 4;
  int r = 1;
  if (argc < 2) {
    fprintf(stderr, "usage: %s MOUNTPOINT [MAX_THREADS]\n", argv[0]);
    return 2;
  }
  for (size_t i = 0; i < sizeof pattern; i++) pattern[i] = (char)(i * 131 + 7);
  fuse_opt_add_arg(&args, argv[0]);
  fuse_opt_add_arg(&args, "-o");
  fuse_opt_add_arg(&args, "fsname=memfs_ll,subtype=memfs,max_read=1048576");
  se = fuse_session_new(&args, &ops, sizeof ops, NULL);
  if (!se) return 1;
  if (fuse_set_signal_handlers(se) != 0) goto out_destroy;
  if (fuse_session_mount(se, argv[1]) != 0) goto out_signals;
  cfg = fuse_loop_cfg_create();
  fuse_loop_cfg_set_clone_fd(cfg, 1);
  fuse_loop_cfg_set_max_threads(cfg, threads ? threads : 4);
  r = fuse_session_loop_mt(se, cfg);
  fuse_loop_cfg_destroy(cfg);
  fuse_session_unmount(se);
out_signals:
  fuse_remove_signal_handlers(se);
out_destroy:
  fuse_session_destroy(se);
  fuse_opt_free_args(&args);
  return r ? 1 : 0;
}
