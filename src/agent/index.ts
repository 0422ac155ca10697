/**
 * The VM / on-prem agent (DESIGN.md §2 "agent on VM / on-prem host", §3
 * flows 3–4; issue 3 "Agent side"). It shares only proto/ and src/common/
 * with the controller.
 *
 *   state-machine.ts   states and allowed transitions
 *   agent.ts           composition root and the enroll/connect loop
 *   enroll.ts          Enroll RPC (server-authenticated TLS, pinned CA)
 *   stream.ts          one Connect stream: Hello, controller messages, ACK/NACK, health
 *   config-applier.ts  received version -> stored -> served -> Pipy runs it -> ACK
 *   repo/              the local Pipy repo on loopback (+ admin-link WebSocket, run tracking)
 *   supervisor.ts      the Pipy child process
 *   data-dir.ts        on-disk state, written atomically
 */
export { startAgent, EXIT_PERMANENT, type AgentExit, type RunningAgent, type AgentTestHooks } from "./agent.js";
export { agentConfig, agentConfigSchema, loadAgentConfig, parseAgentConfig, type AgentConfig, type AgentConfigInput, type AgentOverrides } from "./config.js";
export { AGENT_STATES, TRANSITIONS, type AgentState, type StateChange } from "./state-machine.js";
export { REPO_BASE } from "./repo/server.js";
