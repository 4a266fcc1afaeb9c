/**
 * Console attack F5: the `next` parameter after login was matched as text, so `/ui/../..` (which a
 * browser resolves to `/`) and `/ui/../v1/…` passed as console paths. It is judged after the dot
 * segments are resolved now, and what is followed is the resolved path.
 */
import { describe, expect, it } from "vitest";
import { safeNext } from "../../../../controller/console/routes.js";

describe("issue-19-attack-F5-next-normalised", () => {
  it("refuses a next that leaves /ui/ once its dot segments are resolved", () => {
    for (const bad of [
      "/ui/../..",
      "/ui/..",
      "/ui/../",
      "/ui/../v1/requests",
      "/ui/./../healthz",
      "/ui/requests/../../v1/whoami",
      "/ui/.../../..",
    ])
      expect(safeNext(bad), bad).toBe("/ui/inbox");
  });

  it("follows the resolved path when it stays under /ui/", () => {
    expect(safeNext("/ui/requests/../reviews")).toBe("/ui/reviews");
    expect(safeNext("/ui/./audit?subject=bob")).toBe("/ui/audit?subject=bob");
    expect(safeNext("/ui/inbox")).toBe("/ui/inbox");
  });
});
