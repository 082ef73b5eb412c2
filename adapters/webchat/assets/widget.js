/*
 * omnibridge web chat widget (minimal).
 * Embed with: <script src="https://HUB/widget.js" data-channel="CHANNEL_ID" async></script>
 * It opens a visitor session (kept in localStorage so a returning visitor resumes), posts the
 * visitor's messages and receives replies live over the widget websocket, reconnecting with
 * backoff. It talks only to the public /widget/v1 API.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) return;
  var channelId = script.getAttribute("data-channel");
  var base = new URL(script.src, location.href);
  var api = base.origin + "/widget/v1";
  var storageKey = "omnibridge:" + channelId;
  var seen = {};
  var token = null;

  var root = document.createElement("section");
  root.setAttribute("aria-label", "Chat");
  root.id = "omnibridge-widget";
  root.innerHTML =
    '<ol id="omnibridge-log" aria-live="polite" style="list-style:none;padding:0;max-height:300px;overflow:auto"></ol>' +
    '<form id="omnibridge-form"><label for="omnibridge-input">Message</label> ' +
    '<input id="omnibridge-input" autocomplete="off" required> <button type="submit">Send</button></form>';
  root.style.cssText = "position:fixed;bottom:16px;right:16px;width:300px;background:#fff;border:1px solid #ccc;padding:8px;font:14px sans-serif";
  document.body.appendChild(root);
  var log = root.querySelector("#omnibridge-log");
  var input = root.querySelector("#omnibridge-input");

  function show(m) {
    if (seen[m.id]) return;
    seen[m.id] = true;
    var li = document.createElement("li");
    li.className = "omnibridge-msg omnibridge-" + m.direction;
    li.textContent = (m.direction === "out" ? "Agent: " : "You: ") + m.text;
    log.appendChild(li);
    log.scrollTop = log.scrollHeight;
  }

  function request(method, path, body) {
    var headers = { "Content-Type": "application/json" };
    if (token) headers.Authorization = "Bearer " + token;
    return fetch(api + path, { method: method, headers: headers, body: body ? JSON.stringify(body) : undefined })
      .then(function (r) { return r.json().then(function (j) { return { ok: r.ok, status: r.status, body: j }; }); });
  }

  function session() {
    token = localStorage.getItem(storageKey);
    if (token) {
      return request("GET", "/messages").then(function (r) {
        if (r.ok) { r.body.data.forEach(show); return; }
        token = null; localStorage.removeItem(storageKey); return session();
      });
    }
    return request("POST", "/channels/" + channelId + "/sessions", {}).then(function (r) {
      if (!r.ok) throw new Error(r.body.detail || "session failed");
      token = r.body.visitor_token;
      localStorage.setItem(storageKey, token);
    });
  }

  var delay = 500;
  function connect() {
    var url = api.replace(/^http/, "ws") + "/ws?token=" + encodeURIComponent(token);
    var ws = new WebSocket(url);
    ws.onopen = function () { delay = 500; root.setAttribute("data-connected", "true"); };
    ws.onmessage = function (e) {
      var frame = JSON.parse(e.data);
      if (frame.type === "message") show(frame.message);
    };
    ws.onclose = function () {
      root.setAttribute("data-connected", "false");
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 15000);
    };
  }

  root.querySelector("#omnibridge-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    input.value = "";
    request("POST", "/messages", { text: text, external_id: String(Date.now()) + Math.random() }).then(function (r) {
      if (r.ok) show(r.body);
    });
  });

  session().then(connect);
})();
