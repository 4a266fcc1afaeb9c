/**
 * `vm-info`: a JVM target's `VM.version`, `VM.flags`, `VM.uptime` and `VM.system_properties`, four
 * commands over one attach session. System properties are masked by name and value like
 * environment variables (`-Ddb.password=…` is a secret by its name); the rest as text. None of
 * these pause the target. Node targets are refused.
 */
import { vmInfoParams } from "../../protocol/actions.js";
import type { MaskedValue } from "../redact/index.js";
import { Jcmd } from "../runtimes/jvm/jcmd-commands.js";
import { withAttach } from "../runtimes/jvm/session.js";
import { parseSystemProperties, parseUptime } from "../runtimes/jvm/vm-text.js";
import { attachOptions, type JvmActionOptions, jvmLocks, requireJvm } from "./jvm-target.js";
import { defineAction } from "./types.js";

export interface SystemProperty extends MaskedValue {
  readonly name: string;
}

export interface VmInfoResult {
  readonly pid: number;
  /** VM.version, masked. */
  readonly version: string;
  /** VM.flags, masked. */
  readonly flags: string;
  readonly uptimeSeconds: number | null;
  readonly systemProperties: SystemProperty[];
  readonly maskedCount: number;
}

export function createVmInfoAction(options: JvmActionOptions = {}) {
  const locks = jvmLocks(options);
  return defineAction({
    name: "vm-info",
    description: "VM.version, VM.flags, VM.uptime and VM.system_properties (masked) of a JVM target.",
    params: vmInfoParams,
    outputs: ["inline"],
    limits: { timeoutMs: 30_000, maxConcurrency: 4, maxOutputBytes: 8 * 1024 * 1024 },
    async run(_params, ctx): Promise<VmInfoResult> {
      ctx.signal.throwIfAborted();
      requireJvm(ctx, "vm-info");
      const raw = await withAttach(
        ctx.pid,
        ctx.log,
        ctx.signal,
        () => locks.acquire(ctx.pid, "vm-info"),
        async (session) => ({
          version: await session.runOk(Jcmd.vmVersion(), ctx.signal),
          flags: await session.runOk(Jcmd.vmFlags(), ctx.signal),
          uptime: await session.runOk(Jcmd.vmUptime(), ctx.signal),
          properties: await session.runOk(Jcmd.vmSystemProperties(), ctx.signal),
        }),
        attachOptions(ctx, options),
      );
      const systemProperties = parseSystemProperties(raw.properties).map(([name, value]) => ({
        name,
        ...ctx.redactor.maskEnv(name, value),
      }));
      return {
        pid: ctx.pid,
        version: ctx.redactor.maskText(raw.version.trim()),
        flags: ctx.redactor.maskText(raw.flags.trim()),
        uptimeSeconds: parseUptime(raw.uptime),
        systemProperties,
        maskedCount: systemProperties.filter((p) => p.masked).length,
      };
    },
  });
}

export const vmInfoAction = createVmInfoAction();
