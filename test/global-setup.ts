/**
 * The end-to-end tests run the real `keyhole` executable, which loads the compiled dist/; build it
 * once before the suite so a test never runs stale code. The build is incremental
 * (tsconfig.build.json keeps dist/.tsbuildinfo): after `npm ci` (whose `prepare` builds) or an
 * earlier run, only what changed since is compiled again, a few seconds instead of a full build.
 * A missing output file is not rebuilt while the info file says it is current: `rm -rf dist`
 * (which takes the info file with it) forces a full build.
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
