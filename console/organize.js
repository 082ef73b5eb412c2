/*
 * Finding and sorting conversations in the console: search over all history as you type, the
 * inbox filters shown as chips, saved views, labels (on rows, in bulk, in the panels) and
 * custom attributes (in the conversation and contact panels, defined by admins). Like the rest
 * of the console it uses only the public /v1 API. app.js calls the functions registered at the
 * end of this file: start, inboxParams, decorateRow, showConversation, showContact,
 * toggleSelected.
 */
(function () {
  "use strict";
  var ob = window.omnibridgeConsole;
  var $ = function (id) { return document.getElementById(id); };
  var api = ob.api, el = ob.el, say = ob.say, explain = ob.explain, state = ob.state;
  var known = { labels: [], attributes: [], teams: [], views: [], view: null };
  var selected = {};

  function query(params) {
    return params.map(function (p) { return p[0] + "=" + encodeURIComponent(p[1]); });
  }

  function reportError(err) { say(explain(err)); }

  /* ---- what the tenant has defined ------------------------------------------------------ */

  function start(me) {
    Promise.all([api("GET", "/v1/labels"), api("GET", "/v1/attributes"), api("GET", "/v1/teams").catch(function () { return { data: [] }; })])
      .then(function (r) {
        known.labels = r[0].data;
        known.attributes = r[1].data;
        known.teams = r[2].data || [];
        fillChoices();
        if (me.role === "admin") showAdmin();
        ob.renderInbox();
      }).catch(reportError);
    loadViews();
    $("view-shared-label").hidden = me.role !== "admin";
  }

  function options(select, first, items) {
    var keep = select.value;
    select.textContent = "";
    if (first) { var o = el("option", first[1]); o.value = first[0]; select.appendChild(o); }
    items.forEach(function (i) { var o = el("option", i[1]); o.value = i[0]; select.appendChild(o); });
    if (Array.prototype.some.call(select.options, function (o) { return o.value === keep; })) select.value = keep;
  }

  function fillChoices() {
    var labels = known.labels.map(function (l) { return [l.id, l.name]; });
    options($("f-label"), ["", "any"], labels);
    options($("bulk-label"), null, labels);
    options($("conversation-label-pick"), null, labels);
    options($("contact-label-pick"), null, labels);
    options($("f-team"), ["", "any"], known.teams.map(function (t) { return [t.id, t.name]; }));
    options($("f-attr"), ["", "—"], known.attributes.filter(function (a) { return a.applies_to === "conversation" && !a.personal; }).map(function (a) { return [a.key, a.name]; }));
  }

  /* ---- filters and their chips ---------------------------------------------------------- */

  /* Each filter: its control, the query parameter, and how a chip names it. */
  var FILTERS = [
    ["f-status", "status", "Status"], ["f-channel", "channel_id", "Channel"], ["f-assignee", "assignee", "Assignee"],
    ["f-team", "team", "Team"], ["f-label", "label", "Label"], ["f-since", "since", "Active since"], ["f-until", "until", "Active before"]
  ];

  function activeFilters() {
    var out = [];
    FILTERS.forEach(function (f) {
      var control = $(f[0]);
      if (!control.value) return;
      var shown = control.tagName === "SELECT" ? control.options[control.selectedIndex].textContent : control.value;
      out.push({ param: f[1], value: control.value, words: f[2] + ": " + shown, clear: function () { control.value = ""; } });
    });
    var attr = $("f-attr").value, value = $("f-attr-value").value.trim();
    if (attr && value) {
      out.push({ param: "attr." + attr, value: value, words: $("f-attr").options[$("f-attr").selectedIndex].textContent + ": " + value,
                 clear: function () { $("f-attr").value = ""; $("f-attr-value").value = ""; } });
    }
    return out;
  }

  function inboxParams() {
    return query(activeFilters().map(function (f) { return [f.param, f.value]; }));
  }

  function showChips() {
    var ul = $("filter-chips");
    ul.textContent = "";
    var active = activeFilters();
    active.forEach(function (f) {
      var li = el("li", undefined, "chip");
      li.appendChild(el("span", f.words));
      var x = el("button", "×");
      x.type = "button";
      x.setAttribute("aria-label", "Remove filter " + f.words);
      x.addEventListener("click", function () { f.clear(); filtersChanged(); });
      li.appendChild(x);
      ul.appendChild(li);
    });
    ul.hidden = !active.length;
    $("save-view").hidden = !active.length || !!known.view;
  }

  function filtersChanged(keepView) {
    if (!keepView) markView(null);
    showChips();
    ob.inbox.rows = [];
    ob.loadInbox();
    if ($("search-q").value.trim()) search();
  }
  $("filters").addEventListener("change", function (ev) { if (ev.target.id !== "f-sort" && ev.target.id !== "f-attr-value") filtersChanged(); });
  $("f-attr-value").addEventListener("input", debounce(function () { if ($("f-attr").value) filtersChanged(); }, 400));
  $("filters").addEventListener("submit", function (ev) { ev.preventDefault(); });

  /* ---- saved views ---------------------------------------------------------------------- */

  function loadViews() {
    return api("GET", "/v1/views").then(function (list) { known.views = list.data; showViews(); }).catch(reportError);
  }

  function showViews() {
    var ul = $("view-list");
    ul.textContent = "";
    var all = el("button", "All conversations", "view");
    all.type = "button";
    all.setAttribute("aria-current", known.view ? "false" : "true");
    all.addEventListener("click", function () { applyView(null); });
    ul.appendChild(el("li")).appendChild(all);
    known.views.forEach(function (v) {
      var li = el("li");
      var b = el("button", v.name + (v.shared ? " (shared)" : ""), "view");
      b.type = "button";
      b.dataset.id = v.id;
      b.setAttribute("aria-current", known.view === v.id ? "true" : "false");
      b.addEventListener("click", function () { applyView(v); });
      li.appendChild(b);
      if (!v.shared || state.me.role === "admin") {
        var x = el("button", "×", "view-delete");
        x.type = "button";
        x.setAttribute("aria-label", "Delete view " + v.name);
        x.addEventListener("click", function () {
          if (!window.confirm("Delete the view " + v.name + "?")) return;
          api("DELETE", "/v1/views/" + v.id).then(function () { if (known.view === v.id) applyView(null); loadViews(); }, reportError);
        });
        li.appendChild(x);
      }
      ul.appendChild(li);
    });
  }

  function markView(id) {
    known.view = id;
    Array.prototype.forEach.call($("view-list").querySelectorAll("button.view"), function (b) {
      b.setAttribute("aria-current", (b.dataset.id || null) === id ? "true" : "false");
    });
  }

  /* A view sets the filter controls to its filters; changing a control leaves the view. */
  function applyView(view) {
    FILTERS.forEach(function (f) { $(f[0]).value = ""; });
    $("f-attr").value = "";
    $("f-attr-value").value = "";
    var filters = view ? view.filters : {};
    Object.keys(filters).forEach(function (k) {
      var f = FILTERS.find(function (f) { return f[1] === k; });
      if (f) $(f[0]).value = filters[k];
      else if (k === "sort") $("f-sort").value = filters[k] === "waiting" ? "waiting" : "recent";
      else if (k === "q") $("search-q").value = filters[k];
      else if (k.indexOf("attr.") === 0) { $("f-attr").value = k.slice(5); $("f-attr-value").value = filters[k]; }
    });
    markView(view ? view.id : null);
    filtersChanged(true);
  }

  $("save-view").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var filters = {};
    activeFilters().forEach(function (f) { filters[f.param] = f.value; });
    if ($("f-sort").value === "waiting") filters.sort = "waiting";
    api("POST", "/v1/views", { name: $("view-name").value, shared: $("view-shared").checked, filters: filters }).then(function (v) {
      $("view-name").value = "";
      $("view-shared").checked = false;
      known.views.push(v);
      markView(v.id);
      showViews();
      showChips();
      say("Saved the view " + v.name + ".", true);
    }, reportError);
  });

  /* ---- search as you type --------------------------------------------------------------- */

  function debounce(fn, ms) {
    var timer;
    return function () { clearTimeout(timer); timer = setTimeout(fn, ms); };
  }

  var searching = { seq: 0, cursor: null };

  /* The inbox filters that also narrow a search. */
  var SEARCH_FILTERS = ["status", "channel_id", "assignee", "team", "label", "since", "until"];

  function searchPath(cursor) {
    var params = [["q", $("search-q").value.trim()], ["type", $("search-type").value], ["limit", "20"]];
    activeFilters().forEach(function (f) { if (SEARCH_FILTERS.indexOf(f.param) >= 0) params.push([f.param, f.value]); });
    if (cursor) params.push(["cursor", cursor]);
    return "/v1/search?" + query(params).join("&");
  }

  function search(more) {
    var q = $("search-q").value.trim();
    var seq = ++searching.seq;
    if (q.length < 2) {
      $("search-results").hidden = true;
      $("search-more").hidden = true;
      $("search-status").textContent = "";
      $("conversations").hidden = false;
      ob.renderInbox();
      return;
    }
    $("search-status").textContent = "Searching…";
    api("GET", searchPath(more ? searching.cursor : null)).then(function (page) {
      if (seq !== searching.seq) return; // an older answer, overtaken by typing
      searching.cursor = page.next_cursor;
      var ol = $("search-results");
      if (!more) ol.textContent = "";
      page.data.forEach(function (hit) { ol.appendChild(resultRow(hit)); });
      var count = ol.querySelectorAll("button.hit").length;
      $("search-status").textContent = count ? count + (page.next_cursor ? "+" : "") + " found for “" + q + "”" : "Nothing found for “" + q + "”.";
      ol.hidden = false;
      $("conversations").hidden = true;
      $("inbox-more").hidden = true;
      $("search-more").hidden = !page.next_cursor;
    }, function (err) {
      if (seq !== searching.seq) return;
      $("search-status").textContent = explain(err);
    });
  }
  $("search-q").addEventListener("input", debounce(function () { search(false); }, 250));
  $("search-type").addEventListener("change", function () { search(false); });
  $("search").addEventListener("submit", function (ev) { ev.preventDefault(); search(false); });
  $("search-more").addEventListener("click", function () { search(true); });

  /* An excerpt with the matching words marked. */
  function excerpt(fragments) {
    var span = el("span", undefined, "hit-excerpt");
    (fragments || []).forEach(function (f) { span.appendChild(f.match ? el("mark", f.text) : document.createTextNode(f.text)); });
    return span;
  }

  function resultRow(hit) {
    var li = el("li");
    var b = el("button", undefined, "hit");
    b.type = "button";
    var title, when, open;
    if (hit.type === "message") {
      var m = hit.message;
      title = (m.direction === "out" ? "Reply" : "Message") + (m.author ? " by " + m.author : "");
      when = m.created_at;
      open = function () { ob.openConversation(m.conversation_id); };
    } else if (hit.type === "conversation") {
      var c = hit.conversation;
      title = (hit.field === "subject" ? "Subject" : "Conversation") + " · " + c.status;
      when = c.last_message_at;
      open = function () { ob.openConversation(c.id); };
    } else {
      var p = hit.contact;
      title = p.name || p.email || p.phone || "Contact";
      open = function () {
        api("GET", "/v1/conversations?limit=1&contact_id=" + p.id).then(function (list) {
          if (list.data.length) ob.openConversation(list.data[0].id);
          else ob.loadContact(p.id);
        }, reportError);
      };
    }
    var top = el("span", undefined, "row-top");
    top.appendChild(el("span", title, "row-name"));
    if (when) top.appendChild(el("span", new Date(when).toLocaleDateString(), "row-time"));
    b.appendChild(top);
    b.appendChild(excerpt(hit.highlight));
    b.addEventListener("click", open);
    li.appendChild(b);
    return li;
  }

  /* Arrow keys move between the search box and its results; Escape leaves the search. */
  $("inbox").addEventListener("keydown", function (ev) {
    var inSearch = ev.target.id === "search-q" || ev.target.classList.contains("hit");
    if (!inSearch) return;
    if (ev.key === "Escape") {
      $("search-q").value = "";
      search(false);
      $("search-q").focus();
      ev.preventDefault();
      return;
    }
    if (ev.key !== "ArrowDown" && ev.key !== "ArrowUp") return;
    var hits = Array.prototype.slice.call($("search-results").querySelectorAll("button.hit"));
    if (!hits.length || $("search-results").hidden) return;
    var at = hits.indexOf(ev.target);
    var next = ev.key === "ArrowDown" ? hits[Math.min(hits.length - 1, at + 1)] : at <= 0 ? $("search-q") : hits[at - 1];
    next.focus();
    ev.preventDefault();
  });

  /* ---- labels ---------------------------------------------------------------------------- */

  function chip(label, onRemove, what) {
    var li = el("li", undefined, "label-chip");
    var dot = el("span", undefined, "label-dot");
    dot.style.backgroundColor = label.color;
    dot.setAttribute("aria-hidden", "true");
    li.appendChild(dot);
    li.appendChild(el("span", label.name));
    if (onRemove) {
      var x = el("button", "×");
      x.type = "button";
      x.setAttribute("aria-label", "Remove label " + label.name + (what ? " from " + what : ""));
      x.addEventListener("click", onRemove);
      li.appendChild(x);
    }
    return li;
  }

  function label(id) { return known.labels.find(function (l) { return l.id === id; }); }

  function change(labelId, on, conversations, contacts) {
    return api("POST", "/v1/labels/" + labelId + "/" + (on ? "apply" : "remove"), { conversation_ids: conversations || [], contact_ids: contacts || [] });
  }

  /* Rows: a checkbox for bulk changes and the conversation's labels. */
  function decorateRow(li, button, c) {
    var box = el("input", undefined, "row-select");
    box.type = "checkbox";
    box.checked = !!selected[c.id];
    var who = button.querySelector(".row-name");
    box.setAttribute("aria-label", "Select the conversation with " + (who ? who.textContent : "this contact"));
    box.addEventListener("change", function () { setSelected(c.id, box.checked); });
    li.insertBefore(box, button);
    li.classList.add("selectable");
    if (c.labels && c.labels.length) {
      var line = el("span", undefined, "row-labels");
      c.labels.forEach(function (l) {
        var one = el("span", undefined, "label-chip");
        var dot = one.appendChild(el("span", undefined, "label-dot"));
        dot.style.backgroundColor = l.color;
        one.appendChild(el("span", l.name));
        line.appendChild(one);
      });
      button.appendChild(line);
    }
  }

  function setSelected(id, on) {
    if (on) selected[id] = true; else delete selected[id];
    var n = Object.keys(selected).length;
    $("bulk").hidden = !n;
    $("bulk-count").textContent = n + " selected";
  }

  function toggleSelected(id) {
    setSelected(id, !selected[id]);
    ob.renderInbox();
  }

  function bulk(on) {
    var ids = Object.keys(selected), labelId = $("bulk-label").value;
    if (!ids.length || !labelId) return;
    change(labelId, on, ids).then(function (r) {
      say((on ? "Labelled " : "Took the label off ") + r.changed + " of " + ids.length + " conversations: " + label(labelId).name + ".", true);
      ob.loadInbox();
      if (state.conversation && selected[state.conversation.id]) refreshConversation();
    }, reportError);
  }
  $("bulk-apply").addEventListener("click", function () { bulk(true); });
  $("bulk-remove").addEventListener("click", function () { bulk(false); });
  $("bulk-clear").addEventListener("click", function () {
    Object.keys(selected).forEach(function (id) { setSelected(id, false); });
    ob.renderInbox();
  });

  function refreshConversation() {
    api("GET", "/v1/conversations/" + state.conversation.id).then(function (c) { state.conversation = c; showConversation(c); }, reportError);
  }

  function refreshContact() {
    api("GET", "/v1/contacts/" + state.contact.id).then(function (c) { state.contact = c; showContact(c); }, reportError);
  }

  function showLabels(list, labels, remove) {
    list.textContent = "";
    (labels || []).forEach(function (l) { list.appendChild(chip(l, function () { remove(l); })); });
    if (!list.children.length) list.appendChild(el("li", "No labels", "none"));
  }

  /* The conversation and contact panels work alike: labels to take off and put on, and the
     tenant's attributes for that kind, typed. */
  var PANELS = {
    conversation: {
      current: function () { return state.conversation; },
      path: "/v1/conversations/",
      targets: function (id) { return [[id], []]; },
      refresh: function () { refreshConversation(); ob.loadInbox(); },
      attributes: "conversation-attributes-panel"
    },
    contact: {
      current: function () { return state.contact; },
      path: "/v1/contacts/",
      targets: function (id) { return [[], [id]]; },
      refresh: refreshContact,
      attributes: "contact-attributes"
    }
  };

  function showPanel(kind, thing) {
    var panel = PANELS[kind], targets = panel.targets(thing.id);
    showLabels($(kind + "-labels"), thing.labels, function (l) {
      change(l.id, false, targets[0], targets[1]).then(panel.refresh, reportError);
    });
    $(kind + "-label-add").hidden = !known.labels.length;
    attributeForm($(kind + "-attributes"), kind, thing.custom_attributes || {});
    $(panel.attributes).hidden = !$(kind + "-attributes").children.length;
  }

  function showConversation(c) {
    $("conversation-organize").hidden = false;
    showPanel("conversation", c);
  }

  function showContact(contact) { showPanel("contact", contact); }

  Object.keys(PANELS).forEach(function (kind) {
    var panel = PANELS[kind];
    $(kind + "-label-add").addEventListener("submit", function (ev) {
      ev.preventDefault();
      var thing = panel.current(), pick = $(kind + "-label-pick").value;
      if (!thing || !pick) return;
      var targets = panel.targets(thing.id);
      change(pick, true, targets[0], targets[1]).then(panel.refresh, reportError);
    });
    $(kind + "-attributes").addEventListener("submit", function (ev) {
      ev.preventDefault();
      saveAttributes(ev.target, panel.path + panel.current().id, panel.refresh);
    });
  });

  /* ---- custom attributes ------------------------------------------------------------------ */

  /* One field per defined attribute, typed; saving sends what changed (empty removes). */
  function attributeForm(form, owner, values) {
    form.textContent = "";
    var defs = known.attributes.filter(function (a) { return a.applies_to === owner; });
    if (!defs.length) return;
    defs.forEach(function (a) {
      var id = owner + "-attr-" + a.key, input;
      var lab = el("label", a.name + (a.personal ? " (personal)" : ""));
      lab.htmlFor = id;
      form.appendChild(lab);
      if (a.type === "boolean" || a.type === "list") {
        input = el("select");
        input.appendChild(el("option", "—")).value = "";
        (a.type === "boolean" ? [["true", "yes"], ["false", "no"]] : a.options.map(function (o) { return [o, o]; })).forEach(function (o) {
          input.appendChild(el("option", o[1])).value = o[0];
        });
      } else {
        input = el("input");
        input.type = a.type === "number" ? "text" : a.type === "date" ? "date" : "text";
        if (a.type === "number") input.inputMode = "decimal";
      }
      input.id = id;
      input.dataset.key = a.key;
      input.dataset.type = a.type;
      var v = values[a.key];
      input.value = v === undefined || v === null ? "" : String(v);
      input.dataset.was = input.value;
      form.appendChild(input);
    });
    var save = el("button", "Save " + owner + " details");
    save.type = "submit";
    form.appendChild(save);
  }

  /* Values as the API takes them; a number that is not one goes as typed, and the hub names
     the attribute in its refusal. */
  function typed(input) {
    var v = input.value.trim();
    if (v === "") return null;
    if (input.dataset.type === "boolean") return v === "true";
    if (input.dataset.type === "number" && v !== "" && !isNaN(Number(v))) return Number(v);
    return v;
  }

  function saveAttributes(form, path, done) {
    var changed = {}, any = false;
    Array.prototype.forEach.call(form.querySelectorAll("[data-key]"), function (input) {
      if (input.value === input.dataset.was) return;
      changed[input.dataset.key] = typed(input);
      any = true;
    });
    if (!any) return;
    api("PATCH", path, { custom_attributes: changed }).then(function () { say("Saved.", true); done(); }, reportError);
  }

  /* ---- admins: labels and attribute definitions ------------------------------------------ */

  function reloadDefinitions() {
    return Promise.all([api("GET", "/v1/labels"), api("GET", "/v1/attributes")]).then(function (r) {
      known.labels = r[0].data;
      known.attributes = r[1].data;
      fillChoices();
      showAdmin();
      ob.loadInbox();
      if (state.conversation) refreshConversation();
      if (state.contact) refreshContact();
    }, reportError);
  }

  function showAdmin() {
    var ul = $("label-admin");
    ul.textContent = "";
    known.labels.forEach(function (l) {
      var li = chip(l, function () {
        if (!window.confirm("Delete the label " + l.name + "? It is taken off everything that has it.")) return;
        api("DELETE", "/v1/labels/" + l.id).then(reloadDefinitions, reportError);
      });
      li.lastChild.setAttribute("aria-label", "Delete label " + l.name);
      li.insertBefore(el("span", "(" + (l.conversations || 0) + " conversations, " + (l.contacts || 0) + " contacts)", "label-usage"), li.lastChild);
      var rename = el("button", "Rename");
      rename.type = "button";
      rename.setAttribute("aria-label", "Rename label " + l.name);
      rename.addEventListener("click", function () {
        var name = window.prompt("New name for " + l.name, l.name);
        if (name && name !== l.name) api("PATCH", "/v1/labels/" + l.id, { name: name }).then(reloadDefinitions, reportError);
      });
      li.insertBefore(rename, li.lastChild);
      ul.appendChild(li);
    });
    var attrs = $("attribute-admin");
    attrs.textContent = "";
    known.attributes.forEach(function (a) {
      var li = el("li", a.name + " (" + a.applies_to + ", " + a.key + ": " + a.type + (a.options ? " of " + a.options.join(", ") : "") + (a.personal ? ", personal" : "") + ") ");
      var x = el("button", "Delete");
      x.type = "button";
      x.setAttribute("aria-label", "Delete attribute " + a.name);
      x.addEventListener("click", function () {
        if (!window.confirm("Delete the attribute " + a.name + " and every value of it?")) return;
        api("DELETE", "/v1/attributes/" + a.id).then(reloadDefinitions, reportError);
      });
      li.appendChild(x);
      attrs.appendChild(li);
    });
  }

  $("new-label").addEventListener("submit", function (ev) {
    ev.preventDefault();
    api("POST", "/v1/labels", { name: $("label-name").value, color: $("label-color").value }).then(function () {
      $("label-name").value = "";
      reloadDefinitions();
    }, reportError);
  });

  $("new-attribute").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var body = { applies_to: $("attr-applies").value, key: $("attr-key").value.trim(), type: $("attr-type").value, personal: $("attr-personal").checked };
    if ($("attr-name").value.trim()) body.name = $("attr-name").value.trim();
    if (body.type === "list") body.options = $("attr-options").value.split(",").map(function (s) { return s.trim(); }).filter(function (s) { return s; });
    api("POST", "/v1/attributes", body).then(function () { ev.target.reset(); reloadDefinitions(); }, reportError);
  });

  ob.organize = {
    start: start, inboxParams: inboxParams, decorateRow: decorateRow,
    showConversation: showConversation, showContact: showContact, toggleSelected: toggleSelected
  };
})();
