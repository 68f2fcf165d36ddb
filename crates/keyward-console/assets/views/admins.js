// Administrators (superadmin only): list, create, enable/disable, delete.

import { get, post, patch, del } from "../api.js";
import { h, clear, field, errorBox, heading, toast } from "../dom.js";
import * as dialogs from "../dialogs.js";
import { grantText } from "../format.js";

export async function render(page, ctx) {
  if (ctx.me.role !== "superadmin") {
    page.append(heading("Administrators"), h("p", { class: "error-box", role: "alert", text: "Only a superadmin manages administrators." }));
    return;
  }
  const error = errorBox();
  const tableBox = h("div", { class: "table-wrap" });

  async function load() {
    const { items } = await get("/v1/admins");
    if (!ctx.current()) return;
    clear(tableBox).append(h("table", { class: "grid", id: "admins-table" },
      h("thead", {}, h("tr", {}, ["Email", "Name", "Role", "API keys permission", "Permissions", "Status", "Created", "Actions"].map((c) => h("th", { scope: "col", text: c })))),
      h("tbody", {}, items.map((a) => {
        const myself = a.id === ctx.me.id;
        const toggle = h("button", { type: "button", class: "toggle-admin", text: a.disabled ? "Enable" : "Disable", disabled: myself, onclick: async () => {
          const ok = await dialogs.confirm({
            title: `${a.disabled ? "Enable" : "Disable"} ${a.email}?`,
            message: a.disabled ? "They can log in again and their keys verify again." : "They are logged out at once, cannot log in, and every key they own stops verifying until they are enabled again.",
            confirmLabel: a.disabled ? "Enable" : "Disable",
            danger: !a.disabled,
          });
          if (!ok) return;
          try {
            await patch(`/v1/admins/${encodeURIComponent(a.id)}`, { disabled: !a.disabled });
            toast(`${a.email} ${a.disabled ? "enabled" : "disabled"}.`);
            await load();
          } catch (e) {
            error.show(e);
          }
        } });
        const remove = h("button", { type: "button", class: "danger delete-admin", text: "Delete", disabled: myself, onclick: async () => {
          const ok = await dialogs.confirm({
            title: `Delete ${a.email}?`,
            message: "The administrator is removed and every key they own is revoked. This cannot be undone.",
            confirmLabel: "Delete",
            danger: true,
          });
          if (!ok) return;
          try {
            await del(`/v1/admins/${encodeURIComponent(a.id)}`);
            toast(`${a.email} deleted.`);
            await load();
          } catch (e) {
            error.show(e);
          }
        } });
        return h("tr", { class: `admin-row ${a.disabled ? "status-disabled" : ""}`, dataset: { adminId: a.id, email: a.email } },
          h("td", { "data-label": "Email", text: a.email }),
          h("td", { "data-label": "Name", text: a.name }),
          h("td", { "data-label": "Role", text: a.role }),
          h("td", { "data-label": "API keys permission", text: a.can_manage_keys ? "Yes" : "No" }),
          h("td", { "data-label": "Permissions" }, h("ul", { class: "plain-list" }, a.permissions.map((g) => h("li", {}, h("code", { text: grantText(g) }))))),
          h("td", { "data-label": "Status" }, h("span", { class: `status ${a.disabled ? "revoked" : "active"}`, text: a.disabled ? "disabled" : "enabled" })),
          h("td", { "data-label": "Created", text: a.created_at.slice(0, 10) }),
          h("td", { "data-label": "Actions" }, myself ? h("span", { class: "hint", text: "You" }) : h("span", { class: "inline" }, toggle, remove)));
      }))));
  }

  const createButton = h("button", { type: "button", class: "primary", id: "create-admin", text: "Create administrator", onclick: async () => {
    const email = h("input", { type: "email", id: "admin-email", required: true, autocomplete: "off" });
    const name = h("input", { type: "text", id: "admin-name", required: true });
    const password = h("input", { type: "password", id: "admin-password", required: true, autocomplete: "new-password" });
    const role = h("select", { id: "admin-role" }, h("option", { value: "admin", text: "Administrator" }), h("option", { value: "superadmin", text: "Superadmin" }));
    const canManage = h("input", { type: "checkbox", id: "admin-can-manage-keys", checked: true });
    const permissions = h("input", { type: "text", id: "admin-permissions", placeholder: "e.g. events.*:write accounts.*:read" });
    const created = await dialogs.formDialog({
      title: "Create administrator",
      submitLabel: "Create",
      fields: [field("Email", email), field("Name", name), field("Password", password), field("Role", role),
        h("div", { class: "field" }, h("label", { class: "choice", for: canManage.id }, canManage, " May create and manage API keys")),
        field("Permissions", permissions, "Permissions separated by spaces or commas: the ceiling of what their keys may do.")],
      submit: () => post("/v1/admins", {
        email: email.value.trim(), name: name.value.trim(), password: password.value, role: role.value, can_manage_keys: canManage.checked,
        permissions: permissions.value.split(/[\s,]+/).filter(Boolean),
      }),
    });
    if (created) {
      toast(`${created.email} created.`);
      await load();
    }
  } });

  page.append(h("div", { class: "page-head" }, heading("Administrators"), createButton), error, tableBox);
  await load();
}
