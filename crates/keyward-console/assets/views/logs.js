// Search in logs (`GET /v1/logs`): for the keys chosen in the grid (their ids are in the
// route, e.g. `#/logs?key_id=a&key_id=b`; ids are not secrets), by kind, action and time range,
// newest first, one cursor page at a time.

import { get, query } from "../api.js";
import { h, clear, field, heading } from "../dom.js";
import { logTable } from "./key_detail.js";

const ACTIONS = ["key.created", "key.updated", "key.refreshed", "key.regenerated", "key.revoked", "key.deleted", "admin.created", "admin.updated", "admin.deleted",
  "auth.login", "auth.login_failed", "signing_key.rotated", "key.verified", "forward_auth", "token.issued", "token.introspected"];

// A `datetime-local` value (the browser's local time) → RFC 3339 UTC, or "".
function toUtc(local) {
  if (!local) return "";
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? "" : d.toISOString();
}

export async function render(page, ctx) {
  const keyIds = ctx.params.getAll("key_id");
  const kind = h("select", { id: "logs-kind" }, [["", "Any"], ["audit", "Audit"], ["usage", "Usage"]].map(([v, t]) => h("option", { value: v, text: t, selected: ctx.params.get("kind") === v })));
  const action = h("input", { type: "text", id: "logs-action", list: "log-actions", value: ctx.params.get("action") || "", placeholder: "e.g. key.created" });
  const since = h("input", { type: "datetime-local", id: "logs-since" });
  const until = h("input", { type: "datetime-local", id: "logs-until" });
  const results = h("div", { class: "table-wrap" });
  const pager = h("nav", { class: "pager", "aria-label": "Pages of log records" });
  const status = h("p", { class: "hint", role: "status" });
  let cursors = [null];
  let pageNo = 0;

  const chips = keyIds.length
    ? h("ul", { class: "chips", id: "logs-keys", "aria-label": "Keys searched" }, keyIds.map((id) => h("li", {}, h("code", { text: id }), h("a", {
        class: "link",
        href: `#/logs${query({ key_id: keyIds.filter((k) => k !== id) })}`,
        "aria-label": `Stop searching key ${id}`,
        text: "×",
      }))))
    : h("p", { class: "hint", id: "logs-keys", text: "All keys you may see. Select keys in the grid to search only theirs." });

  async function load() {
    status.textContent = "Searching…";
    const answer = await get(`/v1/logs${query({ key_id: keyIds, kind: kind.value, action: action.value.trim(), since: toUtc(since.value), until: toUtc(until.value), limit: 50, cursor: cursors[pageNo] })}`);
    if (!ctx.current()) return;
    clear(results).append(answer.items.length ? logTable(answer.items) : h("p", { class: "empty", id: "no-logs", text: "No records match." }));
    if (answer.next_cursor) cursors[pageNo + 1] = answer.next_cursor;
    else cursors.length = pageNo + 1;
    clear(pager).append(
      h("button", { type: "button", id: "logs-prev", text: "← Newer", disabled: pageNo === 0, onclick: () => { pageNo -= 1; load(); } }),
      h("span", { class: "hint", text: `Page ${pageNo + 1}` }),
      h("button", { type: "button", id: "logs-next", text: "Older →", disabled: !answer.next_cursor, onclick: () => { pageNo += 1; load(); } }),
    );
    status.textContent = `${answer.items.length} records on this page.`;
  }

  const form = h("form", { class: "filters", role: "search", id: "logs-filters", onsubmit: (e) => {
    e.preventDefault();
    cursors = [null];
    pageNo = 0;
    load();
  } }, field("Kind", kind), field("Action", action), field("Since", since), field("Until", until), h("button", { type: "submit", id: "logs-search", text: "Search" }),
  h("datalist", { id: "log-actions" }, ACTIONS.map((a) => h("option", { value: a }))));

  page.append(heading("Search in logs"), chips, form, h("p", { class: "hint", text: "Times are entered in your local time and shown in UTC." }), status, results, pager);
  await load();
}
