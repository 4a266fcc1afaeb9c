import { describe, expect, it } from "vitest";
import {
  inspectAddress,
  parseHostPort,
  splitNodeOptions,
} from "../../../../../agent/runtimes/node/inspect-port.js";

describe("parseHostPort", () => {
  it.each([
    ["9230", { port: 9230 }],
    ["0", { port: 0 }],
    ["127.0.0.1:9231", { host: "127.0.0.1", port: 9231 }],
    ["0.0.0.0:0", { host: "0.0.0.0", port: 0 }],
    ["[::1]:9232", { host: "::1", port: 9232 }],
    ["[::1]", { host: "::1" }],
    ["localhost", { host: "localhost" }],
  ])("%s", (value, expected) => expect(parseHostPort(value)).toEqual(expected));

  it.each(["70000", "host:99999", ""])("refuses %j", (value) => expect(parseHostPort(value)).toBeUndefined());
});

describe("splitNodeOptions", () => {
  it("splits on spaces with double quotes", () => {
    expect(splitNodeOptions('--inspect-port=9300  --require "./a b.js" --title="x\\"y"')).toEqual([
      "--inspect-port=9300",
      "--require",
      "./a b.js",
      '--title=x"y',
    ]);
  });
});

describe("inspectAddress", () => {
  const node = "/usr/bin/node";
  it("defaults to 9229", () => expect(inspectAddress([node, "app.js"], undefined)).toEqual({ port: 9229 }));
  it("reads --inspect-port=0, --inspect=host:port, --inspect-brk, --debug-port", () => {
    expect(inspectAddress([node, "--inspect-port=0", "app.js"], undefined)).toEqual({ port: 0 });
    expect(inspectAddress([node, "--inspect=127.0.0.1:9300", "app.js"], undefined)).toEqual({
      host: "127.0.0.1",
      port: 9300,
    });
    expect(inspectAddress([node, "--inspect-brk=9301", "app.js"], undefined)).toEqual({ port: 9301 });
    expect(inspectAddress([node, "--debug-port", "9302", "app.js"], undefined)).toEqual({ port: 9302 });
    expect(inspectAddress([node, "--inspect", "app.js"], undefined)).toEqual({ port: 9229 });
  });
  it("reads NODE_OPTIONS, and the command line wins over it", () => {
    expect(inspectAddress([node, "app.js"], "--max-old-space-size=512 --inspect-port=9400")).toEqual({
      port: 9400,
    });
    expect(inspectAddress([node, "--inspect-port=9401", "app.js"], "--inspect=0.0.0.0:9400")).toEqual({
      host: "0.0.0.0",
      port: 9401,
    });
  });
  it("ignores the script's own arguments and option values", () => {
    expect(inspectAddress([node, "app.js", "--inspect-port=1234"], undefined)).toEqual({ port: 9229 });
    expect(inspectAddress([node, "-r", "--inspect-port=1", "app.js"], undefined)).toEqual({ port: 9229 });
    expect(inspectAddress([node, "--", "--inspect-port=1"], undefined)).toEqual({ port: 9229 });
  });
});
