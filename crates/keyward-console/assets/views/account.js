// The logged-in administrator's account: who they are, a password change, and log out.

import { post } from "../api.js";
import { h, field, errorBox, heading, toast } from "../dom.js";
import { grantText } from "../format.js";

export async function render(page, ctx) {
  const me = ctx.me;
  const current = h("input", { type: "password", id: "current-password", required: true, autocomplete: "current-password" });
  const next = h("input", { type: "password", id: "new-password", required: true, autocomplete: "new-password" });
  const again = h("input", { type: "password", id: "new-password-again", required: true, autocomplete: "new-password" });
  const error = errorBox();
  const form = h("form", { class: "card", id: "password-form", novalidate: true }, h("h2", { text: "Change password" }), error,
    field("Current password", current), field("New password", next), field("New password again", again), h("button", { type: "submit", class: "primary", text: "Change password" }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.show(null);
    if (!form.reportValidity()) return;
    if (next.value !== again.value) {
      error.show(new Error("The two new passwords differ."));
      return;
    }
    try {
      await post("/v1/auth/password", { current_password: current.value, new_password: next.value });
      for (const input of [current, next, again]) input.value = "";
      toast("Password changed.");
    } catch (e) {
      error.show(e);
    }
  });
  const logout = h("button", { type: "button", id: "logout", text: "Log out", onclick: async () => {
    try {
      await post("/v1/auth/logout");
    } catch {
      // The session may be gone already; either way the console forgets it.
    }
    ctx.loggedOut();
  } });
  page.append(heading("Account"),
    h("section", { class: "card" }, h("dl", { class: "facts" },
      h("dt", { text: "Email" }), h("dd", { id: "me-email", text: me.email }),
      h("dt", { text: "Name" }), h("dd", { text: me.name }),
      h("dt", { text: "Role" }), h("dd", { text: me.role }),
      h("dt", { text: "API keys permission" }), h("dd", { text: me.can_manage_keys ? "Yes" : "No" }),
      h("dt", { text: "Permissions" }), h("dd", {}, h("ul", { class: "plain-list" }, me.permissions.map((g) => h("li", {}, h("code", { text: grantText(g) })))))),
      logout),
    form);
}
