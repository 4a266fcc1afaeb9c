/**
 * A CPU recording of a JVM with Flight Recorder: an in-memory recording of the sampling events
 * only (jcmd-commands.ts: settings=none plus an allow-list, so no event carrying the environment,
 * system properties or command lines), stopped after `seconds` into a file the agent named in the
 * target's /tmp, which is taken (opened, then unlinked) at once. On any failure or abort the
 * recording is stopped and discarded; should the agent die, the JVM stops it 30 s after its end.
 */
import { randomBytes } from "node:crypto";
import type { FileHandle } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import type { FastifyBaseLogger } from "fastify";
import { AgentError } from "../../errors.js";
import type { AttachSession } from "./attach-session.js";
import { runWritingFile } from "./dump-file.js";
import { Jcmd } from "./jcmd-commands.js";
import { newTargetFile, removeTargetFile, takeTargetFile } from "./target-files.js";

export async function recordCpu(
  session: AttachSession,
  seconds: number,
  signal: AbortSignal,
  log: FastifyBaseLogger,
  procRoot: string,
): Promise<{ handle: FileHandle; size: number }> {
  const name = `keyhole-${randomBytes(8).toString("hex")}`;
  const file = newTargetFile(session.pid, "cpu", "jfr", procRoot);
  // From the moment JFR.start goes out: an abort while it is in flight may come after the JVM
  // started the recording (stopping one that never started only fails).
  let running = true;
  try {
    await session.runOk(Jcmd.jfrStart(name, seconds), signal);
    await sleep(seconds * 1000, undefined, { signal, ref: false }).catch((err: unknown) => {
      throw signal.aborted ? signal.reason : err;
    });
    const reply = await runWritingFile(session, Jcmd.jfrStopTo(name, file.inTarget), file, signal, log);
    running = false;
    if (reply.status !== 0) {
      throw new AgentError(
        "KH_ACTION_FAILED",
        `the JVM's JFR.stop failed: ${reply.output.split("\n", 1)[0]!.slice(0, 300)}`,
      );
    }
    return await takeTargetFile(file);
  } finally {
    if (running) {
      // Not the request's signal: it may be the reason we are here.
      await session.run(Jcmd.jfrStop(name), AbortSignal.timeout(10_000)).then(
        (r) => log.info({ pid: session.pid, status: r.status }, "stopped the abandoned JFR recording"),
        (err: unknown) =>
          log.error(
            { err, pid: session.pid, recording: name },
            "CANNOT STOP the agent's JFR recording in the target",
          ),
      );
    }
    await removeTargetFile(file);
  }
}
