/*
 * Binding-overhead benchmark load: N threads call stat() on PATH for SECONDS seconds.
 * Prints one line: "<total stats per second>". Exits 1 if any stat() fails.
 * usage: statloop PATH THREADS SECONDS
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

static const char *path;
static atomic_int stop;
static atomic_int failed;

static void *worker(void *arg) {
  unsigned long long *count = arg;
  struct stat st;
  while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
    if (stat(path, &st) != 0) {
      atomic_store(&failed, 1);
      break;
    }
    (*count)++;
  }
  return NULL;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  int n, i;
  double secs, t0, t1;
  unsigned long long *counts, total = 0;
  pthread_t *th;
  struct timespec d;
  if (argc < 4) {
    fprintf(stderr, "usage: %s PATH THREADS SECONDS\n", argv[0]);
    return 2;
  }
  path = argv[1];
  n = atoi(argv[2]);
  secs = atof(argv[3]);
  counts = calloc(n, sizeof *counts);
  th = calloc(n, sizeof *th);
  t0 = now();
  for (i = 0; i < n; i++) pthread_create(&th[i], NULL, worker, &counts[i]);
  d.tv_sec = (time_t)secs;
  d.tv_nsec = (long)((secs - (double)d.tv_sec) * 1e9);
  nanosleep(&d, NULL);
  atomic_store(&stop, 1);
  for (i = 0; i < n; i++) pthread_join(th[i], NULL);
  t1 = now();
  for (i = 0; i < n; i++) total += counts[i];
  if (atomic_load(&failed)) {
    perror("stat");
    return 1;
  }
  printf("%.0f\n", total / (t1 - t0));
  return 0;
}
