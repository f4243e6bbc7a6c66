#!/usr/bin/env node
/**
 * The `qiusuo` command: sets the size of libuv's thread pool, then runs the CLI (./main.js).
 *
 * node-llama-cpp runs every llama.cpp decode as a task on libuv's thread pool, which has 4 threads
 * by default, so consecutive decodes start on different threads. With the OpenMP build
 * (`qiusuo build-engine`) each of those threads leads a team of OpenMP workers of its own, and the
 * idle teams' spinning workers take the cores the running team needs: on 2 cores a small model
 * decoded at 2 threads in 8.4 ms a token on 4 pool threads and in 4.2 ms on one (1 thread: 5.9 and
 * 5.2 ms; bench/engine-build.ts and docs/benchmarks.md). llama-server decodes from one thread too.
 * One pool thread is the default here; a UV_THREADPOOL_SIZE set by the person running qiusuo wins.
 *
 * The size must be set before anything uses the pool, and loading an ES module already does: so
 * this entry is CommonJS and loads the rest with import().
 */
process.env.UV_THREADPOOL_SIZE ??= "1";
void import("./main.js");
