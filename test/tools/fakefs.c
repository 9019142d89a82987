/*
 * fakefs: a tiny libfuse3 filesystem used ONLY to test the mount harness itself
 * (test/mount/harness.test.ts) without objfs: it mounts with type fuse.objfs-fake and serves a
 * root directory holding one file "hello".
 *
 *   fakefs MOUNTPOINT [mode]
 *     (no mode)      serve until SIGTERM/SIGINT, then unmount and exit 0
 *     ignore-term    ignore SIGTERM (the harness must SIGKILL it and clear the mount)
 *     exit-7         serve until SIGTERM, then exit 7
 *     fail           print "fakefs: simulated start-up failure" on stderr and exit 3 unmounted
 *     never          never mount: sleep until killed
 */
#define FUSE_USE_VERSION 31
#include <errno.h>
#include <fuse.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *hello = "hello from fakefs\n";
static void *fk_init(struct fuse_conn_info *conn, struct fuse_config *cfg) {
  (void)conn;
  (void)cfg;
  return NULL;
}

static int fk_getattr(const char *path, struct stat *st, struct fuse_file_info *fi) {
  (void)fi;
  memset(st, 0, sizeof *st);
  if (strcmp(path, "/") == 0) {
    st->st_mode = S_IFDIR | 0755;
    st->st_nlink = 2;
    return 0;
  }
  if (strcmp(path, "/hello") == 0) {
    st->st_mode = S_IFREG | 0444;
    st->st_nlink = 1;
    st->st_size = (off_t)strlen(hello);
    return 0;
  }
  return -ENOENT;
}

static int fk_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off, struct fuse_file_info *fi,
                      enum fuse_readdir_flags flags) {
  (void)off;
  (void)fi;
  (void)flags;
  if (strcmp(path, "/") != 0) return -ENOENT;
  filler(buf, ".", NULL, 0, 0);
  filler(buf, "..", NULL, 0, 0);
  filler(buf, "hello", NULL, 0, 0);
  return 0;
}

static int fk_open(const char *path, struct fuse_file_info *fi) {
  if (strcmp(path, "/hello") != 0) return -ENOENT;
  if ((fi->flags & O_ACCMODE) != O_RDONLY) return -EACCES;
  return 0;
}

static int fk_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi) {
  (void)fi;
  if (strcmp(path, "/hello") != 0) return -ENOENT;
  size_t len = strlen(hello);
  if ((size_t)off >= len) return 0;
  if (off + size > len) size = len - (size_t)off;
  memcpy(buf, hello + off, size);
  return (int)size;
}

static const struct fuse_operations ops = {
    .init = fk_init, .getattr = fk_getattr, .readdir = fk_readdir, .open = fk_open, .read = fk_read,
};

int main(int argc, char **argv) {
  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: fakefs MOUNTPOINT [ignore-term|exit-7|fail|never]\n");
    return 2;
  }
  const char *mode = argc == 3 ? argv[2] : "";
  int exit_code = 0;
  if (strcmp(mode, "fail") == 0) {
    fprintf(stderr, "fakefs: simulated start-up failure\n");
    return 3;
  }
  if (strcmp(mode, "never") == 0) {
    for (;;) pause();
  }
  /* libfuse only installs its handler for a signal whose disposition is still SIG_DFL */
  if (strcmp(mode, "ignore-term") == 0) signal(SIGTERM, SIG_IGN);
  if (strcmp(mode, "exit-7") == 0) exit_code = 7;
  char *fargv[] = {argv[0], "-f", "-o", "fsname=fakefs,subtype=objfs-fake", argv[1], NULL};
  /* fuse_main returns 8 when the loop was ended by a signal (libfuse 3.14 records the signal as
     the session error); that is the clean SIGTERM shutdown we model. 1..7 are start-up failures. */
  int r = fuse_main(5, fargv, &ops, NULL);
  return (r == 0 || r == 8) ? exit_code : r;
}
