/**
 * `keyhole demo`: a controller, two agents (staging and production) and a sample Node workload,
 * started as real processes on loopback, then a tour driven by the real CLI: process facts, a
 * masked environment, a log tail whose leaked password is masked, a heap snapshot stored as an
 * artifact, and a production request that needs a second person's approval.
 */
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createEmptyReplayLog } from "../../agent/replay-log.js";
import { DEFAULT_POLICY_YAML } from "../../controller/policy/default-policy.js";
import { CliError } from "../errors.js";
import { printLine } from "../output.js";
import {
  KEYHOLE_BIN,
  runKeyhole,
  SAMPLE_JVM_WORKLOAD,
  SAMPLE_WORKLOAD,
  type Service,
  startProcess,
} from "./processes.js";

/** The `java` on PATH, if any: the demo's JVM workload runs only where a JDK is installed. */
function findJava(path: string | undefined): string | undefined {
  for (const dir of (path ?? "").split(":")) {
    if (dir && existsSync(join(dir, "java"))) return join(dir, "java");
  }
  return undefined;
}

export interface DemoOptions {
  readonly dataDir?: string | undefined;
}

const isListening = (line: Record<string, unknown>) =>
  line.msg === "listening" && typeof line.url === "string";

function heading(text: string): void {
  printLine();
  printLine(`── ${text}`);
}

/** Runs the CLI as `who`, echoing the command and its output as a person would see them. */
async function show(args: string[], env: NodeJS.ProcessEnv, who: string, expectFailure = false) {
  printLine(`${who}$ keyhole ${args.map((a) => (/[\s"']/.test(a) ? JSON.stringify(a) : a)).join(" ")}`);
  const result = await runKeyhole(args, env);
  // Progress notes (stderr) come before the result (stdout), as they appeared.
  const out = `${result.stderr}${result.stdout}`.trimEnd();
  if (out) printLine(out.replace(/^/gm, "  "));
  if ((result.code === 0) === expectFailure) {
    throw new CliError(`demo step failed: keyhole ${args.join(" ")} exited ${result.code}`);
  }
  return result;
}

async function runJson<T>(args: string[], env: NodeJS.ProcessEnv): Promise<T> {
  const result = await runKeyhole([...args, "--json"], env);
  if (result.code !== 0)
    throw new CliError(`demo step failed: keyhole ${args.join(" ")}: ${result.stderr.trim()}`);
  return JSON.parse(result.stdout) as T;
}

export async function runDemo(options: DemoOptions, env: NodeJS.ProcessEnv): Promise<void> {
  const dataDir = options.dataDir ? resolve(options.dataDir) : await mkdtemp(join(tmpdir(), "keyhole-demo-"));
  const logs = join(dataDir, "logs");
  // The workload's own application log, the folder the agents may read (their --log-root).
  const appLogs = join(logs, "app");
  await mkdir(appLogs, { recursive: true, mode: 0o700 });
  const services: Service[] = [];
  const baseEnv: NodeJS.ProcessEnv = { PATH: env.PATH, HOME: env.HOME, KEYHOLE_DATA_DIR: dataDir };
  /** One tour agent on a free loopback port, pinning its environment's keys, beside `target`. */
  const startAgent = (
    id: string,
    environment: string,
    keyDir: string,
    stateDir: string,
    target: number,
    logName: string,
    extra: readonly string[],
  ) =>
    startProcess({
      name: `agent ${id}`,
      args: [
        KEYHOLE_BIN,
        "agent",
        "--id",
        id,
        "--environment",
        environment,
        "--trusted-keys",
        join(keyDir, "jwks.json"),
        "--listen",
        "127.0.0.1:0",
        "--target",
        String(target),
        ...extra,
      ],
      env: { ...baseEnv, KEYHOLE_STATE_DIR: stateDir },
      logFile: join(logs, logName),
      isReady: isListening,
    });
  // A fake secret the workload holds; the tour proves it never leaves the agent unmasked.
  const fakeSecret = `demo-${randomBytes(12).toString("hex")}`;
  const dbPassword = `pw-${randomBytes(6).toString("hex")}`;

  try {
    heading("keyhole demo: starting a sample workload, two agents and a controller on 127.0.0.1");
    printLine(`data dir: ${dataDir}`);

    const workload = await startProcess({
      name: "workload",
      args: [SAMPLE_WORKLOAD],
      env: {
        PATH: "/usr/local/bin:/usr/bin:/bin",
        NODE_ENV: "production",
        PORT: "0",
        DEMO_API_KEY: fakeSecret,
        DATABASE_URL: `postgres://shop:${dbPassword}@db.internal:5432/shop`,
        LOG_LEVEL: "info",
        LOG_FILE: join(appLogs, "shop.log"),
      },
      logFile: join(logs, "workload.log"),
      isReady: (line) => line.ready === true,
    });
    services.push(workload);
    printLine(
      `workload   pid ${workload.pid} (holds DEMO_API_KEY=${fakeSecret.slice(0, 5)}… and a database password)`,
    );

    const agents: Record<string, string> = {};
    /** The environments whose signing keys this run generated. */
    const freshKeys = new Set<string>();
    for (const environment of ["staging", "production"]) {
      const keyDir = join(dataDir, "keys", environment);
      const newKeys = !existsSync(join(keyDir, "signing-key.pem"));
      await runJson(["keys", "generate", "--out", keyDir, "--environment", environment], baseEnv);
      const id = `${environment}/shop/shop-0`;
      // The agent's state dir lives with the demo's data. When its keys are new, no earlier run can
      // have accepted an envelope they signed, so the agent may start with an empty replay log
      // rather than refuse every envelope of its first 30 s (agent/replay-log.ts, part 3).
      const stateDir = join(dataDir, "state", environment);
      if (newKeys) {
        freshKeys.add(environment);
        createEmptyReplayLog(stateDir, id);
      }
      const agent = await startAgent(
        id,
        environment,
        keyDir,
        stateDir,
        workload.pid,
        `agent-${environment}.log`,
        ["--log-root", appLogs],
      );
      services.push(agent);
      agents[environment] = String(agent.ready.url);
      printLine(`agent      ${id} at ${agent.ready.url} (pins keys/${environment}/jwks.json)`);
    }

    // A JVM beside a third agent, when this machine has a JDK.
    const java = findJava(env.PATH);
    let jvmAgent = false;
    if (java) {
      const jvm = await startProcess({
        name: "jvm workload",
        command: java,
        args: ["-Xmx64m", SAMPLE_JVM_WORKLOAD],
        env: { PATH: env.PATH, DEMO_API_KEY: fakeSecret },
        logFile: join(logs, "jvm-workload.log"),
        isReady: (line) => line.ready === true,
        timeoutMs: 60_000,
      });
      services.push(jvm);
      printLine(
        `jvm        pid ${jvm.pid} (java ${SAMPLE_JVM_WORKLOAD}; holds DEMO_API_KEY in a heap string)`,
      );
      const id = "staging/jvm/jvm-0";
      const stateDir = join(dataDir, "state", "staging-jvm");
      const keyDir = join(dataDir, "keys", "staging");
      // As for the other agents: no earlier run can have served this id from this state dir.
      if (freshKeys.has("staging") || !existsSync(stateDir)) createEmptyReplayLog(stateDir, id);
      const agent = await startAgent(id, "staging", keyDir, stateDir, jvm.pid, "agent-staging-jvm.log", []);
      services.push(agent);
      agents["staging-jvm"] = String(agent.ready.url);
      jvmAgent = true;
      printLine(`agent      ${id} at ${agent.ready.url} (beside the JVM)`);
    } else {
      printLine(
        "jvm        skipped: no java on PATH (install a JDK 17, e.g. openjdk-17-jdk-headless, to tour the JVM actions)",
      );
    }

    const policyFile = join(dataDir, "policy.yaml");
    const inventoryFile = join(dataDir, "inventory.yaml");
    // The embedded default policy, written out so the operator can read and start from it.
    await writeFile(policyFile, DEFAULT_POLICY_YAML);
    await writeFile(
      inventoryFile,
      Object.entries(agents)
        .map(([key, url]) =>
          key === "staging-jvm"
            ? `- { id: staging/jvm/jvm-0, environment: staging, url: "${url}", labels: { app: jvm } }\n`
            : `- { id: ${key}/shop/shop-0, environment: ${key}, url: "${url}", labels: { app: shop } }\n`,
        )
        .join(""),
    );
    const controller = await startProcess({
      name: "controller",
      args: [
        KEYHOLE_BIN,
        "controller",
        "--data-dir",
        dataDir,
        "--policy",
        policyFile,
        "--inventory",
        inventoryFile,
        "--listen",
        "127.0.0.1:0",
      ],
      env: baseEnv,
      logFile: join(logs, "controller.log"),
      isReady: isListening,
    });
    services.push(controller);
    printLine(`controller ${controller.ready.url} (SQLite in ${join(dataDir, "keyhole.db")})`);

    heading("tokens for two SREs (the controller stores only their hashes)");
    const people: Record<string, NodeJS.ProcessEnv> = {};
    for (const name of ["alice", "bob"]) {
      const issued = await runJson<{ token: string; id: string }>(
        ["token", "issue", "--subject", `user:${name}@example.com`, "--groups", "sre", "--ttl", "1h"],
        baseEnv,
      );
      printLine(
        `$ keyhole token issue --subject user:${name}@example.com --groups sre --ttl 1h   → token ${issued.id}`,
      );
      people[name] = { ...baseEnv, KEYHOLE_URL: String(controller.ready.url), KEYHOLE_TOKEN: issued.token };
    }
    const alice = people.alice!;
    const bob = people.bob!;

    heading("1. process facts from staging (no approval needed there)");
    await show(
      ["run", "process-info", "--target", "staging/shop/shop-0", "--reason", "demo: memory check", "--wait"],
      alice,
      "alice",
    );

    heading("2. the workload's environment, masked inside the pod before it leaves");
    const env1 = await show(
      ["run", "env", "--target", "staging/shop/shop-0", "--reason", "demo: confirm config", "--wait"],
      alice,
      "alice",
    );
    if (env1.stdout.includes(fakeSecret) || env1.stdout.includes(dbPassword)) {
      throw new CliError("demo check failed: a secret left the agent unmasked");
    }
    printLine("✓ DEMO_API_KEY and the password in DATABASE_URL are masked; names and the rest stay readable");

    heading("3. the workload's own log: its start-up line leaked the database URL, the agent masks it");
    const tail = await show(
      [
        "run",
        "log-tail",
        "--target",
        "staging/shop/shop-0",
        "--param",
        "file=shop.log",
        "--param",
        "lines=4",
        "--param",
        "contains=database",
        "--reason",
        "demo: why is the pool failing",
        "--wait",
      ],
      alice,
      "alice",
    );
    if (tail.stdout.includes(dbPassword))
      throw new CliError("demo check failed: a secret left the agent unmasked");
    if (!tail.stdout.includes("db.internal"))
      throw new CliError("demo check failed: the log line did not come back");
    printLine("✓ the password is masked in the log line as well; user, host and the rest of the line stay");

    heading("4. production needs a second person: alice asks, alice cannot approve herself, bob approves");
    const created = await runJson<{ request: { id: string; status: string } }>(
      [
        "run",
        "env",
        "--target",
        "production/shop/shop-0",
        "--reason",
        "demo: INC-1234 config drift",
        "--ticket",
        "INC-1234",
      ],
      alice,
    );
    const id = created.request.id;
    printLine(
      `alice$ keyhole run env --target production/shop/shop-0 --reason "demo: INC-1234 config drift" --ticket INC-1234`,
    );
    printLine(`  request ${id} ${created.request.status}`);
    await show(["approve", id], alice, "alice", true);
    await show(["approve", id, "--note", "matches INC-1234"], bob, "bob");
    const done = await show(["status", id, "--wait"], alice, "alice");
    if (done.stdout.includes(fakeSecret))
      throw new CliError("demo check failed: a secret left the agent unmasked");

    heading("5. a heap snapshot, its strings masked in the pod, stored as an artifact with its SHA-256");
    const snapshot = await show(
      [
        "run",
        "heap-snapshot",
        "--target",
        "staging/shop/shop-0",
        "--output",
        "stream",
        "--reason",
        "demo: memory growth",
        "--wait",
      ],
      alice,
      "alice",
    );
    const artifactId = /keyhole artifacts get (\S+)/.exec(snapshot.stdout)?.[1];
    if (!artifactId) throw new CliError("demo step failed: the heap snapshot named no artifact");
    const snapshotFile = join(dataDir, "shop-0.heapsnapshot");
    await show(["artifacts", "get", artifactId, "-o", snapshotFile], alice, "alice");
    const heap = await readFile(snapshotFile, "utf8");
    if (heap.includes(fakeSecret) || heap.includes(dbPassword)) {
      throw new CliError("demo check failed: a secret left the agent inside the heap snapshot");
    }
    const counts = (JSON.parse(heap) as { snapshot: { node_count: number } }).snapshot.node_count;
    printLine(
      `✓ ${snapshotFile} is a valid snapshot (${counts} nodes, opens in Chrome DevTools → Memory); the API key and the password are not in it`,
    );

    if (jvmAgent) {
      heading(
        "6. a JVM beside its own agent: threads and VM facts over HotSpot's attach socket, no JDK in the agent",
      );
      const threads = await show(
        ["run", "thread-dump", "--target", "staging/jvm/jvm-0", "--reason", "demo: stuck orders", "--wait"],
        alice,
        "alice",
      );
      const vm = await show(
        ["run", "vm-info", "--target", "staging/jvm/jvm-0", "--reason", "demo: which JVM", "--wait"],
        alice,
        "alice",
      );
      if ((threads.stdout + vm.stdout).includes(fakeSecret)) {
        throw new CliError("demo check failed: a secret left the agent unmasked");
      }
      if (!threads.stdout.includes("order-worker-0")) {
        throw new CliError("demo check failed: the thread dump did not name the JVM's threads");
      }
      printLine(
        "✓ the JVM's threads and flags, read without a shell or a JDK in the agent; the API key is not in them",
      );
    } else {
      heading("6. a JVM beside its own agent: skipped (no java on PATH)");
    }

    heading("7. everything is on record");
    await show(["requests"], alice, "alice");

    heading("where the data lives");
    printLine(`data dir      ${dataDir}`);
    printLine(
      `database      ${join(dataDir, "keyhole.db")}  (requests, results, approvals, token hashes, audit chain)`,
    );
    printLine(
      `signing keys  ${join(dataDir, "keys", "<environment>", "signing-key.pem")}  (agents pin jwks.json beside it)`,
    );
    printLine(
      `artifacts     ${join(dataDir, "artifacts")}/  (heap snapshots and bundles; keyhole artifacts ls)`,
    );
    printLine(`policy        ${policyFile}`);
    printLine(`inventory     ${inventoryFile}`);
    printLine(`logs          ${logs}/  (controller, agents: one line per request; workload)`);
    printLine(`app log       ${join(appLogs, "shop.log")}  (the workload's own log, unmasked on disk)`);
  } finally {
    for (const service of services.reverse()) await service.stop();
  }
  heading("all processes stopped; demo finished");
}
