import { describe, expect, it } from "vitest";
import { announcementText } from "../../../../controller/requests/webhook.js";
import type { RequestRecord } from "../../../../controller/store/types.js";

const request: RequestRecord = {
  id: "0b8f6a6e-1f0e-4c0a-9a55-2f4d3c2b1a00",
  status: "pending",
  subject: "user:alice@example.com",
  action: "env",
  target: "production/shop/shop-0",
  environment: "production",
  params: {},
  reason: "INC-1",
  ticket: "INC-1",
  output: "inline",
  approvalsRequired: 1,
  approvals: [],
  createdAt: 0,
  updatedAt: 0,
  expiresAt: 3_600_000,
  jti: undefined,
  kid: undefined,
  result: undefined,
  error: undefined,
  denial: undefined,
  artifactId: undefined,
  breakGlass: false,
  requester: undefined,
};

describe("chat announcements and the console", () => {
  it("link a pending request to its console page when the public URL is known", () => {
    const text = announcementText({ kind: "pending", request }, "https://keyhole.example.com");
    expect(text).toContain(`https://keyhole.example.com/ui/requests/${request.id}`);
    // Deciding still happens signed in (console or CLI), never by answering the chat.
    expect(text).toContain(`keyhole approve ${request.id}`);
  });

  it("say nothing of a console whose URL is not configured", () => {
    expect(announcementText({ kind: "pending", request })).not.toContain("/ui/");
  });
});
