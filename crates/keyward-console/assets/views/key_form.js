// Create and Edit a key: name, description, expiry, privileges from the catalog (each scope and
// resource Read-only or Read/Write, roles with targets, or "same as my privileges"), up to 10
// networks checked as they are typed, and the signing key (none, made in this browser, or a
// pasted public key). The server validates everything again; its refusals are shown in words.

import { get, post, patch } from "../api.js";
import { h, field, errorBox, heading, uid } from "../dom.js";
import * as dialogs from "../dialogs.js";
import { generateSigningKey } from "../signing.js";
import { canIssue } from "./keys.js";

const MAX_NETWORKS = 10;
const PRESETS = [30, 90, 180, 365];

// An IPv4 or IPv6 address, with an optional prefix length. Returns an error text or "".
export function cidrProblem(text) {
  const value = text.trim();
  if (!value) return "";
  const [address, prefix, extra] = value.split("/");
  if (extra !== undefined) return "Use one address with at most one /prefix.";
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(address);
  let max;
  if (v4) {
    if (v4.slice(1).some((o) => Number(o) > 255 || (o.length > 1 && o.startsWith("0")))) return "Each IPv4 number is 0–255.";
    max = 32;
  } else if (address.includes(":")) {
    const halves = address.split("::");
    const groups = halves.flatMap((half) => (half ? half.split(":") : []));
    const ok = halves.length <= 2 && groups.every((g) => /^[0-9a-fA-F]{1,4}$/.test(g)) && (halves.length === 2 ? groups.length < 8 : groups.length === 8);
    if (!ok) return "Not an IPv6 address.";
    max = 128;
  } else {
    return "Not an IP address or CIDR (e.g. 192.0.2.0/24 or 2001:db8::/32).";
  }
  if (prefix !== undefined && !(/^\d{1,3}$/.test(prefix) && Number(prefix) <= max)) return `The prefix length is 0–${max}.`;
  return "";
}

function radio(name, value, label, checked) {
  const input = h("input", { type: "radio", name, value, id: uid(name), checked });
  return { input, el: h("label", { class: "choice", for: input.id }, input, ` ${label}`) };
}

function splitList(text) {
  return text.split(/[\s,]+/).map((s) => s.trim()).filter(Boolean);
}

export async function render(page, ctx) {
  const editing = ctx.edit;
  if (!editing && !canIssue(ctx.me)) {
    page.append(heading("Create key"), h("p", { class: "error-box", role: "alert", text: ctx.me.role === "superadmin" ? "A superadmin cannot create keys: it never holds a key's secret." : "You do not have the API keys permission." }));
    return;
  }
  const [catalog, existing] = await Promise.all([ctx.catalog(), editing ? get(`/v1/keys/${encodeURIComponent(ctx.id)}`) : null]);
  if (!ctx.current()) return;
  const key = existing || { name: "", description: "", roles: [], grants: [], inherit: false, networks: [] };
  const error = errorBox();

  // --- name and description
  const name = h("input", { type: "text", id: "key-name", name: "name", required: true, maxlength: "255", value: key.name });
  const description = h("textarea", { id: "key-description", name: "description", maxlength: "1024", rows: "2" });
  description.value = key.description || "";

  // --- expiry
  const expiryChoices = [];
  const addChoice = (value, label, checked) => {
    const r = radio("expiry", value, label, checked);
    expiryChoices.push(r);
    return r.el;
  };
  const preset = h("select", { id: "lifetime-preset", "aria-label": "Lifetime in days" }, [...PRESETS.map((d) => h("option", { value: String(d), text: `${d} days`, selected: d === 180 })), h("option", { value: "custom", text: "Custom…" })]);
  const custom = h("input", { type: "number", id: "lifetime-custom", min: "1", max: "36500", "aria-label": "Custom lifetime in days", hidden: true });
  preset.addEventListener("change", () => {
    custom.hidden = preset.value !== "custom";
    if (!custom.hidden) custom.focus();
  });
  const until = h("input", { type: "date", id: "expiry-date", "aria-label": "Expiry date" });
  const expiryBox = h("fieldset", { class: "expiry" }, h("legend", { text: "Expiry" }),
    editing ? h("div", { class: "choice-row" }, addChoice("keep", `Keep the current expiry (${key.expires_at ? key.expires_at.slice(0, 10) : "never"})`, true)) : null,
    h("div", { class: "choice-row" }, addChoice("lifetime", "Lifetime", !editing), preset, custom),
    h("div", { class: "choice-row" }, addChoice("date", "Until date", false), until),
    h("div", { class: "choice-row" }, addChoice("never", "Never expires", false)));
  const expiryChoice = () => expiryChoices.find((r) => r.input.checked).input.value;
  preset.addEventListener("focus", () => (expiryChoices.find((r) => r.input.value === "lifetime").input.checked = true));
  until.addEventListener("focus", () => (expiryChoices.find((r) => r.input.value === "date").input.checked = true));

  // --- privileges
  const inherit = h("input", { type: "checkbox", id: "key-inherit", checked: key.inherit });
  const accessSelects = new Map();
  const given = new Map();
  const otherGrants = [];
  for (const g of key.grants) {
    const [perm, access] = g.permission.split(":");
    const allTargets = !g.targets.length || (g.targets.length === 1 && g.targets[0] === "*");
    if (allTargets) given.set(perm, access);
    else otherGrants.push(g);
  }
  const accessSelect = (perm, label) => {
    const select = h("select", { id: `access-${perm.replace(/[^a-z0-9]/gi, "-")}`, "aria-label": `Access to ${label}`, dataset: { permission: perm } },
      [["", "No access"], ["read", "Read-only"], ["write", "Read/Write"]].map(([v, t]) => h("option", { value: v, text: t, selected: given.get(perm) === v })));
    accessSelects.set(perm, select);
    return select;
  };
  const scopesTable = h("table", { class: "grid small scopes", id: "scopes-table" },
    h("caption", { text: "Scopes and resources" }),
    h("thead", {}, h("tr", {}, h("th", { scope: "col", text: "Scope / resource" }), h("th", { scope: "col", text: "Access" }))),
    h("tbody", {}, catalog.scopes.map((s) => [
      h("tr", { class: "scope-row" }, h("th", { scope: "row" }, h("strong", { text: `${s.name}.*` }), h("span", { class: "hint", text: ` every resource of ${s.name}${s.description ? ` — ${s.description}` : ""}` })), h("td", {}, accessSelect(`${s.name}.*`, `every resource of ${s.name}`))),
      s.resources.map((r) => h("tr", {}, h("td", { class: "indent" }, h("code", { text: `${s.name}.${r}` })), h("td", {}, accessSelect(`${s.name}.${r}`, `${s.name}.${r}`)))),
    ])));
  const roleControls = catalog.roles.map((role) => {
    const current = key.roles.find((r) => r.role === role.name);
    const check = h("input", { type: "checkbox", id: `role-${role.name}`, checked: Boolean(current), dataset: { role: role.name } });
    const targets = h("input", { type: "text", id: `role-${role.name}-targets`, "aria-label": `Targets of role ${role.name}`, placeholder: role.requires_targets ? "required: ids, or * for all" : "optional: ids (empty = all)", value: current ? current.targets.join(", ") : "" });
    return { role, check, targets, el: h("tr", {},
      h("td", {}, h("label", { for: check.id }, check, " ", h("strong", { text: role.name }))),
      h("td", { class: "hint", text: `${role.description || ""} (${role.permissions.join(", ")})${role.requires_targets ? " — needs targets" : ""}` }),
      h("td", {}, targets)) };
  });
  const rolesTable = h("table", { class: "grid small", id: "roles-table" }, h("caption", { text: "Roles" }),
    h("thead", {}, h("tr", {}, ["Role", "Gives", "Targets"].map((c) => h("th", { scope: "col", text: c })))),
    h("tbody", {}, roleControls.map((r) => r.el)));
  const detailed = h("div", { class: "privileges-detail" }, scopesTable, rolesTable,
    otherGrants.length ? h("p", { class: "hint", text: `Kept as they are: ${otherGrants.map((g) => `${g.permission} [${g.targets.join(", ")}]`).join("; ")}` }) : null);
  const syncInherit = () => {
    detailed.classList.toggle("muted", inherit.checked);
    for (const el of detailed.querySelectorAll("select, input")) el.disabled = inherit.checked;
  };
  inherit.addEventListener("change", syncInherit);
  syncInherit();
  const privilegesBox = h("fieldset", {}, h("legend", { text: "Privileges" }),
    h("label", { class: "choice", for: inherit.id }, inherit, " Same as my privileges (the key follows the owner's permissions as they change)"),
    h("p", { class: "hint", text: "Read/Write includes read. A key can never do more than its owner may." }),
    detailed);

  // --- networks
  const networkList = h("ol", { class: "networks", id: "networks" });
  const addNetworkButton = h("button", { type: "button", id: "add-network", text: "Add network" });
  const networkInputs = () => [...networkList.querySelectorAll("input")];
  const addNetwork = (value = "") => {
    const input = h("input", { type: "text", class: "network", value, placeholder: "e.g. 192.0.2.0/24 or 2001:db8::/32", "aria-label": "Network (IP address or CIDR)", spellcheck: "false" });
    const problem = h("span", { class: "field-error", id: uid("net-err"), "aria-live": "polite" });
    input.setAttribute("aria-describedby", problem.id);
    const check = () => {
      const text = cidrProblem(input.value);
      problem.textContent = text;
      input.setCustomValidity(text);
      input.setAttribute("aria-invalid", text ? "true" : "false");
    };
    input.addEventListener("input", check);
    const item = h("li", {}, input, h("button", { type: "button", class: "link", text: "Remove", "aria-label": "Remove this network", onclick: () => {
      item.remove();
      addNetworkButton.disabled = networkInputs().length >= MAX_NETWORKS;
      addNetworkButton.focus();
    } }), problem);
    networkList.append(item);
    check();
    addNetworkButton.disabled = networkInputs().length >= MAX_NETWORKS;
    return input;
  };
  addNetworkButton.addEventListener("click", () => addNetwork().focus());
  for (const n of key.networks) addNetwork(n);
  const networksBox = h("fieldset", {}, h("legend", { text: `Networks (up to ${MAX_NETWORKS})` }),
    h("p", { class: "hint", text: "Addresses or CIDRs the key may be used from. None: any address." }), networkList, addNetworkButton);

  // --- signing key
  const signingChoices = [];
  const signingChoice = (value, label, checked) => {
    const r = radio("signing", value, label, checked);
    signingChoices.push(r);
    return h("div", { class: "choice-row" }, r.el);
  };
  const pasted = h("textarea", { id: "verify-key-input", rows: "5", spellcheck: "false", "aria-label": "Public key (PEM or JWK)", placeholder: "-----BEGIN PUBLIC KEY-----\n…\n-----END PUBLIC KEY-----   or   {\"kty\":\"EC\",\"crv\":\"P-256\",…}" });
  const requireSigned = h("input", { type: "checkbox", id: "require-signed-writes", checked: existing ? existing.require_signed_writes || !existing.verify_key : true });
  const signingBox = h("fieldset", {}, h("legend", { text: "Signing key (ECDSA P-256, for signed requests)" }),
    editing ? signingChoice("keep", key.verify_key ? "Keep the current public key" : "Keep: none", true) : null,
    signingChoice("none", editing && key.verify_key ? "Remove the public key" : "None", !editing),
    signingChoice("generate", "Generate a key pair in this browser (the private key is downloaded, never sent)", false),
    signingChoice("paste", "Paste a public key (PEM or JWK)", false),
    pasted,
    h("label", { class: "choice", for: requireSigned.id }, requireSigned, " Require signed writes (write checks fail without a valid signature)"));
  const signing = () => signingChoices.find((r) => r.input.checked).input.value;
  const syncSigning = () => {
    pasted.hidden = signing() !== "paste";
    requireSigned.disabled = signing() === "none" || (signing() === "keep" && !key.verify_key);
  };
  for (const r of signingChoices) r.input.addEventListener("change", syncSigning);
  syncSigning();

  // --- building the request
  function expiryFields() {
    switch (expiryChoice()) {
      case "lifetime": {
        const days = preset.value === "custom" ? Number(custom.value) : Number(preset.value);
        if (!Number.isInteger(days) || days < 1) throw new Error("Enter a lifetime of at least 1 whole day.");
        return { lifetime_days: days };
      }
      case "date": {
        if (!until.value) throw new Error("Choose the expiry date.");
        return { expires_at: `${until.value}T23:59:59Z` };
      }
      case "never":
        return { never_expires: true };
      default:
        return {};
    }
  }

  function privilegesFields() {
    if (inherit.checked) return { inherit: true };
    const grants = [...accessSelects].filter(([, s]) => s.value).map(([perm, s]) => `${perm}:${s.value}`);
    const roles = [];
    for (const r of roleControls.filter((c) => c.check.checked)) {
      const targets = splitList(r.targets.value);
      if (r.role.requires_targets && targets.length === 0) throw new Error(`Role ${r.role.name} needs targets: list them, or * for all.`);
      roles.push(targets.length ? { role: r.role.name, targets } : { role: r.role.name });
    }
    return { inherit: false, roles, grants: [...grants, ...otherGrants] };
  }

  async function signingFields() {
    switch (signing()) {
      case "generate": {
        const pair = await generateSigningKey();
        return [{ verify_key: pair.publicPem, require_signed_writes: requireSigned.checked }, pair.privatePem];
      }
      case "paste":
        if (!pasted.value.trim()) throw new Error("Paste the public key, or choose another signing option.");
        return [{ verify_key: pasted.value.trim(), require_signed_writes: requireSigned.checked }, null];
      case "none":
        return [editing && key.verify_key ? { verify_key: null } : {}, null];
      default:
        return [key.verify_key && requireSigned.checked !== key.require_signed_writes ? { require_signed_writes: requireSigned.checked } : {}, null];
    }
  }

  const submit = h("button", { type: "submit", class: "primary", id: "key-submit", text: editing ? "Save changes" : "Create key" });
  const form = h("form", { class: "key-form", novalidate: true },
    error,
    h("fieldset", {}, h("legend", { text: "Key" }), field("Name", name, "1–255 characters, unique among your keys."), field("Description", description, "Optional, up to 1024 characters.")),
    expiryBox, privilegesBox, networksBox, signingBox,
    h("div", { class: "actions" }, submit, h("a", { class: "button", href: editing ? `#/keys/${encodeURIComponent(key.id)}` : "#/keys", text: "Cancel" })));

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.show(null);
    if (!form.reportValidity()) {
      error.show(new Error("Some fields need attention (see the messages next to them)."));
      return;
    }
    submit.disabled = true;
    try {
      const networks = networkInputs().map((i) => i.value.trim()).filter(Boolean);
      const privileges = privilegesFields();
      const [signingPart, privatePem] = await signingFields();
      if (!editing) {
        const body = { name: name.value.trim(), ...expiryFields(), ...privileges, networks, ...signingPart };
        if (description.value.trim()) body.description = description.value.trim();
        const answer = await post("/v1/keys", body);
        await dialogs.secret({ title: "Key created: its secret", key: answer.key, secret: answer.secret, privateKeyPem: privatePem });
        ctx.navigate(`#/keys/${encodeURIComponent(answer.key.id)}`);
      } else {
        const body = { ...expiryFields(), ...signingPart };
        if (name.value.trim() !== key.name) body.name = name.value.trim();
        if ((description.value.trim() || null) !== (key.description || null)) body.description = description.value.trim() || null;
        const before = JSON.stringify({ inherit: key.inherit, roles: key.roles.map((r) => ({ role: r.role, targets: r.targets })), grants: key.grants.map((g) => g.permission).sort() });
        const after = JSON.stringify({ inherit: privileges.inherit, roles: (privileges.roles || []).map((r) => ({ role: r.role, targets: r.targets || ["*"] })), grants: (privileges.grants || []).map((g) => (typeof g === "string" ? g : g.permission)).sort() });
        if (before !== after) Object.assign(body, privileges);
        if (JSON.stringify(networks) !== JSON.stringify(key.networks)) body.networks = networks;
        await patch(`/v1/keys/${encodeURIComponent(key.id)}`, body);
        if (privatePem) await dialogs.secret({ title: "New signing key", key, secret: null, privateKeyPem: privatePem });
        ctx.navigate(`#/keys/${encodeURIComponent(key.id)}`);
      }
    } catch (e) {
      error.show(e);
      submit.disabled = false;
      error.scrollIntoView({ block: "nearest" });
    }
  });

  page.append(
    h("p", { class: "crumbs" }, h("a", { href: "#/keys", text: "API keys" }), " / ", editing ? key.name : "new"),
    heading(editing ? `Edit key ${key.name}` : "Create key"),
    form,
  );
}
