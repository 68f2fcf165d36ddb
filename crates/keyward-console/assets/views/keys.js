// The API keys grid: one page of `GET /v1/keys` at a time (cursor pagination, so it stays fast
// with any number of keys: nothing is fetched or counted in the browser beyond the page shown),
// a text filter and a status selector that the server applies, and the counts of
// `GET /v1/keys/stats`. Rows can be selected to search the logs of those keys.
//
// The server examines a bounded number of keys per request, so a filtered page may be short or
// empty while `next_cursor` says there is more to search: only a null cursor is the end, and the
// grid says which of the two it is showing.

import { get, query } from "../api.js";
import { h, clear, field, heading } from "../dom.js";
import * as fmt from "../format.js";

// Kept while the console is open, so coming back to the grid shows the same filter and page.
const view = { q: "", status: "all", expiring: "", limit: 50, cursors: [null], page: 0, selected: new Map() };

const COLUMNS = ["Select", "ID", "Name", "Owner", "Created", "Expires", "Remaining", "Status", "Description", "Privileges", "Last used"];

export function canIssue(me) {
  return me.role !== "superadmin" && me.can_manage_keys;
}

export async function render(page, ctx) {
  const statsBox = h("div", { class: "badges", "aria-live": "polite" });
  const tableBox = h("div", { class: "table-wrap" });
  const pager = h("nav", { class: "pager", "aria-label": "Pages of keys" });
  const status = h("p", { class: "hint", role: "status" });

  const create = h("a", { class: "button primary", href: "#/keys/new", id: "create-key", text: "Create key" });
  let createControl = create;
  if (!canIssue(ctx.me)) {
    const why = ctx.me.role === "superadmin" ? "A superadmin sees every key but cannot create keys." : "You do not have the API keys permission.";
    createControl = h("span", { class: "inline" }, h("button", { type: "button", id: "create-key", disabled: true, text: "Create key", "aria-describedby": "create-why" }), h("span", { class: "hint", id: "create-why", text: why }));
  }
  const logsButton = h("button", { type: "button", id: "search-logs", disabled: view.selected.size === 0, onclick: () => {
    const ids = [...view.selected.keys()];
    ctx.navigate(`#/logs${query({ key_id: ids })}`);
  } });
  const updateLogsButton = () => {
    logsButton.disabled = view.selected.size === 0;
    logsButton.textContent = `Search in logs for selected keys (${view.selected.size})`;
  };
  updateLogsButton();

  const q = h("input", { type: "search", id: "filter-q", name: "q", value: view.q, placeholder: "id, name, description or owner email" });
  const statusSelect = h("select", { id: "filter-status", name: "status" },
    [["all", "All"], ["active", "Active"], ["expired", "Expired"], ["revoked", "Revoked"]].map(([v, t]) => h("option", { value: v, text: t, selected: view.status === v })));
  const limitSelect = h("select", { id: "page-size" }, [25, 50, 100].map((n) => h("option", { value: String(n), text: String(n), selected: view.limit === n })));
  const expiringNote = h("p", { class: "hint", id: "expiring-note" });

  const reload = () => {
    view.cursors = [null];
    view.page = 0;
    load();
  };
  let timer = null;
  q.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      view.q = q.value.trim();
      reload();
    }, 300);
  });
  const filterForm = h("form", { class: "filters", role: "search", onsubmit: (e) => {
    e.preventDefault();
    clearTimeout(timer);
    view.q = q.value.trim();
    reload();
  } }, field("Filter", q), field("Status", statusSelect), field("Per page", limitSelect), h("button", { type: "submit", text: "Apply" }));
  q.addEventListener("change", () => {
    clearTimeout(timer);
    if (view.q !== q.value.trim()) {
      view.q = q.value.trim();
      reload();
    }
  });
  statusSelect.addEventListener("change", () => {
    view.q = q.value.trim();
    view.status = statusSelect.value;
    view.expiring = "";
    reload();
  });
  limitSelect.addEventListener("change", () => {
    view.limit = Number(limitSelect.value);
    reload();
  });

  async function loadStats() {
    const stats = await get("/v1/keys/stats");
    if (!ctx.current()) return;
    const badge = (id, count, label, onclick) => h("button", { type: "button", class: `badge ${count ? "warn" : ""}`, id, onclick }, h("strong", { text: String(count) }), ` ${label}`);
    clear(statsBox).append(
      h("span", { class: "badge plain", id: "badge-total" }, h("strong", { text: String(stats.total) }), " keys"),
      badge("badge-expired", stats.expired, "expired", () => {
        view.status = "expired";
        view.expiring = "";
        statusSelect.value = "expired";
        reload();
      }),
      badge("badge-expiring", stats.expiring_within_30_days, "expiring within 30 days", () => {
        view.status = "active";
        view.expiring = "30";
        statusSelect.value = "active";
        reload();
      }),
    );
  }

  function row(key) {
    const id = key.id;
    const box = h("input", { type: "checkbox", class: "select-key", checked: view.selected.has(id), "aria-label": `Select key ${key.name}`, onchange: (e) => {
      if (e.target.checked) view.selected.set(id, key.name);
      else view.selected.delete(id);
      updateLogsButton();
    } });
    const cell = (label, ...content) => h("td", { "data-label": label }, content);
    return h("tr", { class: `key-row status-${key.status}`, dataset: { keyId: id } },
      cell("Select", box),
      cell("ID", h("code", { text: id })),
      cell("Name", h("a", { href: `#/keys/${encodeURIComponent(id)}`, class: "key-name", text: key.name })),
      cell("Owner", key.owner.email),
      cell("Created", fmt.day(key.created_at)),
      cell("Expires", key.expires_at ? fmt.day(key.expires_at) : "Never"),
      cell("Remaining", fmt.remaining(key)),
      cell("Status", h("span", { class: `status ${key.status}`, text: key.status })),
      cell("Description", h("span", { class: "clip", text: key.description || "" })),
      cell("Privileges", h("ul", { class: "plain-list" }, fmt.privileges(key).map((p) => h("li", { text: p })))),
      cell("Last used", key.last_used_at ? `${fmt.date(key.last_used_at)}${key.last_used_ip ? ` from ${key.last_used_ip}` : ""}` : "Never"),
    );
  }

  async function load() {
    status.textContent = "Loading…";
    const answer = await get(`/v1/keys${query({ status: view.status, q: view.q, expiring_within_days: view.expiring, limit: view.limit, cursor: view.cursors[view.page] })}`);
    if (!ctx.current()) return;
    expiringNote.textContent = view.expiring ? `Showing active keys that expire within ${view.expiring} days.` : "";
    const table = h("table", { class: "grid", id: "keys-table" },
      h("caption", { class: "sr-only", text: "API keys" }),
      h("thead", {}, h("tr", {}, COLUMNS.map((c) => h("th", { scope: "col", text: c })))),
      h("tbody", {}, answer.items.map(row)));
    const more = Boolean(answer.next_cursor);
    const forward = () => { view.page += 1; load(); };
    let body = table;
    if (!answer.items.length && more) {
      body = h("div", { class: "empty", id: "no-keys-yet" },
        h("p", { text: "No matches in the keys searched so far." }),
        h("button", { type: "button", id: "search-further", text: "Search further", onclick: forward }));
    } else if (!answer.items.length) {
      body = h("p", { class: "empty", id: "no-keys", text: "No keys match." });
    }
    clear(tableBox).append(body);
    if (more) view.cursors[view.page + 1] = answer.next_cursor;
    else view.cursors.length = view.page + 1;
    const prev = h("button", { type: "button", id: "page-prev", text: "← Previous", disabled: view.page === 0, onclick: () => { view.page -= 1; load(); } });
    const next = h("button", { type: "button", id: "page-next", text: "Next →", disabled: !more, onclick: forward });
    clear(pager).append(prev, h("span", { class: "hint", text: `Page ${view.page + 1}` }), next);
    const count = `${answer.items.length} ${answer.items.length === 1 ? "key" : "keys"} on this page`;
    status.textContent = more && answer.items.length < view.limit
      ? `${count}; the search stopped before filling the page and continues on the next one.`
      : `${count}.`;
  }

  page.append(
    h("div", { class: "page-head" }, heading("API keys"), h("div", { class: "actions" }, logsButton, createControl)),
    statsBox,
    filterForm,
    expiringNote,
    status,
    tableBox,
    pager,
  );
  await Promise.all([loadStats(), load()]);
}
