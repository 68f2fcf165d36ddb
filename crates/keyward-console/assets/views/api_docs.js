// The API documentation, rendered from `/openapi.json` by this small renderer (no Swagger UI,
// nothing from another origin): operations grouped by tag, with their parameters, request
// body and responses, and schemas expanded from `$ref`s.

import { get } from "../api.js";
import { h, append, heading } from "../dom.js";

const METHODS = ["get", "post", "put", "patch", "delete"];

// The little Markdown the descriptions use: **bold** and `code`, as elements (never as HTML).
function prose(text) {
  return text.split(/(\*\*[^*]+\*\*|`[^`]+`)/).filter(Boolean).map((part) => {
    if (part.startsWith("**") && part.endsWith("**")) return h("strong", { text: part.slice(2, -2) });
    if (part.startsWith("`") && part.endsWith("`")) return h("code", { text: part.slice(1, -1) });
    return part;
  });
}

function paragraphs(text, cls) {
  return text.split(/\n\n+/).map((p) => h("p", { class: cls }, prose(p)));
}

function refName(ref) {
  return ref.split("/").pop();
}

// A schema as a nested list: type, description, properties (required ones marked).
function schemaView(schema, doc, depth = 0, seen = new Set()) {
  if (!schema) return h("span", { class: "hint", text: "(any)" });
  if (schema.$ref) {
    const name = refName(schema.$ref);
    const target = doc.components && doc.components.schemas && doc.components.schemas[name];
    if (!target || seen.has(name) || depth > 4) return h("code", { class: "schema-ref", text: name });
    return h("div", { class: "schema" }, h("code", { class: "schema-ref", text: name }), schemaView(target, doc, depth + 1, new Set([...seen, name])));
  }
  for (const combo of ["oneOf", "anyOf", "allOf"]) {
    if (schema[combo]) {
      const options = schema[combo].filter((s) => s.type !== "null");
      const nullable = options.length < schema[combo].length ? " (or null)" : "";
      if (options.length === 1) return h("div", {}, schemaView(options[0], doc, depth, seen), nullable);
      return h("div", { class: "schema" }, h("span", { class: "hint", text: `${combo === "allOf" ? "all of" : "one of"}${nullable}:` }),
        h("ul", {}, options.map((s) => h("li", {}, schemaView(s, doc, depth + 1, seen)))));
    }
  }
  const type = Array.isArray(schema.type) ? schema.type.join(" | ") : schema.type || (schema.properties ? "object" : "any");
  const parts = [h("code", { class: "schema-type", text: schema.format ? `${type} (${schema.format})` : type })];
  if (schema.enum) parts.push(h("span", { class: "hint", text: ` one of ${schema.enum.join(", ")}` }));
  if (schema.description && depth > 0) parts.push(h("span", { class: "hint" }, " — ", prose(schema.description)));
  if (schema.items) parts.push(h("div", { class: "schema" }, h("span", { class: "hint", text: "items:" }), schemaView(schema.items, doc, depth + 1, seen)));
  if (schema.properties) {
    const required = new Set(schema.required || []);
    parts.push(h("ul", { class: "props" }, Object.entries(schema.properties).map(([name, prop]) => h("li", {},
      h("code", { class: "prop-name", text: name }), required.has(name) ? h("span", { class: "required", text: " required" }) : null, " ",
      schemaView(prop, doc, depth + 1, seen)))));
  }
  return h("div", { class: "schema" }, parts);
}

function content(body, doc) {
  if (!body || !body.content) return null;
  return Object.entries(body.content).map(([type, media]) => h("div", {}, h("p", { class: "hint", text: type }), schemaView(media.schema, doc)));
}

function operation(path, method, op, doc) {
  const params = [...(doc.paths[path].parameters || []), ...(op.parameters || [])];
  return h("details", { class: "operation", id: `op-${method}-${path.replace(/[^a-z0-9]/gi, "-")}` },
    h("summary", {}, h("span", { class: `method ${method}`, text: method.toUpperCase() }), " ", h("code", { class: "op-path", text: path }), " ", h("span", { class: "hint", text: op.summary || "" })),
    op.description ? paragraphs(op.description, "op-description") : null,
    params.length ? [h("h4", { text: "Parameters" }), h("table", { class: "grid small" },
      h("thead", {}, h("tr", {}, ["Name", "In", "Required", "Type", "Description"].map((c) => h("th", { scope: "col", text: c })))),
      h("tbody", {}, params.map((p) => h("tr", {}, h("td", {}, h("code", { text: p.name })), h("td", { text: p.in }), h("td", { text: p.required ? "yes" : "no" }),
        h("td", {}, schemaView(p.schema, doc, 1)), h("td", {}, prose(p.description || ""))))))] : null,
    op.requestBody ? [h("h4", { text: `Request body${op.requestBody.required ? " (required)" : ""}` }), content(op.requestBody, doc)] : null,
    h("h4", { text: "Responses" }),
    h("dl", { class: "responses" }, Object.entries(op.responses || {}).map(([status, r]) => [
      h("dt", {}, h("span", { class: `http-status s${status[0]}`, text: status }), " ", r.description || ""),
      h("dd", {}, content(r, doc)),
    ])));
}

export async function render(page) {
  const doc = await get("/openapi.json", { anonymous: true });
  const byTag = new Map((doc.tags || []).map((t) => [t.name, { tag: t, ops: [] }]));
  for (const [path, item] of Object.entries(doc.paths || {})) {
    for (const method of METHODS.filter((m) => item[m])) {
      const tag = (item[method].tags || ["other"])[0];
      if (!byTag.has(tag)) byTag.set(tag, { tag: { name: tag }, ops: [] });
      byTag.get(tag).ops.push(operation(path, method, item[method], doc));
    }
  }
  append(page, [
    heading(`${doc.info.title} API ${doc.info.version || ""}`.trim()),
    h("p", { class: "hint" }, `OpenAPI ${doc.openapi}. The raw document: `, h("a", { href: "/openapi.json", text: "/openapi.json" }), "."),
    doc.info.description ? h("div", { class: "card api-intro" }, paragraphs(doc.info.description)) : null,
    [...byTag.values()].filter((g) => g.ops.length).map(({ tag, ops }) => h("section", { class: "api-tag" },
      h("h2", { text: tag.name }), tag.description ? h("p", { class: "hint", text: tag.description }) : null, ops)),
  ]);
}
