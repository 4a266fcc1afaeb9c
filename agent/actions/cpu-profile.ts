/**
 * `cpu-profile`: a `.cpuprofile` of a Node target over `seconds` (1 to 60), through the inspector.
 * Inline: the result is the profile object itself (save it as `x.cpuprofile` for DevTools). The
 * profile arrives from the target as one message anyway, and a minute of sampling is a few MB.
 * Function names are code, not secrets; script URLs go through the masker (one may carry a token).
 */
import { setTimeout as sleep } from "node:timers/promises";
import { cpuProfileParams } from "../../protocol/actions.js";
import { AgentError } from "../errors.js";
import type { InspectorOptions } from "../runtimes/node/session.js";
import { withInspector } from "../runtimes/node/session.js";
import { inspectorLocks, type TargetLocks } from "../runtimes/node/target-locks.js";
import { raceAbort } from "../runtimes/node/wait.js";
import { defineAction } from "./types.js";

interface CallFrame {
  functionName: string;
  url: string;
  [key: string]: unknown;
}
interface ProfileNode {
  callFrame: CallFrame;
  [key: string]: unknown;
}
/** The CDP `Profiler.Profile`. */
export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

/** Builds the cpu-profile action; tests pass their own locks or inspector timing. */
export function createCpuProfileAction(options: { locks?: TargetLocks; inspector?: InspectorOptions } = {}) {
  const locks = options.locks ?? inspectorLocks;
  return defineAction({
    name: "cpu-profile",
    description: "A .cpuprofile of a Node target over the given number of seconds.",
    params: cpuProfileParams,
    outputs: ["inline"],
    limits: { timeoutMs: 90_000, maxConcurrency: 2, maxOutputBytes: 64 * 1024 * 1024 },
    async run(params, ctx): Promise<CpuProfile> {
      ctx.signal.throwIfAborted();
      const profile = await withInspector(
        ctx.pid,
        ctx.log,
        ctx.signal,
        () => locks.acquire(ctx.pid, "cpu-profile"),
        async ({ client }) => {
          await raceAbort(client.send("Profiler.enable"), ctx.signal);
          await raceAbort(client.send("Profiler.start"), ctx.signal);
          await sleep(params.seconds * 1000, undefined, { signal: ctx.signal, ref: false });
          const { profile } = await raceAbort(
            client.send<{ profile: CpuProfile }>("Profiler.stop"),
            ctx.signal,
          );
          await client.send("Profiler.disable").catch(() => {});
          return profile;
        },
        options.inspector,
      );
      if (!profile || !Array.isArray(profile.nodes)) {
        throw new AgentError("KH_ACTION_FAILED", "the target returned no CPU profile");
      }
      for (const node of profile.nodes) {
        if (typeof node.callFrame?.url === "string" && node.callFrame.url !== "") {
          node.callFrame.url = ctx.redactor.maskText(node.callFrame.url);
        }
      }
      return profile;
    },
  });
}

export const cpuProfileAction = createCpuProfileAction();
