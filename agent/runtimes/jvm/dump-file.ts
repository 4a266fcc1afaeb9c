/**
 * Running a command that makes the JVM write a file into its /tmp (GC.heap_dump, JFR.stop with a
 * file name), so that the file never stays there: the command's connection is detached from the
 * request's abort, and when the request is gone before the JVM answers (timeout, client gone),
 * the file is deleted once the JVM has finished writing it. The caller takes the file
 * (target-files.ts: open, then unlink) when the command succeeds.
 */
import type { FastifyBaseLogger } from "fastify";
import { raceAbort } from "../node/wait.js";
import type { AttachSession, JcmdReply } from "./attach-session.js";
import type { JcmdCommand } from "./jcmd-commands.js";
import { removeTargetFile, type TargetFile } from "./target-files.js";

/** The longest the agent waits, detached, for a JVM to finish writing a file nobody will read. */
export const DETACHED_WAIT_MS = 30 * 60_000;

export async function runWritingFile(
  session: AttachSession,
  command: JcmdCommand,
  file: TargetFile,
  signal: AbortSignal,
  log: FastifyBaseLogger,
  detachedWaitMs = DETACHED_WAIT_MS,
): Promise<JcmdReply> {
  const reply = session.run(command, AbortSignal.timeout(detachedWaitMs), { detached: true });
  void reply
    .catch(() => undefined)
    .then(async () => {
      if (!signal.aborted) return;
      const removed = await removeTargetFile(file);
      if (removed)
        log.info({ pid: session.pid, file: file.inTarget }, "removed the abandoned file from the target");
      else
        log.error(
          { pid: session.pid, file: file.inTarget },
          "CANNOT REMOVE a file the agent had the JVM write",
        );
    });
  return raceAbort(reply, signal);
}
