/** `keyhole demo`: the product end to end on embedded defaults, offline. */
import type { Command } from "commander";

export function registerDemoCommand(program: Command, env: NodeJS.ProcessEnv): void {
  program
    .command("demo")
    .description("start a controller, two agents and a sample workload on 127.0.0.1, run a tour, stop them")
    .option("--data-dir <dir>", "keep the demo's data here (default: a new temporary folder)")
    .action(async (opts) => {
      const { runDemo } = await import("../demo/tour.js");
      await runDemo({ dataDir: opts.dataDir }, env);
    });
}
