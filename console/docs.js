/* The API description, for people: /openapi.json rendered as operations grouped by tag, each
   with its parameters, request body and responses, schemas shown as example-shaped outlines.
   No framework and nothing from elsewhere: the page is served by the hub under a strict CSP. */
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }
  var doc;

  function resolve(node) {
    var seen = 0;
    while (node && node.$ref && seen++ < 20) {
      node = node.$ref.split("/").slice(1).reduce(function (o, k) { return o && o[k]; }, doc);
    }
    return node || {};
  }

  /* A schema as an outline of the JSON it describes. */
  function outline(schema, depth) {
    var name = schema && schema.$ref ? schema.$ref.split("/").pop() : null;
    schema = resolve(schema);
    if (depth > 4) return name || "…";
    var type = Array.isArray(schema.type) ? schema.type.filter(function (t) { return t !== "null"; })[0] : schema.type;
    var nullable = Array.isArray(schema.type) && schema.type.indexOf("null") >= 0;
    var out;
    if (schema.oneOf || schema.anyOf) {
      out = (schema.oneOf || schema.anyOf).map(function (s) { return outline(s, depth + 1); }).join(" | ");
    } else if (type === "object" || schema.properties) {
      var required = schema.required || [];
      var lines = Object.keys(schema.properties || {}).map(function (key) {
        var value = outline(schema.properties[key], depth + 1);
        var note = schema.properties[key].description ? "  // " + schema.properties[key].description.split("\n")[0] : "";
        return "  ".repeat(depth + 1) + JSON.stringify(key) + (required.indexOf(key) >= 0 ? "" : "?") + ": " + value + note;
      });
      out = lines.length ? "{\n" + lines.join(",\n") + "\n" + "  ".repeat(depth) + "}" : "{ … }";
    } else if (type === "array") {
      out = "[" + outline(schema.items || {}, depth + 1) + "]";
    } else if (schema.enum) {
      out = schema.enum.map(function (v) { return JSON.stringify(v); }).join(" | ");
    } else {
      out = (type || "any") + (schema.format ? " (" + schema.format + ")" : "");
    }
    return out + (nullable ? " | null" : "");
  }

  function operation(path, method, op) {
    var details = el("details", null, "op");
    details.dataset.search = (method + " " + path + " " + (op.summary || "") + " " + (op.tags || []).join(" ")).toLowerCase();
    var summary = el("summary");
    summary.appendChild(el("span", method.toUpperCase(), "method " + method));
    summary.appendChild(el("span", path, "path"));
    summary.appendChild(el("span", (op.summary || "").split("\n")[0], "summary"));
    details.appendChild(summary);
    var body = el("div");
    if (op.description) body.appendChild(el("p", op.description));
    var params = (doc.paths[path].parameters || []).concat(op.parameters || []).map(resolve);
    if (params.length) {
      body.appendChild(el("h4", "Parameters"));
      var table = el("table");
      var head = el("tr");
      ["Name", "In", "Type", "Description"].forEach(function (h) { var th = el("th", h); th.scope = "col"; head.appendChild(th); });
      table.appendChild(head);
      params.forEach(function (p) {
        var tr = el("tr");
        tr.appendChild(el("td")).appendChild(el("code", p.name + (p.required ? "" : "?")));
        tr.appendChild(el("td", p.in));
        tr.appendChild(el("td", outline(p.schema || {}, 0)));
        tr.appendChild(el("td", p.description || ""));
        table.appendChild(tr);
      });
      body.appendChild(table);
    }
    if (op.requestBody) {
      var rb = resolve(op.requestBody);
      Object.keys(rb.content || {}).forEach(function (type) {
        body.appendChild(el("h4", "Request body (" + type + ")"));
        body.appendChild(el("pre", outline(rb.content[type].schema || {}, 0)));
      });
    }
    body.appendChild(el("h4", "Responses"));
    var list = el("dl");
    Object.keys(op.responses || {}).forEach(function (status) {
      var r = resolve(op.responses[status]);
      list.appendChild(el("dt", status));
      var dd = el("dd", r.description || "");
      Object.keys(r.content || {}).forEach(function (type) {
        if (status < "300") dd.appendChild(el("pre", type + "\n" + outline(r.content[type].schema || {}, 0)));
      });
      list.appendChild(dd);
    });
    body.appendChild(list);
    details.appendChild(body);
    return details;
  }

  function render() {
    $("title").textContent = doc.info.title + " API " + doc.info.version;
    var byTag = {};
    Object.keys(doc.paths).sort().forEach(function (path) {
      ["get", "post", "put", "patch", "delete"].forEach(function (method) {
        var op = doc.paths[path][method];
        if (!op) return;
        var tag = (op.tags && op.tags[0]) || "other";
        (byTag[tag] = byTag[tag] || []).push(operation(path, method, op));
      });
    });
    var main = $("operations");
    main.textContent = "";
    Object.keys(byTag).sort().forEach(function (tag) {
      var section = el("section", null, "tag");
      section.id = "tag-" + tag.replace(/[^a-z0-9]+/gi, "-");
      section.appendChild(el("h2", tag));
      byTag[tag].forEach(function (d) { section.appendChild(d); });
      main.appendChild(section);
      var a = el("a", tag);
      a.href = "#" + section.id;
      $("tags").appendChild(el("li")).appendChild(a);
    });
  }

  $("filter").addEventListener("input", function (ev) {
    var q = ev.target.value.trim().toLowerCase();
    document.querySelectorAll("details.op").forEach(function (d) { d.hidden = q !== "" && d.dataset.search.indexOf(q) < 0; });
    document.querySelectorAll("section.tag").forEach(function (s) { s.hidden = !s.querySelector("details.op:not([hidden])"); });
  });

  fetch("/openapi.json").then(function (r) { return r.json(); }).then(function (d) { doc = d; render(); }, function () {
    $("operations").textContent = "The description could not be loaded.";
  });
})();
