/**
 * NODE_FLAGS: the flags every objfs process is started with (by the `objfs` launcher's shebang,
 * by --daemon and by the test and bench harnesses). V8 reads them before the heap exists, so they
 * cannot be set from inside the process (v8.setFlagsFromString('--single-threaded-gc') aborts
 * the process at its next GC); bin/objfs.js repeats them in its shebang line.
 *
 * --single-threaded-gc: V8 otherwise marks and sweeps on a pool of helper threads. A mount's heap
 * is small (~15 MB) but it turns over its response bodies all the time, so major GCs are frequent
 * (about 50 per GiB read); the helper threads then spent nearly two thirds as much CPU as the JS
 * thread (perf, cold 1 GiB read: 2.3 s vs 3.7 s), CPU taken from the program reading the mount
 * and from the kernel's FUSE work. With one GC thread, by hand in alternating runs: a cold read
 * used 15-25% less CPU, a 1 GiB write ~20% less, both faster; peak RSS while streaming rose by
 * ~60 MB (garbage lives longer). Figures in docs/DESIGN.md.
 */
export const NODE_FLAGS: readonly string[] = ['--single-threaded-gc'];
