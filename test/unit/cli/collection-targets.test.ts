import { describe, expect, it } from "vitest";
import { targetsTable } from "../../../cli/commands/collections.js";

describe("a collection's targets table", () => {
  it("shows the targets of a pending collection, which the API lists without a status, as not started", () => {
    // Found in the third attacker pass (2026-12-02): `keyhole run … --selector` without --wait filed
    // the collection, then failed with exit 1 while printing it.
    const shown = targetsTable({
      targets: [{ target: "production/shop/shop-0" }, { target: "production/shop/shop-1" }],
    });
    expect(shown.split("\n")).toEqual([
      "TARGET                  STATUS       DETAIL",
      "production/shop/shop-0  not started  ",
      "production/shop/shop-1  not started  ",
    ]);
  });

  it("shows a started target's status and detail", () => {
    const shown = targetsTable({
      targets: [{ target: "a", status: "failed", error: { code: "KH_TIMEOUT", message: "slow" } }],
    });
    expect(shown).toContain("failed  KH_TIMEOUT: slow");
  });
});
