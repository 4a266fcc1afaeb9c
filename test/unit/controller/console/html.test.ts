import { describe, expect, it } from "vitest";
import { paramList, withMarks } from "../../../../controller/console/format.js";
import { escapeHtml, html, join } from "../../../../controller/console/html.js";
import { safeNext } from "../../../../controller/console/routes.js";

describe("the console's one escaping helper", () => {
  it("escapes every interpolated string, in text and in attributes", () => {
    const reason = `<script>alert(1)</script><img src=x onerror="alert(2)"> 'quoted' \`tick\` & more`;
    const out = html`<p title="${reason}">${reason}</p>`.toString();
    expect(out).not.toMatch(/<script|<img|onerror="/);
    expect(out).toBe(
      `<p title="${escapeHtml(reason)}">&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=&quot;alert(2)&quot;&gt; &#39;quoted&#39; &#96;tick&#96; &amp; more</p>`,
    );
  });

  it("passes markup built by html (and lists of it) through once, and nothing else", () => {
    const inner = html`<b>${"<i>"}</b>`;
    expect(html`<p>${inner}${[inner, "<u>"]}</p>`.toString()).toBe(
      "<p><b>&lt;i&gt;</b><b>&lt;i&gt;</b>&lt;u&gt;</p>",
    );
    // A look-alike object is text, not markup.
    const fake = { toString: () => "<script>x</script>" } as unknown as string;
    expect(html`${fake}`.toString()).toBe("&lt;script&gt;x&lt;/script&gt;");
    expect(join(["<a>", html`<br>`], "<sep>").toString()).toBe("&lt;a&gt;&lt;sep&gt;<br>");
  });

  it("marks redact:false and highlights mask markers without unescaping anything", () => {
    expect(paramList({ redact: false }).toString()).toContain('class="risky"');
    expect(paramList({ file: "<x>" }).toString()).toContain("&quot;&lt;x&gt;&quot;");
    expect(withMarks("a <b> ⟦masked:aws-key:0123456789ab⟧ c").toString()).toBe(
      "a &lt;b&gt; <mark>⟦masked:aws-key:0123456789ab⟧</mark> c",
    );
  });
});

describe("where the console sends someone after login", () => {
  it("keeps paths under /ui/ and refuses anything that could leave the origin", () => {
    expect(safeNext("/ui/requests/8f3c2b1e-0000-4000-8000-000000000000")).toBe(
      "/ui/requests/8f3c2b1e-0000-4000-8000-000000000000",
    );
    expect(safeNext("/ui/requests?status=pending")).toBe("/ui/requests?status=pending");
    for (const bad of [
      "//evil.example",
      "/ui//evil.example",
      "https://evil.example/ui/",
      "/\\evil",
      "/ui/\\evil",
      "/v1/requests",
      "javascript:alert(1)",
      undefined,
      42,
    ])
      expect(safeNext(bad), String(bad)).toBe("/ui/inbox");
  });
});
