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
 *
 * --interrupt-budget=1081344 (16x V8's default of 67,584 bytecode bytes): how much bytecode a
 * function runs before V8 considers optimizing it with TurboFan. A mount's work comes in bursts
 * of SDK and stream code (1,000 PUTs, a 1 GiB write) that are over in seconds, and with the
 * default V8 compiled much of it on its helper threads while the burst ran: perf of 1,000 small
 * PUTs in idle mode showed ~1 s of TurboFan CPU beside ~1.5 s of upload work, on 2 cores. With a
 * larger budget only code that keeps running gets optimized (later), so steady loops still reach
 * TurboFan. By hand, alternating runs with and without: 1 GiB sequential write 221-286 ->
 * 307-357 MB/s (objfs CPU 3.7-4.7 -> 3.1-3.5 s); 1,000 x 16 KiB in idle mode, bucket complete
 * 3.59-4.08 -> 3.03-3.37 s (one run at 4.12), CPU 3.5-4.4 -> 2.8-3.3 s; cold 1 GiB read
 * 276-317 -> 279-318 MB/s (no loss). 4x, 8x and 32x the default measured alike.
 */
export const NODE_FLAGS: readonly string[] = ['--single-threaded-gc', '--interrupt-budget=1081344'];
