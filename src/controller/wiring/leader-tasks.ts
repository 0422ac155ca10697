/**
 * Wiring step 5: what only the leader does, periodically and on taking the
 * lead — join-token and nonce garbage collection, resuming an interrupted CA
 * rotation sweep, the mesh VIP sweep. (The injector's leader tasks are wired
 * with the injector, in serving.ts.)
 */
import type { LeaderTask } from "../ha/leader-tasks.js";
import { runWhileLeader } from "../ha/leader-tasks.js";
import type { Assembly } from "./assembly.js";
import type { Mesh } from "./mesh.js";
import type { SharedState } from "./shared-state.js";
import type { Sources } from "./sources.js";

const TOKEN_GC_INTERVAL_MS = 3_600_000;
/** How often the leader checks for an interrupted CA rotation sweep (also on taking the lead). */
const CA_ROTATION_RESUME_MS = 600_000;
/** How often the leader sweeps the mesh VIPs (releases, duplicates), at most; shorter with a short grace period. */
const VIP_SWEEP_MS = 60_000;

/** One leader task, as a part of its own (`leader:<name>`) on the closer. */
export function leaderTask(a: Assembly, shared: SharedState, task: LeaderTask): void {
  runWhileLeader(shared.leader, task, a.log, a.signal(`leader:${task.name}`));
}

export function startLeaderTasks(a: Assembly, shared: SharedState, sources: Sources, mesh: Mesh): void {
  const { log, config } = a;
  const { tokens, certificates } = shared;
  const { nonces } = sources;
  leaderTask(a, shared, {
    name: "token-gc", intervalMs: TOKEN_GC_INTERVAL_MS,
    run: async () => {
      const deleted = await tokens.collectGarbage();
      if (deleted > 0) log.info({ deleted }, "expired join tokens deleted");
      const spent = (await nonces?.collectGarbage()) ?? 0;
      if (spent > 0) log.info({ deleted: spent }, "expired attestation nonces deleted");
    },
  });
  leaderTask(a, shared, { name: "ca-rotation-resume", intervalMs: CA_ROTATION_RESUME_MS, run: () => certificates.resumeCaRotation() });
  leaderTask(a, shared, { name: "vip-sweep", intervalMs: Math.min(VIP_SWEEP_MS, Math.max(1_000, config.mesh.vipReleaseAfter / 4)), run: () => mesh.vips.sweep() });
}
