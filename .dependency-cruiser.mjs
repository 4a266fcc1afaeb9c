/**
 * The import boundaries of the product code, checked by dependency-cruiser in `npm run lint`
 * (`npm run lint:deps` alone). Each is a security property as much as a tidy graph: the agent
 * image must hold no controller code, the masking engine must not learn where its text comes
 * from, a /proc reader or a runtime adapter must not know who asks or why.
 *
 * Paths are relative to the folder the check runs in (the repository root) and anchored with `^`:
 * a checkout under /tmp/agent/ is no different from any other. Every import counts: static,
 * dynamic `import()` with a literal specifier, `export … from`, and type-only imports (a type
 * from the other program is coupling all the same).
 *
 * Only the product is checked (agent/, controller/, cli/, protocol/, common/): tests and benches
 * legitimately drive both programs. cli/ is the executable that starts either program, so it may
 * import both; nothing else imports cli/, which keeps the agent from reaching the controller
 * through it.
 *
 * test/unit/dependency-rules.test.ts runs this file, with the lint:deps command, against a small
 * tree that breaks every rule and one that keeps them all.
 */

/** What is not ours: packages (Node built-ins are matched by their dependency type, "core"). */
const PACKAGES = "^node_modules/";
const PRODUCT = "^(agent|controller|cli|protocol|common)/";

/**
 * `from` may import, of our own code, only what `allowed` names (packages and built-ins always).
 * @param {string} name
 * @param {string} comment
 * @param {string} from
 * @param {string[]} allowed
 */
function onlyImports(name, comment, from, allowed) {
  return {
    name,
    comment,
    severity: "error",
    from: { path: from },
    to: { pathNot: [...allowed, PACKAGES], dependencyTypesNot: ["core"] },
  };
}

/** @type {import("dependency-cruiser").IConfiguration} */
export default {
  forbidden: [
    {
      name: "agent-not-to-controller",
      comment:
        "The agent never imports the controller: the two programs share only protocol/ (the wire contract) and common/.",
      severity: "error",
      from: { path: "^agent/" },
      to: { path: "^controller/" },
    },
    {
      name: "controller-not-to-agent",
      comment:
        "The controller never imports the agent: what both need is in protocol/ (the wire contract) or common/.",
      severity: "error",
      from: { path: "^controller/" },
      to: { path: "^agent/" },
    },
    onlyImports(
      "protocol-imports-only-itself",
      "protocol/ is the wire contract and belongs to neither program: of our code it imports only protocol/.",
      "^protocol/",
      ["^protocol/"],
    ),
    onlyImports(
      "common-imports-no-program",
      "common/ holds what both servers need: of our code it imports only common/ and protocol/, never agent/, controller/ or cli/.",
      "^common/",
      ["^common/", "^protocol/"],
    ),
    onlyImports(
      "redact-is-pure",
      "The masking engine (agent/redact/) is text in, text out: of our code it imports only agent/redact/ and protocol/, nothing of actions, runtimes, readers or HTTP.",
      "^agent/redact/",
      ["^agent/redact/", "^protocol/"],
    ),
    onlyImports(
      "proc-knows-no-requester",
      "A /proc or cgroup reader (agent/proc/) does not know who asks or why: of our code it imports only agent/proc/, the error catalogue (agent/errors.ts), protocol/ and common/; never an action, the request path (app, verify, run-action) or the agent's start-up.",
      "^agent/proc/",
      ["^agent/proc/", "^agent/errors\\.ts$", "^protocol/", "^common/"],
    ),
    onlyImports(
      "runtimes-know-no-requester",
      "A runtime adapter (agent/runtimes/) does not know who asks or why: of our code it imports only agent/runtimes/, the readers (agent/proc/), the masking engine (agent/redact/), the error catalogue (agent/errors.ts), protocol/ and common/; never an action, the request path (app, verify, run-action) or the agent's start-up.",
      "^agent/runtimes/",
      ["^agent/runtimes/", "^agent/proc/", "^agent/redact/", "^agent/errors\\.ts$", "^protocol/", "^common/"],
    ),
    {
      name: "nothing-imports-cli",
      comment:
        "cli/ is the executable that starts either program; agent/, controller/, protocol/ and common/ never import it (through it the agent would reach the controller).",
      severity: "error",
      from: { path: "^(agent|controller|protocol|common)/" },
      to: { path: "^cli/" },
    },
    {
      name: "product-imports-no-tests",
      comment: "The product never imports tests, benches or examples: none of them ships.",
      severity: "error",
      from: { path: PRODUCT },
      to: { path: "^(test|bench|examples)/" },
    },
    {
      name: "imports-resolve",
      comment:
        "Every import of the product resolves to a file, a package or a built-in: an import the check cannot follow is one no rule above can judge.",
      severity: "error",
      from: { path: PRODUCT },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    // Type-only imports count too.
    tsPreCompilationDeps: true,
    doNotFollow: { path: "node_modules" },
    // Only the rules above: no cycle, orphan or reachability analysis to pay for.
    skipAnalysisNotInRules: true,
    // Built-ins that exist only with the node: scheme (node:sqlite) are listed with the scheme in
    // module.builtinModules, which this version of the checker does not recognise as built-in.
    builtInModules: { add: ["node:sqlite"] },
  },
};
