/**
 * `cpu-profile` `{seconds}`: the target runtime's own CPU profile format.
 *
 * Node (1 to 60 s): a `.cpuprofile` through the inspector. Inline, the result is the profile
 * object itself (save it as `x.cpuprofile` for DevTools); in stream mode the same JSON as a file.
 * The profile arrives from the target as one message anyway, and a minute of sampling is a few
 * MB. Function names are code, not secrets; script URLs go through the masker (one may carry a
 * token).
 *
 * JVM (1 to 300 s): a JFR recording of the sampling events only (runtimes/jvm/jfr.ts: no event
 * that carries the environment, system properties or command lines), streamed as a `.jfr` file;
 * an inline request is refused (KH_BAD_PARAMS), since the recording is binary.
 */
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { cpuProfileParams, MAX_NODE_PROFILE_SECONDS } from "../../protocol/actions.js";
import { AgentError } from "../errors.js";
import { detectRuntime } from "../proc/runtime-kind.js";
import { recordCpu } from "../runtimes/jvm/jfr.js";
import { withAttach } from "../runtimes/jvm/session.js";
import type { InspectorOptions } from "../runtimes/node/session.js";
import { withInspector } from "../runtimes/node/session.js";
import { inspectorLocks, type TargetLocks } from "../runtimes/node/target-locks.js";
import { raceAbort } from "../runtimes/node/wait.js";
import { fileTimestamp } from "./file-timestamp.js";
import { attachOptions, type JvmActionOptions, jvmLocks } from "./jvm-target.js";
import { type ActionContext, defineAction, StreamedResult } from "./types.js";

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

/** A JFR recording of a JVM target, streamed from the file the JVM wrote (already unlinked). */
async function jvmRecording(
  seconds: number,
  ctx: ActionContext,
  options: JvmActionOptions,
): Promise<StreamedResult> {
  if (ctx.outputMode === "inline") {
    throw new AgentError(
      "KH_BAD_PARAMS",
      `process ${ctx.pid} is a JVM: its cpu-profile is a binary JFR recording; ask with output mode stream or s3`,
    );
  }
  const locks = jvmLocks(options);
  const { handle } = await withAttach(
    ctx.pid,
    ctx.log,
    ctx.signal,
    () => locks.acquire(ctx.pid, "cpu-profile"),
    (session) => recordCpu(session, seconds, ctx.signal, ctx.log, ctx.procRoot),
    attachOptions(ctx, options),
  );
  const stream = handle.createReadStream({ highWaterMark: 1024 * 1024, autoClose: true });
  return new StreamedResult(
    stream,
    "application/octet-stream",
    `cpu-${ctx.pid}-${fileTimestamp(new Date())}.jfr`,
  );
}

/** What the cpu-profile action is built with; tests pass their own locks and timing. */
export interface CpuProfileOptions {
  readonly locks?: TargetLocks;
  readonly inspector?: InspectorOptions;
  readonly jvm?: JvmActionOptions;
}

/** Builds the cpu-profile action; tests pass their own locks or inspector timing. */
export function createCpuProfileAction(options: CpuProfileOptions = {}) {
  const locks = options.locks ?? inspectorLocks;
  return defineAction({
    name: "cpu-profile",
    description:
      "The target's CPU profile over the given number of seconds: a .cpuprofile of a Node target, a JFR recording of a JVM.",
    params: cpuProfileParams,
    outputs: ["inline", "stream"],
    // Until the last byte: a JVM recording lasts up to 300 s.
    limits: { timeoutMs: 400_000, maxConcurrency: 2, maxOutputBytes: 256 * 1024 * 1024 },
    async run(params, ctx): Promise<CpuProfile | StreamedResult> {
      ctx.signal.throwIfAborted();
      if (detectRuntime(ctx.pid, ctx.procRoot).runtime === "jvm") {
        return jvmRecording(params.seconds, ctx, options.jvm ?? {});
      }
      if (params.seconds > MAX_NODE_PROFILE_SECONDS) {
        throw new AgentError(
          "KH_BAD_PARAMS",
          `a cpu-profile of a Node target lasts at most ${MAX_NODE_PROFILE_SECONDS} s (${params.seconds} asked); up to 300 s is for JVM targets`,
        );
      }
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
      if (ctx.outputMode === "stream") {
        return new StreamedResult(
          Readable.from([Buffer.from(JSON.stringify(profile))]),
          "application/json",
          `cpu-${ctx.pid}-${fileTimestamp(new Date())}.cpuprofile`,
        );
      }
      return profile;
    },
  });
}

export const cpuProfileAction = createCpuProfileAction();
