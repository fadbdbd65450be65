/** The alert channels API: create, read, update, delete, secrets masked and sealed, the test call of each type at local servers. */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, detailPaths, expectError, expectStatus, newWorkspace, seedModelAndDestination, syncBody, tokenFor } from "../harness";
import {
  answerReceiver,
  configureSlack,
  pagerDutyChannel,
  pagerDutyState,
  receiverState,
  slackChannel,
  slackState,
  verifiedPayload,
  webhookChannel,
} from "./helpers";

describe("alert channels API", () => {
  it("creates a webhook channel, shows its signing secret once, lists, gets and deletes it", async () => {
    const { id, secret } = await webhookChannel({ default: true });
    expect(id).toMatch(/^chn_/);
    const got = await api.get(`/api/v1/alert-channels/${id}`);
    expectStatus(got, 200);
    expect(got.body).toMatchObject({ id, type: "webhook", default: true, last_sent_at: null, last_error: null });
    expect(JSON.stringify(got.body)).not.toContain(secret);
    const list = await api.get("/api/v1/alert-channels?limit=200");
    expectStatus(list, 200);
    expect(list.body.data.map((c) => c.id)).toContain(id);
    expect(JSON.stringify(list.body)).not.toContain(secret);
    expectStatus(await api.delete(`/api/v1/alert-channels/${id}`), 204);
    expectError(await api.get(`/api/v1/alert-channels/${id}`), 404, "not_found");
  });

  it("pages the list with next_cursor", async () => {
    const { workspaceId: _ws, token } = await newWorkspace("admin");
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push((await webhookChannel({}, token)).id);
    const first = await api.get("/api/v1/alert-channels?limit=2", { token });
    expectStatus(first, 200);
    expect(first.body.data.map((c) => c.id)).toEqual([ids[2], ids[1]]);
    const second = await api.get(`/api/v1/alert-channels?limit=2&cursor=${first.body.next_cursor}`, { token });
    expect(second.body.data.map((c) => c.id)).toEqual([ids[0]]);
    expect(second.body.next_cursor).toBeNull();
  });

  it("masks the Slack webhook URL and the PagerDuty routing key and keeps neither in plain text in D1", async () => {
    const slack = await slackChannel();
    const pd = await pagerDutyChannel();
    const s = await api.get(`/api/v1/alert-channels/${slack.id}`);
    expect(s.body.config.webhook_url).toBe("****XXXX");
    const p = await api.get(`/api/v1/alert-channels/${pd.id}`);
    expect(p.body.config.routing_key).toBe(`****${pd.routingKey.slice(-4)}`);
    const rows = JSON.stringify(
      (await env.DB.prepare("SELECT * FROM alert_channels WHERE id IN (?, ?)").bind(slack.id, pd.id).all()).results,
    );
    expect(rows).not.toContain(pd.routingKey);
    expect(rows).not.toContain(slack.hook);
  });

  it("refuses bad configs with a 400 naming the field", async () => {
    const post = (body: unknown) => api.post("/api/v1/alert-channels", { body });
    expectError(await post({ name: "x", type: "sms", config: {} }), 400, "validation_failed", "type");
    expectError(await post({ name: "x", type: "webhook", config: {} }), 400, "validation_failed", "config.url");
    expectError(await post({ name: "x", type: "webhook", config: { url: "file:///etc/passwd" } }), 400, "validation_failed", "config.url");
    expectError(
      await post({ name: "x", type: "webhook", config: { url: "https://a.example.com", extra: 1 } }),
      400,
      "validation_failed",
      "config.extra",
    );
    expectError(
      await post({ name: "x", type: "slack", config: { webhook_url: "not a url" } }),
      400,
      "validation_failed",
      "config.webhook_url",
    );
    expectError(await post({ name: "x", type: "email", config: { to: [] } }), 400, "validation_failed", "config.to");
    expectError(await post({ name: "x", type: "email", config: { to: ["nobody"] } }), 400, "validation_failed", "config.to.0");
    expectError(
      await post({ name: "x", type: "pagerduty", config: { routing_key: "short" } }),
      400,
      "validation_failed",
      "config.routing_key",
    );
    expectError(await post({ name: "", type: "email", config: { to: ["a@b.example.com"] } }), 400, "validation_failed", "name");
  });

  it("refuses private addresses when the deployment does not allow them", async () => {
    const { checkConfig } = await import("../../src/routes/alert-channels/schema");
    for (const url of ["http://127.0.0.1/hook", "http://169.254.169.254/latest", "http://[::1]/", "http://metadata.google.internal/"]) {
      expect(() => checkConfig({ ALLOW_PRIVATE_DESTINATIONS: "false" }, "webhook", { url })).toThrow(/refused/);
      expect(() => checkConfig({ ALLOW_PRIVATE_DESTINATIONS: "false" }, "slack", { webhook_url: url })).toThrow(/refused/);
    }
    expect(checkConfig({ ALLOW_PRIVATE_DESTINATIONS: "false" }, "webhook", { url: "https://ops.example.com/a" })).toEqual({
      url: "https://ops.example.com/a",
    });
  });

  it("updates name, default and config; refuses a type change and a masked secret sent back", async () => {
    const pd = await pagerDutyChannel();
    const renamed = await api.put(`/api/v1/alert-channels/${pd.id}`, { body: { name: "on call", default: true } });
    expectStatus(renamed, 200);
    expect(renamed.body).toMatchObject({ name: "on call", default: true });
    expectError(await api.put(`/api/v1/alert-channels/${pd.id}`, { body: { type: "slack" } }), 400, "validation_failed", "type");
    const masked = renamed.body.config.routing_key;
    expectError(
      await api.put(`/api/v1/alert-channels/${pd.id}`, { body: { config: { routing_key: masked } } }),
      400,
      "validation_failed",
      "config.routing_key",
    );
    const key = "b".repeat(32);
    const changed = await api.put(`/api/v1/alert-channels/${pd.id}`, { body: { config: { routing_key: key } } });
    expect(changed.body.config.routing_key).toBe("****bbbb");
    // The new key is the one used.
    expect((await api.post(`/api/v1/alert-channels/${pd.id}/test`)).body).toEqual({ ok: true });
    expect((await pagerDutyState(key)).requests.length).toBe(2);
  });

  it("keeps channels apart per workspace and by scope", async () => {
    const { id } = await webhookChannel();
    const other = await newWorkspace("admin");
    expectError(await api.get(`/api/v1/alert-channels/${id}`, { token: other.token }), 404, "not_found");
    expectError(await api.post(`/api/v1/alert-channels/${id}/test`, { token: other.token }), 404, "not_found");
    const reader = await tokenFor("wsp_default", "read");
    expectStatus(await api.get(`/api/v1/alert-channels/${id}`, { token: reader }), 200);
    expectError(await api.post(`/api/v1/alert-channels/${id}/test`, { token: reader }), 403, "forbidden");
    expectError(await api.delete(`/api/v1/alert-channels/${id}`, { token: reader }), 403, "forbidden");
  });

  it("refuses to delete a channel a sync alerts, and refuses a sync naming an unknown channel", async () => {
    const { id } = await webhookChannel();
    const ids = await seedModelAndDestination();
    const bad = await api.post("/api/v1/syncs", { body: syncBody(ids, { alerts: { channel_ids: [id, "chn_missing"] } }) });
    expectError(bad, 400, "validation_failed", "alerts.channel_ids.1");
    expect(detailPaths(bad)).not.toContain("alerts.channel_ids.0");
    const sync = await api.post("/api/v1/syncs", { body: syncBody(ids, { alerts: { channel_ids: [id], late_minutes: 30 } }) });
    expectStatus(sync, 201);
    expect(sync.body.alerts).toEqual({
      channel_ids: [id],
      on_failure: true,
      on_error_state: true,
      on_recovery: true,
      rows_failed_pct: null,
      row_count_change_pct: null,
      late_minutes: 30,
      max_duration_minutes: null,
    });
    const conflict = expectError(await api.delete(`/api/v1/alert-channels/${id}`), 409, "conflict");
    expect(conflict.message).toContain(sync.body.id);
    const reset = await api.put(`/api/v1/syncs/${sync.body.id}`, { body: { alerts: null } });
    expectStatus(reset, 200);
    expect(reset.body.alerts.channel_ids).toBeNull();
    expectStatus(await api.delete(`/api/v1/alert-channels/${id}`), 204);
  });
});

describe("channel test call", () => {
  it("webhook: a signed `test` alert at the receiver, then last_sent_at; a refusal becomes last_error", async () => {
    const { id, secret, endpoint } = await webhookChannel();
    expect((await api.post(`/api/v1/alert-channels/${id}/test`)).body).toEqual({ ok: true });
    const [req] = (await receiverState(endpoint)).requests;
    if (!req) throw new Error("no request");
    const payload = await verifiedPayload(req, secret);
    expect(payload).toMatchObject({ event: "test", sync: null, run: null });
    expect(payload.console_url).toMatch(/#\/alert-channels$/);
    expect(req.headers["idempotency-key"]).toMatch(/^alr_/);
    expect((await api.get(`/api/v1/alert-channels/${id}`)).body.last_sent_at).not.toBeNull();

    // A new config keeps the signing secret.
    await api.put(`/api/v1/alert-channels/${id}`, { body: { config: { url: `${env.ALERT_RECEIVER_URL}/r/${endpoint}` } } });
    await answerReceiver(endpoint, [{ status: 410, body: "endpoint retired" }]);
    const refused = await api.post(`/api/v1/alert-channels/${id}/test`);
    expect(refused.body).toEqual({ ok: false, error: "HTTP 410: endpoint retired" });
    const [, second] = (await receiverState(endpoint)).requests;
    if (!second) throw new Error("no second request");
    await verifiedPayload(second, secret);
    const shown = await api.get(`/api/v1/alert-channels/${id}`);
    expect(shown.body.last_error).toBe("HTTP 410: endpoint retired");
    expect(shown.body.last_error_at).not.toBeNull();
  });

  it("slack: a Block Kit message the fake accepts; a channel gone is last_error", async () => {
    const { id, hook } = await slackChannel();
    expect((await api.post(`/api/v1/alert-channels/${id}/test`)).body).toEqual({ ok: true });
    const [req] = (await slackState(hook)).requests;
    expect(req?.status).toBe(200);
    const message = JSON.parse(req?.raw ?? "{}") as { text: string; blocks: { type: string }[] };
    expect(message.text).toContain("Test alert");
    expect(message.blocks.map((b) => b.type)).toEqual(["header", "section", "context", "actions"]);

    await configureSlack(hook, { gone: "channel_is_archived" });
    expect((await api.post(`/api/v1/alert-channels/${id}/test`)).body).toEqual({ ok: false, error: "HTTP 410: channel_is_archived" });
    expect((await api.get(`/api/v1/alert-channels/${id}`)).body.last_error).toBe("HTTP 410: channel_is_archived");
  });

  it("pagerduty: triggers and resolves a test alert under its own dedup_key", async () => {
    const { id, routingKey } = await pagerDutyChannel();
    expect((await api.post(`/api/v1/alert-channels/${id}/test`)).body).toEqual({ ok: true });
    const state = await pagerDutyState(routingKey);
    expect(state.requests.map((r) => r.status)).toEqual([202, 202]);
    expect(state.alerts[`retl-test-${id}`]).toMatchObject({ status: "resolved", severity: "warning", events: 2 });
  });

  it("email: sent through the emulated send_email binding to allowed recipients; a refused recipient is last_error", async () => {
    const ok = await api.post("/api/v1/alert-channels", {
      body: { name: "mail", type: "email", config: { to: ["oncall@retl.example.com"] } },
    });
    expectStatus(ok, 201);
    expect((await api.post(`/api/v1/alert-channels/${ok.body.id}/test`)).body).toEqual({ ok: true });
    expect((await api.get(`/api/v1/alert-channels/${ok.body.id}`)).body.last_sent_at).not.toBeNull();
    const refused = await api.post("/api/v1/alert-channels", {
      body: { name: "mail", type: "email", config: { to: ["stranger@elsewhere.example.com"] } },
    });
    const result = await api.post(`/api/v1/alert-channels/${refused.body.id}/test`);
    expect(result.body.ok).toBe(false);
    expect(result.body.error).toContain("stranger@elsewhere.example.com not allowed");
    expect((await api.get(`/api/v1/alert-channels/${refused.body.id}`)).body.last_error).toContain("not allowed");
  });
});
