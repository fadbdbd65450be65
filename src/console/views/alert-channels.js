// @ts-check
// #/alert-channels: where alerts go (webhook, Slack, email, PagerDuty): the list with each
// channel's last delivery and last error, a test button, and the form to add one.
/** @import { AlertChannel, AlertChannelType } from "../types.js" */
/** @import { ViewContext } from "../view-context.js" */
import { createAlertChannel, deleteAlertChannel, listAlertChannels, testAlertChannel, updateAlertChannel } from "../api.js";
import { errorBox, h, put, timeCell } from "../dom.js";

/** Each type: its label and its config fields (name, label, placeholder). */
const TYPES = /** @type {const} */ ({
  webhook: { label: "Webhook (signed JSON POST)", field: ["url", "URL", "https://ops.example.com/alerts"] },
  slack: { label: "Slack (incoming webhook)", field: ["webhook_url", "Incoming webhook URL", "https://hooks.slack.com/services/…"] },
  email: { label: "Email", field: ["to", "Recipients (comma-separated)", "oncall@example.com"] },
  pagerduty: { label: "PagerDuty (Events API v2)", field: ["routing_key", "Integration (routing) key", "32 characters"] },
});

/** The config of a channel in a few words (secrets come masked). @param {AlertChannel} c */
const configInWords = (c) => {
  const value = c.config[TYPES[c.type].field[0]];
  return Array.isArray(value) ? value.join(", ") : String(value ?? "");
};

/** @param {ViewContext} ctx */
export async function viewAlertChannels(ctx) {
  let channels = await listAlertChannels();
  if (!ctx.alive()) return;
  const problem = h("div");
  const notice = h("div");
  const body = h("tbody");

  const reload = async () => {
    channels = await listAlertChannels();
    render();
  };
  /** Runs `action`, showing its error; reloads the list after. @param {() => Promise<unknown>} action */
  const act = async (action) => {
    put(problem);
    try {
      await action();
    } catch (err) {
      put(problem, errorBox(err));
    }
    await reload();
  };

  const render = () => {
    put(
      body,
      ...channels.map((c) =>
        h(
          "tr",
          { "data-channel": c.id },
          h("td", {}, h("b", {}, c.name), c.default ? h("span", { class: "muted" }, " · default") : null),
          h("td", {}, c.type),
          h("td", { class: "muted" }, configInWords(c)),
          h("td", {}, c.last_sent_at ? timeCell(c.last_sent_at) : h("span", { class: "muted" }, "never")),
          h(
            "td",
            { class: "channel-error" },
            c.last_error ? h("span", { class: "error-text" }, c.last_error) : h("span", { class: "muted" }, "—"),
          ),
          h(
            "td",
            {},
            h(
              "button",
              {
                type: "button",
                class: "test-channel",
                onclick: () =>
                  act(async () => {
                    const result = await testAlertChannel(c.id);
                    put(
                      notice,
                      h(
                        "div",
                        result.ok ? { class: "note" } : { class: "alert", role: "alert" },
                        result.ok ? `Test alert sent to “${c.name}”.` : `“${c.name}” refused the test alert: ${result.error ?? ""}`,
                      ),
                    );
                  }),
              },
              "Send test",
            ),
            " ",
            h(
              "button",
              { type: "button", onclick: () => act(() => updateAlertChannel(c.id, { default: !c.default })) },
              c.default ? "Unset default" : "Make default",
            ),
            " ",
            h(
              "button",
              {
                type: "button",
                class: "link",
                onclick: () => confirm(`Delete the channel “${c.name}”?`) && act(() => deleteAlertChannel(c.id)),
              },
              "delete",
            ),
          ),
        ),
      ),
    );
    if (channels.length === 0) put(body, h("tr", {}, h("td", { colspan: 6, class: "muted" }, "No alert channels yet.")));
  };

  // The create form: the type picks the one config field.
  const name = h("input", { id: "channel-name", required: true, maxlength: 200, size: 30 });
  const type = h(
    "select",
    { id: "channel-type", onchange: () => updateField() },
    Object.entries(TYPES).map(([value, t]) => h("option", { value }, t.label)),
  );
  const fieldLabel = h("label", { for: "channel-config" });
  const field = h("input", { id: "channel-config", required: true, size: 60 });
  const isDefault = h("input", { type: "checkbox", id: "channel-default" });
  const typeValue = () => /** @type {AlertChannelType} */ (type.value);
  const updateField = () => {
    const [, label, placeholder] = TYPES[typeValue()].field;
    fieldLabel.textContent = label;
    field.placeholder = placeholder;
  };
  const form = h(
    "form",
    {
      class: "sync",
      id: "new-channel",
      onsubmit: async (event) => {
        event.preventDefault();
        const [key] = TYPES[typeValue()].field;
        const raw = field.value.trim();
        const value =
          typeValue() === "email"
            ? raw
                .split(",")
                .map((s) => s.trim())
                .filter(Boolean)
            : raw;
        await act(async () => {
          const created = await createAlertChannel({
            name: name.value.trim(),
            type: typeValue(),
            config: { [key]: value },
            default: isDefault.checked,
          });
          form.reset();
          updateField();
          put(
            notice,
            created.signing_secret
              ? h(
                  "div",
                  { class: "note", id: "signing-secret" },
                  `Channel “${created.name}” created. Its signing secret, shown only now: `,
                  h("code", {}, created.signing_secret),
                  ' — verify X-Signature: sha256=HMAC-SHA256(secret, "<X-Timestamp>.<body>").',
                )
              : h("div", { class: "note" }, `Channel “${created.name}” created.`),
          );
        });
      },
    },
    h("div", { class: "field" }, h("label", { for: "channel-name" }, "Name"), name),
    h("div", { class: "field" }, h("label", { for: "channel-type" }, "Type"), type),
    h("div", { class: "field" }, fieldLabel, field),
    h("div", { class: "field" }, h("label", { class: "radio" }, isDefault, " Default: alert every sync that names no channels of its own")),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Add channel")),
  );

  updateField();
  render();
  put(
    ctx.main,
    h("h1", {}, "Alert channels"),
    h(
      "p",
      { class: "muted" },
      "Where a sync's alerts go: failed runs, a sync in error, failed rows, a changed row count, a late or slow run, and recoveries.",
    ),
    notice,
    problem,
    h(
      "table",
      { class: "runs", id: "channels" },
      h("thead", {}, h("tr", {}, ...["Name", "Type", "Where", "Last sent", "Last error", ""].map((t) => h("th", {}, t)))),
      body,
    ),
    h("h2", {}, "New channel"),
    form,
  );
}
