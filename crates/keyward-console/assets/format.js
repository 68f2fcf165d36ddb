// How values read on screen: times in UTC (as the API gives them), lifetimes, privileges.

export function date(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toISOString().slice(0, 16).replace("T", " ") + " UTC";
}

export function day(iso) {
  return iso ? date(iso).slice(0, 10) : "—";
}

export function remaining(key) {
  if (key.status === "revoked") return "—";
  if (key.remaining_days === null || key.remaining_days === undefined) return "Never expires";
  if (key.remaining_days === 0) return "Expired";
  return key.remaining_days === 1 ? "1 day" : `${key.remaining_days} days`;
}

function targets(list) {
  return !list || list.length === 0 || (list.length === 1 && list[0] === "*") ? "" : ` [${list.join(", ")}]`;
}

// One line per role and grant, e.g. "role cloud_account_viewer [123]", "events.alerts:write".
export function privileges(key) {
  if (key.inherit) return ["Same as owner's privileges"];
  const lines = [
    ...(key.roles || []).map((r) => `role ${r.role}${targets(r.targets)}`),
    ...(key.grants || []).map((g) => `${g.permission}${targets(g.targets)}`),
  ];
  return lines.length ? lines : ["No privileges"];
}

export function grantText(g) {
  return `${g.permission}${targets(g.targets)}`;
}

export function actor(a) {
  if (!a) return "—";
  if (a.type === "system") return "system";
  return a.email ? `${a.type} ${a.email}` : `${a.type} ${a.id || ""}`.trim();
}
