/*
 * omnibridge web chat widget.
 * Embed with one tag:
 *   <script src="https://HUB/widget.js" data-channel="CHANNEL_ID" async></script>
 * Optional attributes:
 *   data-prechat="name,email"        ask for these before the first message
 *   data-consent-notice="TEXT"       show a consent checkbox with this notice text …
 *   data-notice-version="2026-01"    … under this notice version (recorded as evidence)
 *   data-notice-url="https://…"      … linking the full notice
 *   data-consent-purposes="marketing" the purposes the checkbox grants (comma-separated)
 * The visitor token is kept in localStorage, so a returning visitor resumes their
 * conversation; replies (and "Agent is typing…") arrive live over the widget websocket, which
 * reconnects with backoff and asks for what it missed meanwhile (?after= the last message's seq).
 * The browser's Global Privacy Control / Do Not Track reach the hub as request headers and are
 * honoured there. It talks only to the public /widget/v1 API.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) return;
  var attr = function (name) { return script.getAttribute("data-" + name); };
  var channelId = attr("channel");
  var base = new URL(script.src, location.href);
  var api = base.origin + "/widget/v1";
  var storageKey = "omnibridge:" + channelId;
  var prechat = (attr("prechat") || "").split(",").map(function (s) { return s.trim(); }).filter(Boolean);
  var notice = attr("consent-notice");
  var seen = {};
  var token = localStorage.getItem(storageKey);
  var socket = null;

  function make(tag, props, children) {
    var e = document.createElement(tag);
    Object.keys(props || {}).forEach(function (k) {
      if (k === "text") e.textContent = props[k];
      else e.setAttribute(k, props[k]);
    });
    (children || []).forEach(function (c) { e.appendChild(c); });
    return e;
  }

  var bubble = make("button", { type: "button", id: "omnibridge-bubble", "aria-expanded": "false", "aria-controls": "omnibridge-widget", text: "Chat with us" });
  var log = make("ol", { id: "omnibridge-log", "aria-live": "polite", "aria-label": "Conversation" });
  var status = make("p", { id: "omnibridge-status", role: "status" });
  var fields = prechat.map(function (name) {
    var id = "omnibridge-" + name;
    return make("p", {}, [make("label", { for: id, text: name === "email" ? "Your email" : "Your name" }), make("input", { id: id, name: name, type: name === "email" ? "email" : "text", autocomplete: name })]);
  });
  if (notice) {
    var consentBox = make("input", { id: "omnibridge-consent", type: "checkbox" });
    var label = make("label", { for: "omnibridge-consent", text: notice });
    var p = make("p", {}, [consentBox, label]);
    if (attr("notice-url")) p.appendChild(make("a", { href: attr("notice-url"), target: "_blank", rel: "noopener", text: "Privacy notice" }));
    fields.push(p);
  }
  var prechatForm = make("fieldset", { id: "omnibridge-prechat" }, [make("legend", { text: "Before we start" })].concat(fields));
  var input = make("input", { id: "omnibridge-input", autocomplete: "off", required: "required" });
  var form = make("form", { id: "omnibridge-form" }, [
    make("label", { for: "omnibridge-input", text: "Message" }),
    input,
    make("button", { type: "submit", text: "Send" })
  ]);
  var transcriptEmail = make("input", { id: "omnibridge-transcript-email", type: "email", autocomplete: "email", placeholder: "your email, if not given" });
  var transcript = make("form", { id: "omnibridge-transcript" }, [
    make("label", { for: "omnibridge-transcript-email", text: "Email me this transcript" }),
    transcriptEmail,
    make("button", { type: "submit", text: "Email me" })
  ]);
  var panel = make("section", { id: "omnibridge-widget", "aria-label": "Chat", hidden: "hidden" }, [log, status, prechatForm, form, transcript]);
  var root = make("div", { id: "omnibridge-root" }, [panel, bubble]);
  root.style.cssText = "position:fixed;bottom:16px;right:16px;z-index:2147483000;font:14px/1.4 sans-serif;color:#1d2733";
  panel.style.cssText = "width:300px;background:#fff;border:1px solid #bbc;border-radius:8px;padding:8px;margin-bottom:8px;box-shadow:0 4px 16px rgba(0,0,0,.15)";
  log.style.cssText = "list-style:none;padding:0;margin:0 0 8px;max-height:300px;overflow:auto";
  bubble.style.cssText = "float:right;border-radius:20px;padding:8px 16px;background:#2f6fdf;color:#fff;border:0;cursor:pointer";
  document.body.appendChild(root);
  if (token || !prechat.length && !notice) prechatForm.hidden = true;

  function toggle(open) {
    panel.hidden = !open;
    bubble.setAttribute("aria-expanded", String(open));
    if (open) input.focus();
  }
  bubble.addEventListener("click", function () { toggle(panel.hidden); });
  panel.addEventListener("keydown", function (e) { if (e.key === "Escape") { toggle(false); bubble.focus(); } });

  var lastSeq = 0;
  function show(m) {
    if (typeof m.seq === "number" && m.seq > lastSeq) lastSeq = m.seq;
    if (seen[m.id]) return;
    seen[m.id] = true;
    var li = make("li", { class: "omnibridge-msg omnibridge-" + m.direction, text: (m.direction === "out" ? "Agent: " : "You: ") + m.text });
    li.style.cssText = "margin:4px 0;padding:4px 8px;border-radius:6px;background:" + (m.direction === "out" ? "#e3f2e6" : "#eef1f5");
    log.appendChild(li);
    log.scrollTop = log.scrollHeight;
  }

  function request(method, path, body) {
    var headers = { "Content-Type": "application/json" };
    if (token) headers.Authorization = "Bearer " + token;
    return fetch(api + path, { method: method, headers: headers, body: body ? JSON.stringify(body) : undefined })
      .then(function (r) { return r.json().then(function (j) { return { ok: r.ok, status: r.status, body: j }; }); });
  }

  /* A returning visitor's history; a stale token is forgotten. */
  function resume() {
    if (!token) return Promise.resolve();
    return request("GET", "/messages").then(function (r) {
      if (r.ok) { r.body.data.forEach(show); connect(); return; }
      token = null;
      localStorage.removeItem(storageKey);
      prechatForm.hidden = !prechat.length && !notice;
    });
  }

  /* A new visitor: the pre-chat answers and the consent they ticked open the session. */
  function open() {
    if (token) return Promise.resolve();
    var profile = {};
    prechat.forEach(function (name) {
      var v = panel.querySelector("#omnibridge-" + name).value.trim();
      if (v) profile[name] = v;
    });
    var box = panel.querySelector("#omnibridge-consent");
    if (box && box.checked) {
      profile.consent = {
        purposes: (attr("consent-purposes") || "marketing").split(",").map(function (s) { return s.trim(); }),
        notice_version: attr("notice-version") || "unversioned",
        notice_url: attr("notice-url") || undefined,
        form_url: location.href
      };
    }
    return request("POST", "/channels/" + channelId + "/sessions", profile).then(function (r) {
      if (!r.ok) throw new Error(r.body.detail || "the chat could not start");
      token = r.body.visitor_token;
      localStorage.setItem(storageKey, token);
      prechatForm.hidden = true;
      connect();
    });
  }

  var delay = 500;
  var typingTimer = null;
  function connect() {
    if (socket) return;
    socket = new WebSocket(api.replace(/^http/, "ws") + "/ws?token=" + encodeURIComponent(token) + (lastSeq ? "&after=" + lastSeq : ""));
    socket.onopen = function () { delay = 500; root.setAttribute("data-connected", "true"); status.textContent = ""; };
    socket.onmessage = function (e) {
      var frame;
      try { frame = JSON.parse(e.data); } catch (err) { return; }
      if (frame.type === "message") { show(frame.message); status.textContent = ""; }
      if (frame.type === "csat") askRating(frame.survey_id);
      if (frame.type === "typing") {
        status.textContent = frame.typing ? "Agent is typing…" : "";
        clearTimeout(typingTimer);
        if (frame.typing) typingTimer = setTimeout(function () { status.textContent = ""; }, 6000);
      }
    };
    socket.onclose = function () {
      socket = null;
      root.setAttribute("data-connected", "false");
      status.textContent = "Reconnecting…";
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 15000);
    };
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    input.value = "";
    open().then(function () {
      return request("POST", "/messages", { text: text, external_id: String(Date.now()) + Math.random() });
    }).then(function (r) {
      if (r.ok) show(r.body);
      else status.textContent = r.body.detail || "Not sent.";
    }).catch(function (err) { status.textContent = err.message; });
  });

  /* After a resolved conversation: one question, 1 to 5. */
  function askRating(surveyId) {
    var box = make("fieldset", { id: "omnibridge-csat" }, [make("legend", { text: "How did we do?" })]);
    [1, 2, 3, 4, 5].forEach(function (n) {
      var b = make("button", { type: "button", "aria-label": "Rate " + n + " of 5", text: String(n) });
      b.addEventListener("click", function () {
        request("POST", "/csat", { survey_id: surveyId, score: n }).then(function (r) {
          box.textContent = r.ok ? "Thank you for your rating." : (r.body.detail || "The rating could not be sent.");
        });
      });
      box.appendChild(b);
    });
    panel.insertBefore(box, form);
    toggle(true);
  }

  transcript.addEventListener("submit", function (e) {
    e.preventDefault();
    if (!token) { status.textContent = "Write to us first."; return; }
    var email = transcriptEmail.value.trim();
    request("POST", "/transcript", email ? { email: email } : {}).then(function (r) {
      status.textContent = !r.ok ? (r.body.detail || "The transcript could not be sent.")
        : r.body.status === "confirmation_sent" ? "Check your inbox: confirm the address and the transcript follows."
        : "The transcript is on its way.";
    });
  });

  resume();
})();
