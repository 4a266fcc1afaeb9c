/**
 * The end-to-end tests run the real `keyhole` executable, which loads the compiled dist/; build it
 * once before the suite so a test never runs stale code.
 */
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

export default function setup(): void {
  const root = fileURLToPath(new URL("..", import.meta.url));
  execFileSync(
    process.execPath,
    [`${root}node_modules/typescript/bin/tsc`, "-p", `${root}tsconfig.build.json`],
    {
      cwd: root,
      stdio: "inherit",
    },
  );
}
