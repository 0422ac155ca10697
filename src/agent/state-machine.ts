/**
 * The agent's lifecycle (DESIGN.md §3 flows 3–4), written down so that a
 * reader, a log line and a test all agree on what may follow what.
 *
 *   ENROLLING ──enrolled──▶ CONNECTING ──first answer──▶ CONNECTED
 *       │                      │   ▲                        │
 *       │ transport error      │   │ sleep over             │ stream ended, transport error,
 *       ▼                      ▼   │                        │ Shutdown{permanent:false}
 *     BACKOFF ◀────────────────┴───┴────────────────────────┘
 *
 *   CONNECTED ──proxy certificate renewed (CA rotation)──▶ CONNECTING (no backoff)
 *
 *   any state but STOPPED ──signal, close(), permanent refusal──▶ DRAINING ──▶ STOPPED
 *
 * - ENROLLING: no proxy certificate on disk yet; Enroll with the join token.
 * - CONNECTING: opening the mTLS Connect stream and sending Hello.
 * - CONNECTED: the controller answered on the stream (headers or a message).
 * - BACKOFF: sleeping a full-jitter delay; then back to ENROLLING (never
 *   enrolled) or CONNECTING.
 * - DRAINING: stopping: stream cancelled, Pipy stopped (SIGINT, grace, SIGKILL),
 *   repo closed. Entered for every stop, including permanent refusals, so
 *   there is one way down.
 * - STOPPED: terminal.
 *
 * Throughout, the last good config from disk stays served to the local Pipy:
 * no state but STOPPED takes the proxy down.
 */
import type { Logger } from "../common/logger.js";
import { Listeners } from "../common/emitter.js";
import { MeshfedError } from "../common/errors.js";

export const AGENT_STATES = ["ENROLLING", "CONNECTING", "CONNECTED", "BACKOFF", "DRAINING", "STOPPED"] as const;
export type AgentState = (typeof AGENT_STATES)[number];

export const TRANSITIONS: Readonly<Record<AgentState, readonly AgentState[]>> = {
  ENROLLING: ["CONNECTING", "BACKOFF", "DRAINING"],
  CONNECTING: ["CONNECTED", "BACKOFF", "DRAINING"],
  // CONNECTING: the proxy certificate was renewed (CA rotation); reconnect with it at once.
  CONNECTED: ["CONNECTING", "BACKOFF", "DRAINING"],
  BACKOFF: ["ENROLLING", "CONNECTING", "DRAINING"],
  DRAINING: ["STOPPED"],
  STOPPED: [],
};

export interface StateChange {
  readonly from: AgentState;
  readonly to: AgentState;
}

export class AgentStateMachine {
  #state: AgentState;
  readonly #logger: Logger;
  readonly #changes = new Listeners<StateChange>();

  constructor(initial: "ENROLLING" | "CONNECTING", logger: Logger) {
    this.#state = initial;
    this.#logger = logger;
    logger.info({ state: initial }, `agent state ${initial}`);
  }

  get state(): AgentState {
    return this.#state;
  }

  /** Moves to `next`; an edge not in TRANSITIONS is a bug and throws. */
  to(next: AgentState, fields: Record<string, unknown> = {}): void {
    const from = this.#state;
    if (!TRANSITIONS[from].includes(next)) {
      throw new MeshfedError("MESHFED_AGENT_ILLEGAL_TRANSITION", `agent state ${from} -> ${next} is not allowed (allowed: ${TRANSITIONS[from].join(", ") || "none"})`);
    }
    this.#state = next;
    this.#logger.info({ ...fields, from, state: next }, `agent state ${from} -> ${next}`);
    this.#changes.emit({ from, to: next });
  }

  /** True when `next` is allowed from the current state (for "stop if not already stopping"). */
  can(next: AgentState): boolean {
    return TRANSITIONS[this.#state].includes(next);
  }

  on(fn: (change: StateChange) => void): () => void {
    return this.#changes.add(fn);
  }
}
