/*
 * omnibridge operator console. Plain JavaScript, no build step: it signs in with a session
 * cookie and uses only the public /v1 API (changes carry the session's CSRF token), so
 * everything here can also be done over the API.
 */
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var state = { csrf: null, me: null, channels: [], conversation: null, contact: null };
  /* Search, filters, saved views, labels and custom attributes live in organize.js, which
     registers itself here; this file calls it at the points named in its interface. */
  var organize = function () { return window.omnibridgeConsole.organize; };

  function say(text, ok) {
    var el = $("alert");
    el.textContent = text || "";
    el.className = ok ? "ok" : "";
    el.hidden = !text;
  }

  function api(method, path, body) {
    var headers = {};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (method !== "GET" && state.csrf) headers["X-CSRF-Token"] = state.csrf;
    return fetch(path, { method: method, headers: headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body) })
      .then(function (r) {
        if (r.status === 204) return null;
        return r.json().then(function (j) {
          if (!r.ok) { var e = new Error(j.detail || r.statusText); e.problem = j; e.status = r.status; throw e; }
          return j;
        });
      });
  }

  /* Refusals are explained in words, not codes. */
  function explain(err) {
    var p = err.problem || {};
    if (p.code === "consent_missing") return "Not sent: the contact has not agreed to this. " + p.detail;
    if (p.code === "policy_blocked") return "Not sent: your data routing policy does not allow it (" + (p.rule || "policy") + "). " + p.detail;
    if (p.code === "restricted") return "Not sent: this contact's data is restricted. " + p.detail;
    if (p.code === "window_closed") return "Not sent: the reply window is closed. " + p.detail;
    return err.message;
  }

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }

  function channelName(id) {
    var c = state.channels.find(function (c) { return c.id === id; });
    return c ? c.name + " (" + c.kind + ")" : "channel";
  }

  /* ---- sign-in ---------------------------------------------------------------------- */

  function start() {
    api("GET", "/v1/auth/session").then(signedIn, function () { $("signin").hidden = false; });
  }

  $("signin").addEventListener("submit", function (ev) {
    ev.preventDefault();
    say("");
    api("POST", "/v1/auth/login", { email: $("email").value, password: $("password").value })
      .then(function () { return api("GET", "/v1/auth/session"); })
      .then(signedIn, function (err) { say(err.status === 401 ? "Wrong email or password." : explain(err)); });
  });

  $("signout").addEventListener("click", function () {
    api("POST", "/v1/auth/logout").then(function () { location.reload(); });
  });

  function signedIn(me) {
    state.me = me;
    state.csrf = me.csrf_token;
    $("signin").hidden = true;
    $("app").hidden = false;
    $("signout").hidden = false;
    $("who").textContent = (me.name || "operator") + " · " + me.role;
    $("admin").hidden = me.role !== "admin";
    if (me.operator_id) loadMe();
    loadStats();
    api("GET", "/v1/channels?limit=200").then(function (list) {
      state.channels = list.data;
      list.data.forEach(function (c) { var o = el("option", c.name + " (" + c.kind + ")"); o.value = c.id; $("f-channel").appendChild(o); });
      loadInbox();
    }).catch(function (err) { say(explain(err)); });
    if (me.role === "admin") { loadOperators(); loadWebhooks(); }
    organize().start(me);
    api("GET", "/v1/operators?limit=200").then(function (ops) { ops.data.forEach(function (o) { inbox.operators[o.id] = o.name; }); renderInbox(); }).catch(function () {});
    loadCanned();
    askForNotifications();
    live();
  }

  /* ---- inbox -------------------------------------------------------------------------- */

  /* Rows an operator can tell apart: who, on which channel, the last message, how long they
     have waited, how many of their messages I have not read. Pages of 50, "Show more" for the
     next; a live update reloads what is shown and keeps the scroll position. */
  var CHANNEL_ICON = { webchat: "Chat", email: "Mail", twilio_sms: "SMS", telegram: "TG", whatsapp: "WA", messenger: "FB", instagram: "IG" };
  var inbox = { rows: [], cursor: null, operators: {} };

  function ago(iso) {
    var secs = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
    if (secs < 60) return "just now";
    if (secs < 3600) return Math.floor(secs / 60) + " min";
    if (secs < 86400) return Math.floor(secs / 3600) + " h";
    return Math.floor(secs / 86400) + " d";
  }

  function inboxQuery() {
    return "/v1/conversations?" + ["include=summary", "limit=50"].concat(organize().inboxParams()).join("&");
  }

  /* Loads overlap (a live update, a filter, a view picked): only the latest one started is
     shown, so an answer that comes late never replaces a newer list with an older one. */
  function loadInbox(more) {
    var generation = inbox.generation = (inbox.generation || 0) + 1;
    var path = inboxQuery() + (more && inbox.cursor ? "&cursor=" + encodeURIComponent(inbox.cursor) : "");
    var pages = more ? 1 : Math.max(1, Math.ceil(inbox.rows.length / 50));
    var rows = more ? inbox.rows.slice() : [];
    function page(path, left) {
      return api("GET", path).then(function (list) {
        if (generation !== inbox.generation) return;
        rows = rows.concat(list.data);
        cursor = list.next_cursor;
        if (left > 1 && list.next_cursor) return page(inboxQuery() + "&cursor=" + encodeURIComponent(list.next_cursor), left - 1);
      });
    }
    var cursor = null;
    return page(path, pages).then(function () {
      if (generation !== inbox.generation) return;
      inbox.rows = rows;
      inbox.cursor = cursor;
      renderInbox();
    }).catch(function (err) { if (generation === inbox.generation) say(explain(err)); });
  }

  function renderInbox() {
    var ol = $("conversations"), scroll = ol.scrollTop;
    var rows = inbox.rows.slice();
    if ($("f-sort").value === "waiting") {
      var w = function (c) { return c.summary && c.summary.waiting_since ? new Date(c.summary.waiting_since).getTime() : Infinity; };
      rows.sort(function (a, b) { return w(a) - w(b); });
    } else {
      rows.sort(function (a, b) { return new Date(b.last_message_at) - new Date(a.last_message_at); });
    }
    ol.textContent = "";
    var unreadTotal = 0;
    rows.forEach(function (c) {
      var s = c.summary || {}, ch = state.channels.find(function (x) { return x.id === c.channel_id; });
      unreadTotal += s.unread || 0;
      var li = el("li");
      var b = el("button", undefined, "row" + (s.unread ? " unread" : ""));
      b.type = "button";
      b.dataset.id = c.id;
      b.setAttribute("aria-current", state.conversation && state.conversation.id === c.id ? "true" : "false");
      var top = el("span", undefined, "row-top");
      top.appendChild(el("span", s.contact_name || s.contact_address || "Unknown contact", "row-name"));
      if (s.unread) top.appendChild(el("span", String(s.unread), "badge")).setAttribute("aria-label", s.unread + " unread");
      top.appendChild(el("span", ago(c.last_message_at), "row-time"));
      b.appendChild(top);
      var last = s.last_message;
      b.appendChild(el("span", last ? (last.direction === "out" ? "You: " : "") + last.preview : "No messages yet", "row-preview"));
      var bottom = el("span", undefined, "row-meta");
      var icon = el("span", ch ? CHANNEL_ICON[ch.kind] || ch.kind : "?", "channel-icon channel-" + (ch ? ch.kind : "unknown"));
      icon.setAttribute("aria-hidden", "true");
      bottom.appendChild(icon);
      bottom.appendChild(el("span", (ch ? ch.name : "channel") + " · " + c.status));
      if (s.waiting_since) bottom.appendChild(el("span", "waiting " + ago(s.waiting_since), "waiting"));
      bottom.appendChild(el("span", c.assignee_id ? (inbox.operators[c.assignee_id] || "assigned") : "unassigned"));
      b.appendChild(bottom);
      b.addEventListener("click", function () { openConversation(c.id); });
      li.appendChild(b);
      organize().decorateRow(li, b, c);
      ol.appendChild(li);
    });
    if (!rows.length) ol.appendChild(el("li", "No conversations here.", "empty"));
    $("inbox-more").hidden = !inbox.cursor || $("conversations").hidden;
    ol.scrollTop = scroll;
    state.unread = unreadTotal;
    document.title = (unreadTotal ? "(" + unreadTotal + ") " : "") + "omnibridge console";
  }
  $("f-sort").addEventListener("change", renderInbox);
  $("inbox-more").addEventListener("click", function () { loadInbox(true); });

  /* ---- a conversation ----------------------------------------------------------------- */

  function openConversation(id) {
    say("");
    return api("GET", "/v1/conversations/" + id).then(function (c) {
      state.conversation = c;
      $("conversation-actions").hidden = false;
      $("reply").hidden = false;
      showWindow(c);
      showParticipants(c);
      organize().showConversation(c);
      if (state.me.operator_id) api("POST", "/v1/conversations/" + c.id + "/read").then(function () { loadInbox(); }).catch(function () {});
      loadContact(c.contact_id).then(loadMessages);
      Array.prototype.forEach.call($("conversations").querySelectorAll("button"), function (b) {
        b.setAttribute("aria-current", b.dataset.id === id ? "true" : "false");
      });
    }).catch(function (err) { say(explain(err)); });
  }

  /* Mail: who else is on the conversation; replies go to all of them unless Cc says otherwise. */
  function isMail(channelId) {
    var ch = state.channels.filter(function (x) { return x.id === channelId; })[0];
    return !!ch && ch.kind === "email";
  }
  function showParticipants(c) {
    var p = $("participants"), mail = isMail(c.channel_id);
    p.hidden = true;
    $("reply-copies").hidden = !mail;
    $("forward").hidden = false;
    $("reply-cc").value = "";
    $("reply-bcc").value = "";
    if (!mail) return;
    api("GET", "/v1/conversations/" + c.id + "/participants").then(function (list) {
      if (!list.data.length) return;
      p.textContent = "Also on this conversation (in copy of every reply): " + list.data.map(function (x) { return x.address; }).join(", ");
      p.hidden = false;
    }).catch(function (err) { say(explain(err)); });
  }
  function addresses(text) {
    return text.split(/[,;\s]+/).map(function (s) { return s.trim(); }).filter(function (s) { return s; });
  }
  $("reply-channel").addEventListener("change", function () { $("reply-copies").hidden = !isMail($("reply-channel").value); });
  $("forward").addEventListener("submit", function (ev) {
    ev.preventDefault();
    say("");
    api("POST", "/v1/conversations/" + state.conversation.id + "/forward", { to: $("forward-to").value.trim(), text: $("forward-note").value || undefined }).then(function () {
      ev.target.reset();
      loadMessages();
    }, function (err) { say(explain(err)); });
  });

  /* The reply window of WhatsApp, Messenger and Instagram, and the templates that go after it. */
  function showWindow(c) {
    var w = c.window, p = $("reply-window");
    p.hidden = !w;
    $("reply-templates").hidden = !(w && w.templates);
    $("reply-template").value = "";
    templateChosen();
    if (!w) return;
    if (w.state === "open") {
      p.textContent = "Reply window open until " + new Date(w.closes_at).toLocaleString() + ".";
    } else if (w.human_agent) {
      p.textContent = "Reply window closed; as an agent you may still write until " + new Date(w.human_agent_until).toLocaleString() + ".";
    } else {
      p.textContent = "Reply window closed" + (w.closes_at ? " since " + new Date(w.closes_at).toLocaleString() : "") +
        (w.templates ? ": only an approved template can be sent." : ": wait until the contact writes again.");
    }
    if (!w.templates) return;
    api("GET", "/v1/channels/" + c.channel_id + "/templates").then(function (list) {
      var sel = $("reply-template");
      sel.textContent = "";
      sel.appendChild(el("option", "— free text —"));
      sel.firstChild.value = "";
      list.data.filter(function (t) { return t.status === "APPROVED"; }).forEach(function (t) {
        var o = el("option", t.name + " (" + t.language + ", " + t.category.toLowerCase() + ", " + t.parameters + " parameters)");
        o.value = JSON.stringify({ name: t.name, language: t.language });
        sel.appendChild(o);
      });
    }).catch(function (err) { say(explain(err)); });
  }

  function templateChosen() {
    var chosen = !!$("reply-template").value;
    $("reply-text").required = !chosen;
    $("reply-text").disabled = chosen;
  }
  $("reply-template").addEventListener("change", templateChosen);

  /* A message's delivery status in words, with the failure's reason and code. */
  var STATUS_WORDS = {
    received: "received", note: "note", scheduled: "scheduled", queued: "waiting to send", sending: "sending",
    sent: "sent", delivered: "delivered", read: "read", failed: "failed", canceled: "canceled",
    unknown: "may not have arrived (the provider's answer was lost)"
  };
  var STATUS_ICON = { scheduled: "🕓", queued: "…", sending: "…", sent: "✓", delivered: "✓✓", read: "👁", failed: "⚠", canceled: "⊘", unknown: "?" };
  function statusWords(m) {
    var words = STATUS_WORDS[m.status] || m.status;
    if (m.status === "scheduled" && m.send_at) words += " for " + new Date(m.send_at).toLocaleString();
    if (m.failure) {
      words += " — " + (m.failure.class === "transient" ? "temporary problem" : "will not go") + ": " + m.failure.reason;
      if (m.failure.code) words += " (" + m.failure.code + ")";
    } else if (m.error && m.status !== "delivered" && m.status !== "read") {
      words += " — " + m.error;
    }
    return words;
  }

  /* A mail's further recipients: "cc carla@…, bcc …; left out ben@… (reason)". */
  function recipientWords(list) {
    var ROLE = { to: "forwarded to", cc: "cc", bcc: "bcc" };
    var got = list.filter(function (r) { return r.status !== "refused"; }).map(function (r) { return ROLE[r.role] + " " + r.address; });
    var out = list.filter(function (r) { return r.status === "refused"; }).map(function (r) { return "left out " + r.address + " (" + r.reason + ")"; });
    return got.concat(out).join(" · ");
  }

  function messageAction(label, m, path) {
    var b = el("button", label, "message-action");
    b.type = "button";
    b.addEventListener("click", function () {
      say("");
      api("POST", "/v1/messages/" + m.id + "/" + path, {}).then(loadMessages, function (err) { say(explain(err)); });
    });
    return b;
  }

  function loadMessages() {
    var c = state.conversation;
    if (!c) return Promise.resolve();
    // As with the inbox, only the latest load is shown: another conversation opened, or a
    // newer load of this one, overtakes it.
    var generation = state.messagesGeneration = (state.messagesGeneration || 0) + 1;
    return api("GET", "/v1/conversations/" + c.id + "/messages?limit=200").then(function (list) {
      if (generation !== state.messagesGeneration) return;
      var ol = $("messages"), scroll = ol.scrollTop, atEnd = ol.scrollTop + ol.clientHeight >= ol.scrollHeight - 4;
      ol.textContent = "";
      /* Messages that arrived while the conversation was open get a "New messages" line. */
      var seen = state.seenUpTo && state.seenUpTo.conversation === c.id ? state.seenUpTo.id : null, marked = false;
      list.data.forEach(function (m) {
        if (seen && !marked && m.id > seen && m.direction === "in") {
          ol.appendChild(el("li", "New messages", "new-marker"));
          marked = true;
        }
        var li = el("li", undefined, "bubble " + (m.private ? "note" : m.direction));
        li.dataset.id = m.id;
        li.dataset.status = m.status;
        var who = m.private ? "Note by " + (inbox.operators[m.author_id] || "the team")
          : m.direction === "in" ? (state.contact && state.contact.name) || "Contact"
          : m.author === "system" ? "Automatic" : (inbox.operators[m.author_id] || "You");
        li.appendChild(el("span", who + " · " + channelName(m.channel_id) + " · " + new Date(m.created_at).toLocaleString(), "author"));
        li.appendChild(el("span", m.text, "text"));
        (m.attachments || []).forEach(function (a) {
          var href = "/v1/attachments/" + a.id;
          if (a.stored && /^image\//.test(a.content_type)) {
            var img = el("img", undefined, "attachment-image");
            img.src = href;
            img.alt = a.filename || "image";
            li.appendChild(img);
          } else {
            var link = el("a", (a.filename || a.content_type) + " (" + Math.ceil(a.size / 1024) + " KB)", "attachment");
            if (a.stored) link.href = href; else link.removeAttribute("href");
            li.appendChild(link);
          }
        });
        if (m.recipients && m.recipients.length) li.appendChild(el("span", recipientWords(m.recipients), "recipients"));
        if (m.direction === "out" && !m.private) li.appendChild(el("span", (STATUS_ICON[m.status] || "") + " " + statusWords(m), "meta status-" + m.status));
        if (m.status === "failed" || m.status === "unknown" || m.status === "canceled") li.appendChild(messageAction("Retry", m, "retry"));
        if (m.status === "scheduled") li.appendChild(messageAction("Cancel", m, "cancel"));
        ol.appendChild(li);
      });
      if (!seen) state.seenUpTo = { conversation: c.id, id: list.data.length ? list.data[list.data.length - 1].id : "0" };
      ol.scrollTop = !seen || atEnd ? ol.scrollHeight : scroll;
    });
  }

  var KIND_OF_CHANNEL = { webchat: "webchat", email: "email", twilio_sms: "phone", telegram: "telegram", whatsapp: "whatsapp", messenger: "messenger", instagram: "instagram" };

  function loadContact(id) {
    return Promise.all([
      api("GET", "/v1/contacts/" + id),
      api("GET", "/v1/contacts/" + id + "/consents"),
      api("GET", "/v1/contacts/" + id + "/consents?history=true")
    ]).then(function (r) {
      var contact = r[0], consents = r[1], history = r[2];
      state.contact = contact;
      organize().showContact(contact);
      var dl = $("contact-fields");
      dl.textContent = "";
      [["Name", contact.name], ["Email", contact.email], ["Phone", contact.phone]].forEach(function (f) {
        dl.appendChild(el("dt", f[0]));
        dl.appendChild(el("dd", f[1] || "—"));
      });
      var ids = $("identities");
      ids.textContent = "";
      contact.identities.forEach(function (i) {
        var words = i.kind + ": " + i.address + " (" + i.status + ")";
        (contact.undeliverable || []).filter(function (u) { return u.identity_id === i.id; }).forEach(function (u) {
          words += u.marked_at
            ? " — undeliverable on " + channelName(u.channel_id) + " since " + new Date(u.marked_at).toLocaleString() + ": " + (u.code ? u.code + " " : "") + (u.reason || "")
            : " — bounced " + u.hard_bounces + "× on " + channelName(u.channel_id);
        });
        var li = el("li", words);
        if ((contact.undeliverable || []).some(function (u) { return u.identity_id === i.id && u.marked_at; })) li.className = "undeliverable";
        ids.appendChild(li);
      });
      var cs = $("consents");
      cs.textContent = "";
      (consents.data || []).forEach(function (e) { cs.appendChild(el("li", e.channel + " · " + e.purpose + ": " + e.state + " (" + e.method + ")")); });
      if (!cs.children.length) cs.appendChild(el("li", "No consent recorded: service replies allowed, marketing needs consent."));
      var hs = $("consent-history");
      hs.textContent = "";
      (history.data || []).forEach(function (e) {
        hs.appendChild(el("li", new Date(e.created_at).toLocaleString() + " · " + e.channel + " · " + e.purpose + " · " + e.action + " by " + e.method));
      });
      // The channels the contact can be reached on: switch channel by picking another.
      var kinds = contact.identities.map(function (i) { return i.kind; });
      var sel = $("reply-channel");
      sel.textContent = "";
      state.channels.filter(function (ch) { return kinds.indexOf(KIND_OF_CHANNEL[ch.kind]) >= 0; }).forEach(function (ch) {
        var o = el("option", ch.name + " (" + ch.kind + ")");
        o.value = ch.id;
        if (state.conversation && ch.id === state.conversation.channel_id) o.selected = true;
        sel.appendChild(o);
      });
      $("privacy-actions").hidden = state.me.role !== "admin";
      loadMerges(contact.id);
    }).catch(function (err) { say(explain(err)); });
  }

  /* ---- contact merges ----------------------------------------------------------------------- */

  function mergeInto(contactId, otherId, reason) {
    return api("POST", "/v1/contacts/" + contactId + "/merge", { other_id: otherId, reason: reason }).then(function () {
      loadContact(contactId);
      loadInbox();
    }, function (err) { say(explain(err)); });
  }

  function loadMerges(id) {
    Promise.all([api("GET", "/v1/merge-suggestions?contact_id=" + id), api("GET", "/v1/contacts/" + id + "/merges")]).then(function (r) {
      var sug = $("merge-suggestions");
      sug.textContent = "";
      r[0].data.forEach(function (s) {
        var other = s.contact_id === id ? s.other_id : s.contact_id;
        var li = el("li", "Possibly the same person: " + other + " (" + s.reason + ") ");
        var b = el("button", "Merge into this contact");
        b.type = "button";
        b.addEventListener("click", function () { mergeInto(id, other, "suggested: " + s.reason); });
        li.appendChild(b);
        sug.appendChild(li);
      });
      var ul = $("merges");
      ul.textContent = "";
      r[1].data.forEach(function (m) {
        var what = m.contact_id === id ? "Merged " + m.other_id + " into this contact" : "Merged into " + m.contact_id;
        var li = el("li", what + " · " + new Date(m.created_at).toLocaleString() + " · " + m.reason + (m.undone_at ? " · undone" : "") + " ");
        if (!m.undone_at && m.contact_id === id) {
          var b = el("button", "Undo");
          b.type = "button";
          b.addEventListener("click", function () {
            api("POST", "/v1/contacts/" + id + "/unmerge", { merge_id: m.id }).then(function () { loadContact(id); loadInbox(); }, function (err) { say(explain(err)); });
          });
          li.appendChild(b);
        }
        ul.appendChild(li);
      });
    }).catch(function () {});
  }

  /* Merge by finding the other contact by what the operator knows about them, not by id. */
  $("merge-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    if (!state.contact) return;
    var here = state.contact.id, list = $("merge-results");
    list.textContent = "";
    api("GET", "/v1/contacts?limit=10&q=" + encodeURIComponent($("merge-search").value.trim())).then(function (found) {
      var others = found.data.filter(function (c) { return c.id !== here; });
      if (!others.length) list.appendChild(el("li", "Nobody found."));
      others.forEach(function (c) {
        var addresses = c.identities.map(function (i) { return i.address; }).join(", ");
        var li = el("li", (c.name || "Unnamed") + (addresses ? " · " + addresses : "") + " ");
        var b = el("button", "Merge into this contact");
        b.type = "button";
        b.addEventListener("click", function () {
          mergeInto(here, c.id, $("merge-reason").value || "same person").then(function () { list.textContent = ""; $("merge-search").value = ""; });
        });
        li.appendChild(b);
        list.appendChild(li);
      });
    }, function (err) { say(explain(err)); });
  });

  $("reply").addEventListener("submit", function (ev) {
    ev.preventDefault();
    say("");
    var c = state.conversation;
    var body = { text: $("reply-text").value, channel_id: $("reply-channel").value || undefined, purpose: $("reply-purpose").value, private: $("reply-private").checked };
    if ($("reply-send-at").value) body.send_at = new Date($("reply-send-at").value).toISOString();
    if (!$("reply-copies").hidden && !body.private) {
      if ($("reply-cc").value.trim()) body.cc = addresses($("reply-cc").value);
      if ($("reply-bcc").value.trim()) body.bcc = addresses($("reply-bcc").value);
    }
    if ($("reply-template").value) {
      var t = JSON.parse($("reply-template").value);
      var params = $("reply-template-params").value.split("\n").map(function (s) { return s.trim(); }).filter(function (s) { return s; });
      body = { template: { name: t.name, language: t.language, parameters: params }, channel_id: body.channel_id, purpose: body.purpose, send_at: body.send_at };
    }
    api("POST", "/v1/conversations/" + c.id + "/messages", body).then(function () {
      $("reply-text").value = "";
      $("reply-template-params").value = "";
      $("reply-send-at").value = "";
      $("reply-cc").value = "";
      $("reply-bcc").value = "";
      loadMessages();
      if (body.cc) showParticipants(state.conversation);
    }, function (err) { say(explain(err)); });
  });

  /* Canned responses, filled in for the open conversation. */
  function loadCanned() {
    api("GET", "/v1/canned-responses").then(function (list) {
      var sel = $("reply-canned");
      list.data.forEach(function (c) { var o = el("option", c.shortcut); o.value = c.id; sel.appendChild(o); });
    }).catch(function () {});
  }
  $("reply-canned").addEventListener("change", function (ev) {
    var id = ev.target.value;
    if (!id || !state.conversation) return;
    api("POST", "/v1/canned-responses/" + id + "/render", { conversation_id: state.conversation.id }).then(function (r) {
      $("reply-text").value = r.text;
      ev.target.value = "";
    }, function (err) { say(explain(err)); });
  });

  /* Web chat visitors see that someone is typing (at most one signal every 3 s). */
  var lastTyping = 0;
  $("reply-text").addEventListener("input", function () {
    var c = state.conversation;
    if (!c || $("reply-private").checked || Date.now() - lastTyping < 3000) return;
    lastTyping = Date.now();
    api("POST", "/v1/conversations/" + c.id + "/typing", { typing: true }).catch(function () {});
  });

  $("conversation-actions").addEventListener("click", function (ev) {
    var action = ev.target.dataset && ev.target.dataset.action;
    if (!action || !state.conversation) return;
    var change = action === "assign" ? { assignee_id: state.me.operator_id } : { status: action };
    api("PATCH", "/v1/conversations/" + state.conversation.id, change).then(function (c) { state.conversation = c; loadInbox(); }, function (err) { say(explain(err)); });
  });

  $("privacy-actions").addEventListener("click", function (ev) {
    var type = ev.target.dataset && ev.target.dataset.request;
    if (!type || !state.contact) return;
    var words = { access: "Export everything held about this contact?", restriction: "Restrict this contact? Nothing will be sent to them until it is lifted.", erasure: "Erase this contact? This cannot be undone." };
    if (!window.confirm(words[type])) return;
    api("POST", "/v1/privacy/requests", { type: type, contact_id: state.contact.id }).then(function (r) {
      $("privacy-result").textContent = "Request " + r.id + ": " + r.status + ", due " + new Date(r.due_at).toLocaleDateString();
      if (type === "access") pollExport(r.id);
    }, function (err) { say(explain(err)); });
  });

  function pollExport(id) {
    api("GET", "/v1/privacy/requests/" + id).then(function (r) {
      if (r.status === "pending") { setTimeout(function () { pollExport(id); }, 1000); return; }
      var p = $("privacy-result");
      p.textContent = "";
      var a = el("a", "Download the export");
      a.href = "/v1/privacy/requests/" + id + "/export";
      a.download = "export-" + id + ".json";
      p.appendChild(a);
    });
  }

  /* ---- live updates --------------------------------------------------------------------- */

  /* Browser notifications (permission asked once), a sound (mutable), the unread count in the
     title: for new conversations, and for replies in conversations assigned to me. */
  var sound = localStorage.getItem("omnibridge:console-sound") !== "off";
  function notify(title, body) {
    if (sound && window.AudioContext) {
      try {
        var ctx = new AudioContext(), o = ctx.createOscillator(), g = ctx.createGain();
        o.frequency.value = 660; g.gain.value = 0.05; o.connect(g); g.connect(ctx.destination); o.start(); o.stop(ctx.currentTime + 0.15);
      } catch (e) { /* no sound is fine */ }
    }
    if (!window.Notification || Notification.permission !== "granted" || document.hasFocus()) return;
    try { new Notification(title, { body: body, tag: "omnibridge" }); state.notified = (state.notified || 0) + 1; } catch (e) { /* not allowed here */ }
  }
  function askForNotifications() {
    if (!window.Notification || Notification.permission !== "default" || localStorage.getItem("omnibridge:asked")) return;
    localStorage.setItem("omnibridge:asked", "1");
    Notification.requestPermission();
  }
  $("sound-toggle").addEventListener("click", function () {
    sound = !sound;
    localStorage.setItem("omnibridge:console-sound", sound ? "on" : "off");
    $("sound-toggle").setAttribute("aria-pressed", String(sound));
    $("sound-toggle").textContent = sound ? "Sound on" : "Sound off";
  });

  function live(delay) {
    var ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/v1/realtime");
    ws.onopen = function () { delay = 0; };
    ws.onmessage = function (ev) {
      var event;
      try { event = JSON.parse(ev.data); } catch (e) { return; }
      if (!event.type || event.type.indexOf("message.") !== 0 && event.type.indexOf("conversation.") !== 0) return;
      var d = event.data || {};
      if (event.type === "conversation.created") notify("New conversation", channelName(d.channel_id));
      if (event.type === "message.received") {
        var row = inbox.rows.find(function (c) { return c.id === d.conversation_id; });
        if (row && row.assignee_id && row.assignee_id === state.me.operator_id) notify("New reply", d.text || "");
      }
      loadInbox();
      if (state.conversation && (d.conversation_id === state.conversation.id || d.id === state.conversation.id)) {
        loadMessages();
        if (event.type === "message.received" && state.me.operator_id) api("POST", "/v1/conversations/" + state.conversation.id + "/read").catch(function () {});
      }
    };
    ws.onclose = function () {
      var next = Math.min((delay || 500) * 2, 15000);
      setTimeout(function () { live(next); }, next);
    };
  }

  /* Keyboard: j/k next/previous conversation, r reply, e resolve, a assign to me, / search,
     x select, ? help. */
  document.addEventListener("keydown", function (ev) {
    var t = ev.target;
    if (ev.ctrlKey || ev.metaKey || ev.altKey || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName) || t.isContentEditable || $("app").hidden) return;
    var buttons = Array.prototype.slice.call($("conversations").querySelectorAll("button.row"));
    var at = buttons.findIndex(function (b) { return state.conversation && b.dataset.id === state.conversation.id; });
    if (ev.key === "j" || ev.key === "k") {
      var next = buttons[Math.min(buttons.length - 1, Math.max(0, at + (ev.key === "j" ? 1 : -1)))];
      if (next) { openConversation(next.dataset.id); next.focus(); }
    } else if (ev.key === "r" && state.conversation) { $("reply-text").focus(); }
    else if (ev.key === "e" && state.conversation) { document.querySelector('[data-action="resolved"]').click(); }
    else if (ev.key === "a" && state.conversation) { document.querySelector('[data-action="assign"]').click(); }
    else if (ev.key === "/") { $("search-q").focus(); }
    else if (ev.key === "x" && state.conversation) { organize().toggleSelected(state.conversation.id); }
    else if (ev.key === "?") { $("shortcuts").hidden = !$("shortcuts").hidden; }
    else return;
    ev.preventDefault();
  });

  /* ---- team ------------------------------------------------------------------------------ */

  function loadOperators() {
    api("GET", "/v1/operators?limit=200").then(function (list) {
      var body = $("operators").tBodies[0];
      body.textContent = "";
      /* Deleted operators stay in the list only so what they wrote names its author. */
      list.data.filter(function (o) { return o.status !== "deleted"; }).forEach(function (o) {
        var tr = el("tr");
        [o.name, o.email || "—", o.role, o.status === "deactivated" ? "deactivated" : o.availability, o.invitation ? o.invitation + (o.invitation_error ? ": " + o.invitation_error : "") : "—"].forEach(function (v) {
          tr.appendChild(el("td", v));
        });
        body.appendChild(tr);
      });
    });
  }

  /* Webhook endpoints, each with "Send test event": the delivery is followed until it is
     delivered or its attempt fails, and the outcome is announced. */
  function loadWebhooks() {
    api("GET", "/v1/webhooks/endpoints?limit=100").then(function (list) {
      var body = $("webhook-endpoints").tBodies[0];
      body.textContent = "";
      if (!list.data.length) {
        var empty = el("td", "No endpoints yet.");
        empty.colSpan = 4;
        body.appendChild(el("tr")).appendChild(empty);
        return;
      }
      list.data.forEach(function (e) {
        var tr = el("tr");
        tr.appendChild(el("td", e.url));
        tr.appendChild(el("td", e.event_types && e.event_types.length ? e.event_types.join(", ") : "all events"));
        tr.appendChild(el("td", e.disabled ? "disabled" + (e.disabled_reason ? ": " + e.disabled_reason : "") : e.failing_since ? "failing" : "active"));
        var cell = el("td");
        var button = el("button", "Send test event");
        button.type = "button";
        button.setAttribute("aria-label", "Send test event to " + e.url);
        button.disabled = e.disabled;
        var outcome = el("output");
        outcome.setAttribute("aria-live", "polite");
        button.addEventListener("click", function () { sendTestEvent(e, button, outcome); });
        cell.appendChild(button);
        cell.appendChild(outcome);
        tr.appendChild(cell);
        body.appendChild(tr);
      });
    }).catch(function () {});
  }

  function sendTestEvent(endpoint, button, outcome) {
    button.disabled = true;
    outcome.textContent = " Sending…";
    var done = function (text) { outcome.textContent = " " + text; button.disabled = false; };
    api("POST", "/v1/webhooks/endpoints/" + endpoint.id + "/test", {}).then(function (delivery) {
      var polls = 0;
      (function follow() {
        api("GET", "/v1/webhooks/deliveries/" + delivery.id).then(function (d) {
          if (d.status === "delivered") return done("Delivered (HTTP " + d.last_status_code + ")");
          /* An attempt that ended without success leaves its answer (or error) behind. */
          if (d.status === "failed" || d.last_status_code || d.last_error) return done("Not delivered: " + (d.last_status_code ? "HTTP " + d.last_status_code : d.last_error || "no answer") + "; it is retried like any event");
          if (++polls < 30) setTimeout(follow, 500); else done("Still queued");
        }, function (err) { done(explain(err)); });
      })();
    }, function (err) { done(explain(err)); });
  }

  /* My availability and the daily summary, in the header. */
  function loadMe() {
    api("GET", "/v1/operators?limit=200").then(function (list) {
      var me = list.data.find(function (o) { return o.id === state.me.operator_id; });
      if (!me) return;
      $("me-availability").value = me.availability;
      $("me-summary").checked = me.daily_summary;
      $("me-settings").hidden = false;
    }).catch(function () {});
  }

  function updateMe(change) {
    api("PATCH", "/v1/operators/" + state.me.operator_id, change).then(function () { if (state.me.role === "admin") loadOperators(); }, function (err) { say(explain(err)); });
  }
  $("me-availability").addEventListener("change", function (ev) { updateMe({ availability: ev.target.value }); });
  $("me-summary").addEventListener("change", function (ev) { updateMe({ daily_summary: ev.target.checked }); });

  $("import-operators").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var file = $("import-file").files[0];
    var errors = $("import-errors");
    errors.textContent = "";
    if (!file) return;
    file.text().then(function (text) {
      return fetch("/v1/operators/import", {
        method: "POST", credentials: "same-origin", body: text,
        headers: { "Content-Type": "text/csv", "X-CSRF-Token": state.csrf }
      });
    }).then(function (r) {
      return r.json().then(function (j) {
        if (r.ok) { say("Imported " + j.imported + " operators; their invitations are on the way.", true); ev.target.reset(); loadOperators(); return; }
        (j.errors || []).forEach(function (e) { errors.appendChild(el("li", "Line " + e.line + ", " + e.field + ": " + e.detail)); });
        say(j.errors ? "Nothing was imported: fix the lines below and try again." : (j.detail || "The import failed."));
      });
    }).catch(function (err) { say(err.message); });
  });

  /* ---- stats --------------------------------------------------------------------------------- */

  var SVG = "http://www.w3.org/2000/svg";
  function svg(tag, attrs, text) {
    var e = document.createElementNS(SVG, tag);
    Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) e.textContent = text;
    return e;
  }

  /* A horizontal bar chart: rows of [label, [value, colour]...], with a legend. */
  function barChart(figure, rows, series) {
    figure.textContent = "";
    var max = 1;
    rows.forEach(function (r) { r[1].forEach(function (v) { max = Math.max(max, v || 0); }); });
    var barH = 14, rowH = barH * series.length + 10, width = 520, labelW = 170;
    var chart = svg("svg", { width: width, height: rows.length * rowH + 24, role: "img", "aria-label": figure.previousElementSibling ? figure.previousElementSibling.textContent : "chart" });
    series.forEach(function (s, i) {
      chart.appendChild(svg("rect", { x: labelW + i * 120, y: 2, width: 10, height: 10, fill: s[1] }));
      chart.appendChild(svg("text", { x: labelW + i * 120 + 14, y: 11 }, s[0]));
    });
    rows.forEach(function (r, i) {
      var y = 22 + i * rowH;
      chart.appendChild(svg("text", { x: 0, y: y + barH }, r[0].length > 26 ? r[0].slice(0, 25) + "…" : r[0]));
      r[1].forEach(function (v, j) {
        var w = Math.round((v || 0) / max * (width - labelW - 50));
        chart.appendChild(svg("rect", { x: labelW, y: y + j * barH, width: Math.max(w, 1), height: barH - 2, fill: series[j][1] }));
        chart.appendChild(svg("text", { x: labelW + w + 4, y: y + j * barH + barH - 3 }, v === null || v === undefined ? "—" : String(Math.round(v * 10) / 10)));
      });
    });
    if (!rows.length) figure.appendChild(el("p", "Nothing yet."));
    else figure.appendChild(chart);
  }

  function loadStats() {
    api("GET", "/v1/stats").then(function (s) {
      var t = s.total, dl = $("stats-total");
      dl.textContent = "";
      [["Opened", t.conversations_opened], ["Resolved", t.conversations_resolved], ["Open now", t.queue.open], ["Unassigned", t.queue.unassigned],
       ["Median first response", t.first_response_secs.median === null ? "—" : Math.round(t.first_response_secs.median / 60) + " min"],
       ["Satisfaction", t.csat.average === null ? "—" : t.csat.average.toFixed(1) + " / 5 (" + t.csat.answers + ")"]].forEach(function (f) {
        dl.appendChild(el("dt", f[0]));
        dl.appendChild(el("dd", String(f[1])));
      });
      barChart($("chart-channels"), s.by_channel.map(function (c) { return [channelName(c.channel_id), [c.conversations_opened, c.conversations_resolved]]; }),
        [["opened", "#2f6fdf"], ["resolved", "#2e9e5b"]]);
      return api("GET", "/v1/operators?limit=200").then(function (ops) {
        var name = function (id) { var o = ops.data.find(function (o) { return o.id === id; }); return o ? o.name : id; };
        barChart($("chart-operators"), s.by_operator.map(function (o) {
          return [name(o.operator_id), [o.first_response_secs.median === null ? null : o.first_response_secs.median / 60]];
        }), [["median first response", "#c77d14"]]);
      });
    }).catch(function () {});
  }
  $("stats-refresh").addEventListener("click", loadStats);

  $("new-operator").addEventListener("submit", function (ev) {
    ev.preventDefault();
    api("POST", "/v1/operators", { name: $("op-name").value, email: $("op-email").value, role: $("op-role").value, password: $("op-password").value })
      .then(function () { ev.target.reset(); loadOperators(); }, function (err) { say(explain(err)); });
  });

  $("new-key").addEventListener("submit", function (ev) {
    ev.preventDefault();
    api("POST", "/v1/keys", { role: $("key-role").value }).then(function (k) {
      $("key-secret").textContent = "Shown once: " + k.api_key;
    }, function (err) { say(explain(err)); });
  });

  window.omnibridgeConsole = {
    api: api, el: el, say: say, explain: explain, state: state, inbox: inbox,
    loadInbox: loadInbox, renderInbox: renderInbox, openConversation: openConversation, loadContact: loadContact
  };
  /* Deferred scripts have all run by then, organize.js included. */
  document.addEventListener("DOMContentLoaded", start);
})();
