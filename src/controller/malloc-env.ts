/**
 * The glibc malloc setting the controller runs with: the image's `ENV`
 * (Dockerfile; test/unit/dockerfile.test.ts keeps the two equal) and the
 * controllers `npm run bench` starts. Outside the image, operators set it in
 * the controller's environment (docs/operations.md "Memory").
 *
 * Why: glibc serves an allocation below its mmap threshold (128 KiB at start,
 * raised up to 32 MiB each time a larger mapped block is freed) from its heap,
 * where freed chunks are kept for reuse and their pages stay resident. A block
 * at or above the threshold is mapped on its own: only the pages written count,
 * and freeing it returns them to the kernel. The controller's per-connection
 * churn (TLS, HTTP/2, grpc-js, a config per push) includes blocks of
 * 64–128 KiB: a fixed threshold of 8, 16, 32 or 64 KiB gave the same saving,
 * a fixed 128 KiB none. Measured in the bench (docs/benchmarks.md, issue 17,
 * "the allocator"): RSS per connected agent −16 % at 1,000 agents and −13 %
 * at 10,000, after a reconnect storm −34 % and −28 %, no measurable CPU cost,
 * and ~0.1 more memory mappings per agent (2,604 at 10,000 agents against
 * the kernel's default vm.max_map_count of 65,530).
 */
export const CONTROLLER_MALLOC_ENV: Readonly<Record<string, string>> = Object.freeze({ MALLOC_MMAP_THRESHOLD_: "65536" });
