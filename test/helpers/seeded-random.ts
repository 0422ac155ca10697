/**
 * A seeded PRNG (mulberry32) for randomized tests: the seed is printed, and
 * MESHFED_TEST_SEED replays a failing run exactly.
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** The seed from MESHFED_TEST_SEED, else a fresh one. */
export function testSeed(): number {
  const given = process.env.MESHFED_TEST_SEED;
  return given !== undefined && given !== "" ? Number(given) >>> 0 : (Math.random() * 2 ** 32) >>> 0;
}
