/** Entry point of the `keyhole` executable (bin/keyhole.js loads the compiled form). */
import { main } from "./program.js";

const exitCode = await main(process.argv.slice(2), process.env);
// Long-running commands (agent, controller) keep the event loop alive themselves.
if (exitCode !== 0) process.exit(exitCode);
