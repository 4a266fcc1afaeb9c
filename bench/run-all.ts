/**
 * `npm run bench`: every benchmark, each printing its ratio against a reference measured in the
 * same run. `npm run bench -- verify` runs only the named ones.
 */
import { benchAgentHttp } from "./agent-http.js";
import { benchArtifacts } from "./artifacts.js";
import { benchAudit } from "./audit.js";
import { benchFleet } from "./fleet.js";
import { benchFuzz } from "./fuzz.js";
import { benchHeapSnapshot } from "./heap-snapshot.js";
import { type BenchResult, formatResult } from "./lib.js";
import { benchLoad } from "./load.js";
import { benchLogTail } from "./log-tail.js";
import { benchOidc } from "./oidc.js";
import { benchPolicyReload } from "./policy-reload.js";
import { benchRedact } from "./redact.js";
import { benchStore } from "./store.js";
import { benchVerify } from "./verify.js";

const BENCHES: Record<string, () => Promise<BenchResult | BenchResult[]>> = {
  verify: () => benchVerify(),
  "agent-http": () => benchAgentHttp(),
  audit: () => benchAudit(),
  "log-tail": () => benchLogTail(),
  redact: () => benchRedact(),
  "heap-snapshot": () => benchHeapSnapshot(),
  artifacts: () => benchArtifacts(),
  fleet: () => benchFleet(),
  oidc: () => benchOidc(),
  fuzz: () => benchFuzz(),
  load: () => benchLoad(),
  store: () => benchStore(),
  "policy-reload": () => benchPolicyReload(),
};

const wanted = process.argv.slice(2);
const unknown = wanted.filter((name) => !(name in BENCHES));
if (unknown.length > 0) {
  process.stderr.write(`unknown bench: ${unknown.join(", ")}; known: ${Object.keys(BENCHES).join(", ")}\n`);
  process.exit(2);
}
let missed = 0;
for (const [name, run] of Object.entries(BENCHES)) {
  if (wanted.length > 0 && !wanted.includes(name)) continue;
  process.stdout.write(`\n[${name}] running…\n`);
  const results = [await run()].flat();
  for (const result of results) {
    process.stdout.write(`${formatResult(result)}\n`);
    if (!result.met) missed++;
  }
}
process.stdout.write(`\n${missed === 0 ? "every goal met" : `${missed} goal(s) missed`}\n`);
