// One key: every field, its grants and networks, its signing key, its recent log records, and
// the lifecycle actions (refresh, regenerate, revoke, delete), each confirmed first.

import { get, post, del, query } from "../api.js";
import { h, field, errorBox, heading, toast } from "../dom.js";
import * as dialogs from "../dialogs.js";
import * as fmt from "../format.js";
import { canIssue } from "./keys.js";

function dl(rows) {
  return h("dl", { class: "facts" }, rows.map(([k, v]) => [h("dt", { text: k }), h("dd", {}, v)]));
}

function grantTable(title, grants, id) {
  if (!grants.length) return h("p", { class: "hint", text: `${title}: none.` });
  return h("table", { class: "grid small", id },
    h("caption", { text: title }),
    h("thead", {}, h("tr", {}, h("th", { scope: "col", text: "Permission" }), h("th", { scope: "col", text: "Targets" }))),
    h("tbody", {}, grants.map((g) => h("tr", {}, h("td", { "data-label": "Permission" }, h("code", { text: g.permission || `role ${g.role}` })), h("td", { "data-label": "Targets", text: (g.targets || []).join(", ") || "*" })))));
}

export function logTable(records, id = "logs-table") {
  return h("table", { class: "grid", id },
    h("thead", {}, h("tr", {}, ["Time", "Kind", "Action", "Key", "Actor", "Client", "Code", "Permission", "Details"].map((c) => h("th", { scope: "col", text: c })))),
    h("tbody", {}, records.map((r) => h("tr", { class: `log-row kind-${r.kind}` },
      h("td", { "data-label": "Time", text: fmt.date(r.time) }),
      h("td", { "data-label": "Kind", text: r.kind }),
      h("td", { "data-label": "Action", class: "log-action", text: r.action }),
      h("td", { "data-label": "Key" }, r.key_id ? h("code", { text: r.key_id }) : "—"),
      h("td", { "data-label": "Actor", text: fmt.actor(r.actor) }),
      h("td", { "data-label": "Client", text: r.client_ip || "—" }),
      h("td", { "data-label": "Code", text: r.code || "—" }),
      h("td", { "data-label": "Permission", text: [r.permission, r.target].filter(Boolean).join(" @ ") || "—" }),
      h("td", { "data-label": "Details" }, r.details ? h("code", { class: "clip", text: JSON.stringify(r.details) }) : "—")))));
}

export async function render(page, ctx) {
  const id = ctx.id;
  const [key, logs] = await Promise.all([
    get(`/v1/keys/${encodeURIComponent(id)}`),
    get(`/v1/logs${query({ key_id: id, limit: 10 })}`),
  ]);
  if (!ctx.current()) return;
  const error = errorBox();
  const revoked = key.status === "revoked";
  const issue = canIssue(ctx.me) && !revoked;

  const act = async (button, run) => {
    error.show(null);
    button.disabled = true;
    try {
      await run();
    } catch (e) {
      error.show(e);
      button.disabled = false;
    }
  };

  const showSecret = async (title, answer) => {
    await dialogs.secret({ title, key: answer.key, secret: answer.secret });
    ctx.navigate(`#/keys/${encodeURIComponent(id)}`);
  };

  const grace = h("select", { id: "grace-period" }, [["0", "None: the old secret stops working now"], ["3600", "1 hour"], ["86400", "1 day"], ["604800", "7 days (the maximum)"]].map(([v, t]) => h("option", { value: v, text: t })));
  const refresh = h("button", { type: "button", id: "action-refresh", text: "Refresh", disabled: !issue, onclick: () => act(refresh, async () => {
    const ok = await dialogs.confirm({
      title: `Refresh ${key.name}?`,
      message: "A new secret is made; settings and expiry stay the same. The old secret stops working at the end of the grace period.",
      confirmLabel: "Refresh",
      body: [field("Grace period for the old secret", grace)],
    });
    if (!ok) return void (refresh.disabled = false);
    const answer = await post(`/v1/keys/${encodeURIComponent(id)}/refresh`, { grace_period_seconds: Number(grace.value) });
    await showSecret("Key refreshed: its new secret", answer);
  }) });
  const regenerate = h("button", { type: "button", id: "action-regenerate", text: "Regenerate", disabled: !issue, onclick: () => act(regenerate, async () => {
    const lifetime = key.lifetime_days ? `${key.lifetime_days} days from now` : "never";
    const ok = await dialogs.confirm({
      title: `Regenerate ${key.name}?`,
      message: `A new secret is made, the old one stops working at once, the expiry becomes ${lifetime}, and the privileges go back to those the key was created with.`,
      confirmLabel: "Regenerate",
      danger: true,
    });
    if (!ok) return void (regenerate.disabled = false);
    const answer = await post(`/v1/keys/${encodeURIComponent(id)}/regenerate`, {});
    await showSecret("Key regenerated: its new secret", answer);
  }) });
  const revoke = h("button", { type: "button", id: "action-revoke", class: "danger", text: "Revoke", disabled: revoked, onclick: () => act(revoke, async () => {
    const ok = await dialogs.confirm({
      title: `Revoke ${key.name}?`,
      message: "The key stops working at once, everywhere. This cannot be undone.",
      confirmLabel: "Revoke",
      danger: true,
    });
    if (!ok) return void (revoke.disabled = false);
    await post(`/v1/keys/${encodeURIComponent(id)}/revoke`, {});
    toast(`Key ${key.name} revoked.`);
    ctx.navigate(`#/keys/${encodeURIComponent(id)}`);
  }) });
  const remove = h("button", { type: "button", id: "action-delete", class: "danger", text: "Delete", onclick: () => act(remove, async () => {
    const ok = await dialogs.confirm({
      title: `Delete ${key.name}?`,
      message: `${revoked ? "" : "The key is revoked first (it stops working at once), then "}it disappears from the list. Its log records stay searchable by its id.`,
      confirmLabel: "Delete",
      danger: true,
    });
    if (!ok) return void (remove.disabled = false);
    await del(`/v1/keys/${encodeURIComponent(id)}`);
    toast(`Key ${key.name} deleted.`);
    ctx.navigate("#/keys");
  }) });
  const edit = revoked ? null : h("a", { class: "button", href: `#/keys/${encodeURIComponent(id)}/edit`, id: "action-edit", text: "Edit" });

  page.append(
    h("p", { class: "crumbs" }, h("a", { href: "#/keys", text: "API keys" }), " / ", key.name),
    h("div", { class: "page-head" }, heading(`Key ${key.name}`), h("span", { class: `status ${key.status}`, id: "key-status", text: key.status })),
    error,
    h("div", { class: "actions wrap", role: "group", "aria-label": "Key actions" }, edit, refresh, regenerate, revoke, remove,
      h("a", { class: "button", href: `#/logs${query({ key_id: id })}`, id: "action-logs", text: "Search in logs" })),
    h("section", { class: "card" }, h("h2", { text: "Details" }), dl([
      ["ID", h("code", { id: "key-id", text: key.id })],
      ["Name", key.name],
      ["Description", key.description || "—"],
      ["Owner", key.owner.email],
      ["Created", fmt.date(key.created_at)],
      ["Updated", fmt.date(key.updated_at)],
      ["Expires", key.expires_at ? fmt.date(key.expires_at) : "Never"],
      ["Lifetime", key.lifetime_days ? `${key.lifetime_days} days` : "—"],
      ["Remaining", fmt.remaining(key)],
      ["Revoked", key.revoked_at ? fmt.date(key.revoked_at) : "—"],
      ["Format", key.format],
      ["Last used", key.last_used_at ? `${fmt.date(key.last_used_at)} from ${key.last_used_ip || "?"}` : "Never"],
      ["Successful checks", String(key.use_count)],
    ])),
    h("section", { class: "card" }, h("h2", { text: "Privileges" }),
      key.inherit ? h("p", { text: "Same as the owner's privileges (follows them as they change)." }) : null,
      grantTable("Roles", key.roles.map((r) => ({ role: r.role, targets: r.targets })), "key-roles"),
      grantTable("Grants", key.grants, "key-grants"),
      grantTable("Effective now (within the owner's current permissions)", key.effective_grants, "key-effective"),
      h("p", { class: "hint", text: `Regenerate restores: ${fmt.privileges(key.initial_privileges).join("; ")}` })),
    h("section", { class: "card" }, h("h2", { text: "Networks" }),
      key.networks.length ? h("ul", { id: "key-networks" }, key.networks.map((n) => h("li", {}, h("code", { text: n })))) : h("p", { id: "key-networks", text: "Any address." })),
    h("section", { class: "card" }, h("h2", { text: "Signing key" }),
      key.verify_key ? [h("pre", { class: "pem", id: "key-verify-key", text: key.verify_key }),
        h("p", { id: "key-signed-writes", text: key.require_signed_writes ? "Write checks need a valid request signature." : "Signatures are checked when present; writes do not need one." })]
        : h("p", { id: "key-verify-key-none", text: "None: requests are not signed." })),
    h("section", { class: "card" }, h("h2", { text: "Recent log records" }),
      logs.items.length ? logTable(logs.items, "key-logs") : h("p", { text: "No records yet." }),
      h("p", {}, h("a", { href: `#/logs${query({ key_id: id })}`, text: "All records of this key" }))),
  );
}
