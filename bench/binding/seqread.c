/*
 * Binding-overhead benchmark load: read FILE sequentially with read() calls of BLOCK bytes
 * (default 1 MiB) until TOTAL bytes were read. Prints one line: "<GB/s>" (10^9 bytes per second).
 * usage: seqread FILE TOTAL_BYTES [BLOCK_BYTES]
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  unsigned long long total, done = 0;
  size_t block;
  char *buf;
  int fd;
  double t0, t1;
  if (argc < 3) {
    fprintf(stderr, "usage: %s FILE TOTAL_BYTES [BLOCK_BYTES]\n", argv[0]);
    return 2;
  }
  total = strtoull(argv[2], NULL, 10);
  block = argc > 3 ? strtoul(argv[3], NULL, 10) : 1 << 20;
  if (posix_memalign((void **)&buf, 4096, block) != 0) return 1;
  fd = open(argv[1], O_RDONLY);
  if (fd < 0) {
    perror("open");
    return 1;
  }
  t0 = now();
  while (done < total) {
    ssize_t r = read(fd, buf, block);
    if (r < 0) {
      perror("read");
      return 1;
    }
    if (r == 0) break;
    done += (unsigned long long)r;
  }
  t1 = now();
  close(fd);
  if (done < total) {
    fprintf(stderr, "short file: read %llu of %llu bytes\n", done, total);
    return 1;
  }
  printf("%.3f\n", done / (t1 - t0) / 1e9);
  return 0;
}
