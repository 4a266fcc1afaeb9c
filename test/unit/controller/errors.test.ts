import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { CONTROLLER_ERRORS, ControllerError } from "../../../controller/errors.js";

describe("the controller's error catalogue", () => {
  it("has unique KH_ codes with 4xx/5xx statuses, each documented with its status in docs/controller-api.md", async () => {
    const doc = await readFile(new URL("../../../docs/controller-api.md", import.meta.url), "utf8");
    for (const [code, { status, description }] of Object.entries(CONTROLLER_ERRORS)) {
      expect(code).toMatch(/^KH_[A-Z_]+$/);
      expect(status >= 400 && status < 600).toBe(true);
      expect(description.length).toBeGreaterThan(10);
      expect(doc, code).toMatch(new RegExp(`\\| ${status} \\| \`${code}\` \\|`));
    }
  });

  it("renders the wire shape", () => {
    const err = new ControllerError("KH_SELF_APPROVAL", "no", { cause: new Error("x") });
    expect(err.status).toBe(403);
    expect(err.toBody()).toEqual({ error: { code: "KH_SELF_APPROVAL", message: "no" } });
  });
});
