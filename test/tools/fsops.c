/*
 * fsops: the few filesystem calls node:fs lacks, for the objfs test suite.
 *
 *   fsops rename2 noreplace|exchange FROM TO
 *   fsops setxattr PATH NAME HEXVALUE [create|replace]
 *   fsops getxattr PATH NAME            -> value as lowercase hex on stdout (empty line if empty)
 *   fsops listxattr PATH                -> names, one per line
 *   fsops removexattr PATH NAME
 *   fsops mknod PATH fifo|sock|chr|blk MODE   (MODE in octal; devices get rdev makedev(1,3))
 *   fsops statfs PATH                   -> "bsize blocks namemax"
 *   fsops utimens PATH ASEC ANSEC MSEC MNSEC   (follows symlinks, nanosecond precision)
 *
 * On failure prints the errno name (e.g. "ENODATA") as the first line on stderr, then a
 * human-readable detail line, and exits 1. Usage errors exit 2 with "EUSAGE".
 * Built by test/helpers/fsops.ts with gcc into dist/test-tools/fsops.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

static const char *errno_name(int e) {
  switch (e) {
#define N(x) case x: return #x;
    N(EPERM) N(ENOENT) N(EIO) N(EBADF) N(EAGAIN) N(ENOMEM) N(EACCES) N(EFAULT) N(EBUSY) N(EEXIST)
    N(EXDEV) N(ENODEV) N(ENOTDIR) N(EISDIR) N(EINVAL) N(ENFILE) N(EMFILE) N(EFBIG) N(ENOSPC)
    N(EROFS) N(EMLINK) N(ERANGE) N(ENAMETOOLONG) N(ENOSYS) N(ENOTEMPTY) N(ELOOP) N(ENODATA)
    N(EOPNOTSUPP) N(ETIMEDOUT) N(EINTR) N(ENOTCONN) N(E2BIG) N(ENXIO) N(ESTALE) N(EDQUOT)
#undef N
    default: return NULL;
  }
}

static int fail(const char *what) {
  int e = errno;
  const char *n = errno_name(e);
  if (n) fprintf(stderr, "%s\n", n); else fprintf(stderr, "E%d\n", e);
  fprintf(stderr, "fsops %s: %s\n", what, strerror(e));
  return 1;
}

static int usage(void) {
  fprintf(stderr, "EUSAGE\nusage: fsops rename2|setxattr|getxattr|listxattr|removexattr|mknod|statfs|utimens ...\n");
  return 2;
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int main(int argc, char **argv) {
  if (argc < 3) return usage();
  const char *cmd = argv[1];

  if (strcmp(cmd, "rename2") == 0) {
    if (argc != 5) return usage();
    unsigned flags;
    if (strcmp(argv[2], "noreplace") == 0) flags = RENAME_NOREPLACE;
    else if (strcmp(argv[2], "exchange") == 0) flags = RENAME_EXCHANGE;
    else return usage();
    if (syscall(SYS_renameat2, AT_FDCWD, argv[3], AT_FDCWD, argv[4], flags) != 0) return fail("rename2");
    return 0;
  }

  if (strcmp(cmd, "setxattr") == 0) {
    if (argc != 5 && argc != 6) return usage();
    int flags = 0;
    if (argc == 6) {
      if (strcmp(argv[5], "create") == 0) flags = XATTR_CREATE;
      else if (strcmp(argv[5], "replace") == 0) flags = XATTR_REPLACE;
      else return usage();
    }
    const char *hex = argv[4];
    size_t hl = strlen(hex);
    if (hl % 2) return usage();
    unsigned char *buf = malloc(hl / 2 + 1);
    if (!buf) return fail("setxattr");
    for (size_t i = 0; i < hl / 2; i++) {
      int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
      if (hi < 0 || lo < 0) return usage();
      buf[i] = (unsigned char)(hi * 16 + lo);
    }
    if (setxattr(argv[2], argv[3], buf, hl / 2, flags) != 0) return fail("setxattr");
    return 0;
  }

  if (strcmp(cmd, "getxattr") == 0) {
    if (argc != 4) return usage();
    for (int attempt = 0; attempt < 5; attempt++) {
      ssize_t n = getxattr(argv[2], argv[3], NULL, 0);
      if (n < 0) return fail("getxattr");
      unsigned char *buf = malloc((size_t)n + 1);
      if (!buf) return fail("getxattr");
      ssize_t m = getxattr(argv[2], argv[3], buf, (size_t)n);
      if (m < 0) {
        if (errno == ERANGE) { free(buf); continue; } /* grew in between */
        return fail("getxattr");
      }
      for (ssize_t i = 0; i < m; i++) printf("%02x", buf[i]);
      printf("\n");
      return 0;
    }
    errno = ERANGE;
    return fail("getxattr");
  }

  if (strcmp(cmd, "listxattr") == 0) {
    if (argc != 3) return usage();
    for (int attempt = 0; attempt < 5; attempt++) {
      ssize_t n = listxattr(argv[2], NULL, 0);
      if (n < 0) return fail("listxattr");
      char *buf = malloc((size_t)n + 1);
      if (!buf) return fail("listxattr");
      ssize_t m = listxattr(argv[2], buf, (size_t)n);
      if (m < 0) {
        if (errno == ERANGE) { free(buf); continue; }
        return fail("listxattr");
      }
      for (ssize_t i = 0; i < m;) {
        size_t l = strnlen(buf + i, (size_t)(m - i));
        if (l > 0) printf("%.*s\n", (int)l, buf + i);
        i += (ssize_t)l + 1;
      }
      return 0;
    }
    errno = ERANGE;
    return fail("listxattr");
  }

  if (strcmp(cmd, "removexattr") == 0) {
    if (argc != 4) return usage();
    if (removexattr(argv[2], argv[3]) != 0) return fail("removexattr");
    return 0;
  }

  if (strcmp(cmd, "mknod") == 0) {
    if (argc != 5) return usage();
    mode_t type;
    dev_t dev = 0;
    if (strcmp(argv[3], "fifo") == 0) type = S_IFIFO;
    else if (strcmp(argv[3], "sock") == 0) type = S_IFSOCK;
    else if (strcmp(argv[3], "chr") == 0) { type = S_IFCHR; dev = makedev(1, 3); }
    else if (strcmp(argv[3], "blk") == 0) { type = S_IFBLK; dev = makedev(7, 0); }
    else return usage();
    char *end;
    unsigned long mode = strtoul(argv[4], &end, 8);
    if (*end || mode > 07777) return usage();
    if (mknod(argv[2], type | (mode_t)mode, dev) != 0) return fail("mknod");
    return 0;
  }

  if (strcmp(cmd, "statfs") == 0) {
    if (argc != 3) return usage();
    struct statvfs s;
    if (statvfs(argv[2], &s) != 0) return fail("statfs");
    printf("%lu %llu %lu\n", (unsigned long)s.f_bsize, (unsigned long long)s.f_blocks, (unsigned long)s.f_namemax);
    return 0;
  }

  if (strcmp(cmd, "utimens") == 0) {
    if (argc != 7) return usage();
    struct timespec ts[2];
    char *end;
    ts[0].tv_sec = strtoll(argv[3], &end, 10); if (*end) return usage();
    ts[0].tv_nsec = strtol(argv[4], &end, 10); if (*end) return usage();
    ts[1].tv_sec = strtoll(argv[5], &end, 10); if (*end) return usage();
    ts[1].tv_nsec = strtol(argv[6], &end, 10); if (*end) return usage();
    if (utimensat(AT_FDCWD, argv[2], ts, 0) != 0) return fail("utimens");
    return 0;
  }

  return usage();
}
