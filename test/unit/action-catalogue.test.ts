/**
 * The controller checks filings against protocol/actions.ts; the agent runs its registry. They must
 * be one contract: every action the agent can run is in the catalogue with the very same params
 * schema object and the same output modes, and the catalogue names nothing the agent cannot run.
 */
import { describe, expect, it } from "vitest";
import { ACTIONS } from "../../agent/actions/index.js";
import { ACTION_OUTPUTS, ACTION_PARAMS, BUNDLE_ACTION } from "../../protocol/actions.js";

describe("the action catalogue", () => {
  it("names exactly the agent's actions, with the agent's own params schemas and output modes", () => {
    expect([...ACTION_PARAMS.keys()].sort()).toEqual([...ACTIONS.keys()].sort());
    expect([...ACTION_OUTPUTS.keys()].sort()).toEqual([...ACTIONS.keys()].sort());
    for (const [name, action] of ACTIONS) {
      expect([...(ACTION_OUTPUTS.get(name) ?? [])].sort()).toEqual([...action.outputs].sort());
      // The bundle's agent schema refines the shared one with its registry; the others are the same object.
      if (name !== BUNDLE_ACTION) expect(ACTION_PARAMS.get(name)).toBe(action.params);
    }
  });
});
