import { describe, expect, it } from "vitest";
import { ControllerError } from "../../../controller/errors.js";

// Codes against the docs, for both services: test/unit/error-catalogue.test.ts.
describe("the controller's error catalogue", () => {
  it("renders the wire shape", () => {
    const err = new ControllerError("KH_SELF_APPROVAL", "no", { cause: new Error("x") });
    expect(err.status).toBe(403);
    expect(err.toBody()).toEqual({ error: { code: "KH_SELF_APPROVAL", message: "no" } });
  });
});
