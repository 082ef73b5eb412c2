/*
 * omnibridge web chat widget.
 * Embed with one tag:
 *   <script src="https://HUB/widget.js" data-channel="CHANNEL_ID" async></script>
 * Its look, greeting, pre-chat form, language and consent checkbox come from the channel's
 * settings (GET /widget/v1/channels/{id}/config, on the hub: no request goes anywhere else).
 * Attributes still override for one page:
 *   data-lang="de"                    the language (else the channel's, else the browser's)
 *   data-prechat="name,email"        ask for these before the first message
 *   data-consent-notice="TEXT"       show a consent checkbox with this notice text …
 *   data-notice-version="2026-01"    … under this notice version (recorded as evidence)
 *   data-notice-url="https://…"      … linking the full notice
 *   data-consent-purposes="marketing" the purposes the checkbox grants (comma-separated)
 * The visitor token is kept in localStorage, so a returning visitor resumes their
 * conversation; replies (and typing) arrive live over the widget websocket, which reconnects
 * with backoff and asks for what it missed meanwhile (?after= the last message's seq).
 * The browser's Global Privacy Control / Do Not Track reach the hub as request headers and are
 * honoured there. It talks only to the public /widget/v1 API.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) return;
  var attr = function (name) { return script.getAttribute("data-" + name); };
  var channelId = attr("channel");
  var api = new URL(script.src, location.href).origin + "/widget/v1";
  var storageKey = "omnibridge:" + channelId;
  var token = localStorage.getItem(storageKey);
  var muted = localStorage.getItem("omnibridge:muted") === "1";

  /* Message catalogues: en, de, fr, es, pt, ru, ja. */
  var T = {
    en: ["Chat with us", "Chat", "We are online", "We will be back soon", "We are offline", "Usually replies in a few minutes", "Usually replies in a few hours", "Usually replies within a day",
      "Before we start", "Your name", "Your email", "Write a message…", "Send", "Attach a file", "Insert an emoji", "Email me this transcript", "Email me", "Check your inbox: confirm the address and the transcript follows.",
      "The transcript is on its way.", "Agent is typing…", "Close the chat", "Mute sounds", "Turn sounds on", "You", "Sent", "Reconnecting…", "Not sent.", "is too large", "cannot be sent: programs and scripts are not accepted",
      "How did we do?", "Thank you for your rating.", "Write to us first.", "Privacy notice", "Conversation", "unread", "Required", "Rate {n} of 5", "Message", "Earlier messages"],
    de: ["Chatten Sie mit uns", "Chat", "Wir sind online", "Wir sind gleich zurück", "Wir sind offline", "Antwortet meist in wenigen Minuten", "Antwortet meist in wenigen Stunden", "Antwortet meist innerhalb eines Tages",
      "Bevor es losgeht", "Ihr Name", "Ihre E-Mail", "Nachricht schreiben…", "Senden", "Datei anhängen", "Emoji einfügen", "Verlauf per E-Mail senden", "Senden", "Bitte prüfen Sie Ihr Postfach: Bestätigen Sie die Adresse, dann folgt der Verlauf.",
      "Der Verlauf ist unterwegs.", "Ein Mitarbeiter schreibt…", "Chat schließen", "Töne aus", "Töne an", "Sie", "Gesendet", "Verbindung wird wiederhergestellt…", "Nicht gesendet.", "ist zu groß", "kann nicht gesendet werden: Programme und Skripte sind nicht erlaubt",
      "Wie waren wir?", "Danke für Ihre Bewertung.", "Schreiben Sie uns zuerst.", "Datenschutzhinweis", "Unterhaltung", "ungelesen", "Pflichtfeld", "{n} von 5", "Nachricht", "Frühere Nachrichten"],
    fr: ["Discutons", "Chat", "Nous sommes en ligne", "Nous revenons bientôt", "Nous sommes hors ligne", "Répond en général en quelques minutes", "Répond en général en quelques heures", "Répond en général sous un jour",
      "Avant de commencer", "Votre nom", "Votre e-mail", "Écrivez un message…", "Envoyer", "Joindre un fichier", "Insérer un emoji", "M'envoyer la conversation", "Envoyer", "Vérifiez votre boîte : confirmez l'adresse et la conversation suivra.",
      "La conversation est en route.", "Un conseiller écrit…", "Fermer le chat", "Couper le son", "Activer le son", "Vous", "Envoyé", "Reconnexion…", "Non envoyé.", "est trop volumineux", "ne peut pas être envoyé : programmes et scripts refusés",
      "Comment était-ce ?", "Merci pour votre note.", "Écrivez-nous d'abord.", "Politique de confidentialité", "Conversation", "non lus", "Obligatoire", "{n} sur 5", "Message", "Messages précédents"],
    es: ["Chatea con nosotros", "Chat", "Estamos en línea", "Volvemos pronto", "Estamos desconectados", "Suele responder en pocos minutos", "Suele responder en pocas horas", "Suele responder en un día",
      "Antes de empezar", "Tu nombre", "Tu correo", "Escribe un mensaje…", "Enviar", "Adjuntar un archivo", "Insertar un emoji", "Enviarme esta conversación", "Enviar", "Revisa tu correo: confirma la dirección y la conversación llegará.",
      "La conversación está en camino.", "Un agente está escribiendo…", "Cerrar el chat", "Silenciar", "Activar sonido", "Tú", "Enviado", "Reconectando…", "No enviado.", "es demasiado grande", "no se puede enviar: no se aceptan programas ni scripts",
      "¿Qué tal lo hicimos?", "Gracias por tu valoración.", "Escríbenos primero.", "Aviso de privacidad", "Conversación", "sin leer", "Obligatorio", "{n} de 5", "Mensaje", "Mensajes anteriores"],
    pt: ["Fale conosco", "Chat", "Estamos online", "Voltamos em breve", "Estamos offline", "Costuma responder em poucos minutos", "Costuma responder em poucas horas", "Costuma responder em um dia",
      "Antes de começar", "Seu nome", "Seu e-mail", "Escreva uma mensagem…", "Enviar", "Anexar um arquivo", "Inserir um emoji", "Enviar esta conversa por e-mail", "Enviar", "Verifique seu e-mail: confirme o endereço e a conversa seguirá.",
      "A conversa está a caminho.", "Um atendente está digitando…", "Fechar o chat", "Silenciar", "Ativar som", "Você", "Enviado", "Reconectando…", "Não enviado.", "é grande demais", "não pode ser enviado: programas e scripts não são aceitos",
      "Como nos saímos?", "Obrigado pela avaliação.", "Escreva para nós primeiro.", "Aviso de privacidade", "Conversa", "não lidas", "Obrigatório", "{n} de 5", "Mensagem", "Mensagens anteriores"],
    ru: ["Напишите нам", "Чат", "Мы на связи", "Скоро вернёмся", "Мы не в сети", "Обычно отвечаем за несколько минут", "Обычно отвечаем за несколько часов", "Обычно отвечаем в течение дня",
      "Прежде чем начать", "Ваше имя", "Ваш e-mail", "Напишите сообщение…", "Отправить", "Прикрепить файл", "Вставить эмодзи", "Прислать переписку на e-mail", "Прислать", "Проверьте почту: подтвердите адрес, и переписка придёт.",
      "Переписка отправлена.", "Оператор печатает…", "Закрыть чат", "Выключить звук", "Включить звук", "Вы", "Отправлено", "Переподключение…", "Не отправлено.", "слишком большой", "нельзя отправить: программы и скрипты не принимаются",
      "Как мы справились?", "Спасибо за оценку.", "Сначала напишите нам.", "Политика конфиденциальности", "Переписка", "непрочитанных", "Обязательно", "{n} из 5", "Сообщение", "Предыдущие сообщения"],
    ja: ["チャットでお問い合わせ", "チャット", "オンラインです", "まもなく戻ります", "オフラインです", "通常数分以内に返信します", "通常数時間以内に返信します", "通常1日以内に返信します",
      "はじめる前に", "お名前", "メールアドレス", "メッセージを入力…", "送信", "ファイルを添付", "絵文字を挿入", "この会話をメールで送る", "送信", "メールを確認してください：アドレスを確認すると会話が届きます。",
      "会話を送信しました。", "担当者が入力中…", "チャットを閉じる", "音を消す", "音を出す", "あなた", "送信済み", "再接続中…", "送信できませんでした。", "は大きすぎます", "は送信できません：プログラムやスクリプトは受け付けません",
      "対応はいかがでしたか？", "評価ありがとうございました。", "まずメッセージを送ってください。", "プライバシーポリシー", "会話", "件の未読", "必須", "5段階中{n}", "メッセージ", "以前のメッセージ"]
  };
  var KEYS = ["chat_with_us", "chat", "online", "away", "offline", "reply_minutes", "reply_hours", "reply_day", "before", "name", "email", "placeholder", "send", "attach", "emoji",
    "transcript", "email_me", "check_inbox", "transcript_sent", "typing", "close", "mute", "unmute", "you", "sent", "reconnecting", "not_sent", "too_large", "forbidden",
    "rate_us", "thanks", "write_first", "notice", "conversation", "unread", "required", "rate_n", "message", "earlier"];
  var lang = "en", t = {};
  function useLanguage(wanted) {
    var list = [].concat(wanted || [], navigator.languages || [navigator.language || "en"]);
    for (var i = 0; i < list.length; i++) {
      var code = String(list[i] || "").slice(0, 2).toLowerCase();
      if (T[code]) { lang = code; break; }
    }
    KEYS.forEach(function (k, i) { t[k] = T[lang][i]; });
  }

  function make(tag, props, children) {
    var e = document.createElement(tag);
    Object.keys(props || {}).forEach(function (k) {
      if (k === "text") e.textContent = props[k];
      else if (props[k] !== undefined && props[k] !== null && props[k] !== false) e.setAttribute(k, props[k]);
    });
    (children || []).forEach(function (c) { if (c) e.appendChild(c); });
    return e;
  }

  /* White or near-black text, whichever reads better on the accent colour. */
  function textOn(hex) {
    var n = parseInt(hex.slice(1), 16), c = [n >> 16 & 255, n >> 8 & 255, n & 255].map(function (v) {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    var l = 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
    return (1.05 / (l + 0.05)) >= ((l + 0.05) / 0.05) ? "#fff" : "#111";
  }

  var CSS = "#omnibridge-root{position:fixed;bottom:16px;z-index:2147483000;font:14px/1.45 system-ui,sans-serif;color:#1d2733}" +
    "#omnibridge-root *{box-sizing:border-box}" +
    "#omnibridge-bubble{position:relative;border-radius:28px;padding:12px 20px;background:var(--ob-accent);color:var(--ob-on);border:0;cursor:pointer;font:inherit;font-weight:600;box-shadow:0 4px 14px rgba(0,0,0,.2)}" +
    "#omnibridge-badge{position:absolute;top:-6px;right:-6px;min-width:22px;height:22px;border-radius:11px;background:#c62828;color:#fff;font-size:12px;line-height:22px;text-align:center;padding:0 6px}" +
    "#omnibridge-widget{width:360px;max-width:calc(100vw - 32px);height:560px;max-height:calc(100vh - 96px);display:flex;flex-direction:column;background:#fff;border-radius:12px;margin-bottom:12px;box-shadow:0 8px 28px rgba(0,0,0,.22);overflow:hidden}" +
    "#omnibridge-widget[hidden]{display:none}" +
    "#omnibridge-head{display:flex;gap:10px;align-items:center;padding:12px 14px;background:var(--ob-accent);color:var(--ob-on)}" +
    "#omnibridge-head img{width:36px;height:36px;border-radius:50%;background:#fff;object-fit:contain}" +
    "#omnibridge-head h2{font-size:16px;margin:0}#omnibridge-head p{margin:0;font-size:12px}" +
    "#omnibridge-head .ob-tools{margin-left:auto;display:flex;gap:4px}" +
    "#omnibridge-head button{background:transparent;color:inherit;border:1px solid currentColor;border-radius:6px;padding:2px 8px;cursor:pointer;font:inherit}" +
    ".ob-dot{display:inline-block;width:8px;height:8px;border-radius:50%;margin-right:6px;background:#9e9e9e}.ob-online .ob-dot{background:#2e7d32}.ob-away .ob-dot{background:#f9a825}" +
    "#omnibridge-log{list-style:none;margin:0;padding:12px;flex:1;overflow:auto;background:#f6f7f9}" +
    ".omnibridge-msg{max-width:80%;margin:6px 0;padding:8px 10px;border-radius:12px;background:#fff;border:1px solid #dde1e6;word-wrap:break-word;white-space:pre-wrap}" +
    ".omnibridge-in{margin-left:auto;background:var(--ob-accent);color:var(--ob-on);border-color:transparent}" +
    ".ob-meta{display:block;font-size:11px;opacity:.85;margin-top:2px}.ob-who{display:block;font-size:12px;font-weight:600}" +
    ".ob-file{display:block;font-size:13px;text-decoration:underline}" +
    "#omnibridge-status{margin:0;padding:0 12px;min-height:18px;font-size:12px;color:#37474f}" +
    "#omnibridge-widget fieldset{border:0;margin:0;padding:8px 12px}#omnibridge-widget legend{font-weight:600;padding:0}" +
    "#omnibridge-widget label{display:block;font-size:13px;margin-top:4px}" +
    "#omnibridge-widget input[type=text],#omnibridge-widget input[type=email],#omnibridge-input{width:100%;padding:8px;border:1px solid #8a94a0;border-radius:8px;font:inherit;color:inherit;background:#fff}" +
    "#omnibridge-form{display:flex;flex-wrap:wrap;gap:6px;padding:8px 12px;border-top:1px solid #e0e3e7;align-items:center}" +
    "#omnibridge-form .ob-row{display:flex;gap:6px;width:100%}" +
    "#omnibridge-form button,#omnibridge-transcript button,#omnibridge-csat button,#omnibridge-emojis button{border:1px solid #8a94a0;background:#fff;color:#1d2733;border-radius:8px;padding:6px 10px;cursor:pointer;font:inherit}" +
    "#omnibridge-form button[type=submit]{background:var(--ob-accent);color:var(--ob-on);border-color:transparent;font-weight:600}" +
    "#omnibridge-emojis{display:flex;flex-wrap:wrap;gap:4px;width:100%}#omnibridge-emojis[hidden]{display:none}" +
    "#omnibridge-transcript{padding:4px 12px 10px;font-size:13px}#omnibridge-transcript input{width:70%}" +
    ".ob-sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}" +
    "#omnibridge-root :focus-visible{outline:3px solid #1a73e8;outline-offset:2px}" +
    "@media (max-width:480px){#omnibridge-widget:not([hidden]){position:fixed;inset:0;width:100vw;max-width:none;height:100vh;max-height:none;margin:0;border-radius:0}}";

  var EMOJIS = ["😀", "🙂", "😉", "😍", "🙏", "👍", "👋", "🎉", "😢", "😮", "❤️", "✅"];
  var config = { accent_color: "#2f6fdf", prechat: { fields: "none", required: false }, position: "right", presence: "online", max_upload_bytes: 5242880 };
  var seen = {}, socket = null, lastSeq = 0, unread = 0;
  var root, panel, bubble, badge, log, status, prechatForm, form, input, fileInput, transcript, transcriptEmail, emojis, prechat = [], consentBox = null;

  function say(text) { status.textContent = text || ""; }

  function build() {
    useLanguage(attr("lang") || config.language);
    var style = make("style", { id: "omnibridge-style" });
    style.textContent = CSS;
    document.head.appendChild(style);
    var accent = /^#[0-9a-fA-F]{6}$/.test(config.accent_color) ? config.accent_color : "#2f6fdf";

    badge = make("span", { id: "omnibridge-badge", hidden: "hidden" });
    bubble = make("button", { type: "button", id: "omnibridge-bubble", "aria-expanded": "false", "aria-controls": "omnibridge-widget" }, [make("span", { text: t.chat_with_us }), badge]);
    var name = config.display_name || t.chat;
    var presenceWords = { online: t.online, away: t.away, offline: t.offline }[config.presence] || t.online;
    var replyWords = { minutes: t.reply_minutes, hours: t.reply_hours, day: t.reply_day }[config.reply_time];
    var muteButton = make("button", { type: "button", id: "omnibridge-mute", "aria-pressed": String(muted), text: muted ? t.unmute : t.mute });
    var closeButton = make("button", { type: "button", id: "omnibridge-close", "aria-label": t.close, text: "×" });
    var head = make("header", { id: "omnibridge-head", class: "ob-" + config.presence }, [
      config.logo_url ? make("img", { src: config.logo_url, alt: "" }) : null,
      make("div", {}, [
        make("h2", { text: name }),
        make("p", { id: "omnibridge-presence" }, [make("span", { class: "ob-dot", "aria-hidden": "true" }), document.createTextNode(presenceWords)]),
        replyWords && config.presence !== "offline" ? make("p", { id: "omnibridge-reply-time", text: replyWords }) : null
      ]),
      make("div", { class: "ob-tools" }, [muteButton, closeButton])
    ]);
    log = make("ol", { id: "omnibridge-log", "aria-live": "polite", "aria-label": t.conversation, tabindex: "0" });
    status = make("p", { id: "omnibridge-status", role: "status" });

    var fields = [];
    prechat = config.prechat.fields === "name_email" ? ["name", "email"] : config.prechat.fields === "name" ? ["name"]
      : (attr("prechat") || "").split(",").map(function (s) { return s.trim(); }).filter(Boolean);
    prechat.forEach(function (field) {
      var id = "omnibridge-" + field;
      fields.push(make("label", { for: id, text: (field === "email" ? t.email : t.name) + (config.prechat.required ? " (" + t.required + ")" : "") }));
      fields.push(make("input", { id: id, name: field, type: field === "email" ? "email" : "text", autocomplete: field, required: config.prechat.required ? "required" : null }));
    });
    var consent = config.consent || (attr("consent-notice") ? {
      text: attr("consent-notice"), notice_version: attr("notice-version") || "unversioned", notice_url: attr("notice-url"),
      purposes: (attr("consent-purposes") || "marketing").split(",").map(function (s) { return s.trim(); })
    } : null);
    if (consent) {
      consentBox = make("input", { id: "omnibridge-consent", type: "checkbox" });
      consentBox.consent = consent;
      var row = make("p", {}, [consentBox, make("label", { for: "omnibridge-consent", text: consent.text, style: "display:inline;margin-left:6px" })]);
      if (consent.notice_url) row.appendChild(make("a", { href: consent.notice_url, target: "_blank", rel: "noopener", text: " " + t.notice }));
      fields.push(row);
    }
    prechatForm = make("fieldset", { id: "omnibridge-prechat" }, [make("legend", { text: t.before })].concat(fields));
    if (token || !fields.length) prechatForm.hidden = true;

    input = make("input", { id: "omnibridge-input", type: "text", autocomplete: "off", placeholder: t.placeholder, "aria-label": t.message });
    fileInput = make("input", { id: "omnibridge-file", type: "file", class: "ob-sr", tabindex: "-1", "aria-hidden": "true" });
    var attach = make("button", { type: "button", id: "omnibridge-attach", "aria-label": t.attach, title: t.attach, text: "+" });
    var emojiButton = make("button", { type: "button", id: "omnibridge-emoji", "aria-label": t.emoji, title: t.emoji, "aria-expanded": "false", "aria-controls": "omnibridge-emojis", text: "☺" });
    emojis = make("div", { id: "omnibridge-emojis", hidden: "hidden", role: "group", "aria-label": t.emoji }, EMOJIS.map(function (e) {
      var b = make("button", { type: "button", text: e, "aria-label": e });
      b.addEventListener("click", function () { input.value += e; input.focus(); });
      return b;
    }));
    form = make("form", { id: "omnibridge-form" }, [
      make("div", { class: "ob-row" }, [make("label", { for: "omnibridge-input", class: "ob-sr", text: t.message }), input]),
      attach, emojiButton, fileInput, make("button", { type: "submit", text: t.send }), emojis
    ]);
    transcriptEmail = make("input", { id: "omnibridge-transcript-email", type: "email", autocomplete: "email", "aria-label": t.email });
    transcript = make("form", { id: "omnibridge-transcript" }, [
      make("label", { for: "omnibridge-transcript-email", text: t.transcript }), transcriptEmail, make("button", { type: "submit", text: t.email_me })
    ]);
    var away = config.presence === "offline" && config.away_message ? make("p", { id: "omnibridge-away", class: "omnibridge-msg", text: config.away_message }) : null;
    var greeting = config.greeting ? make("li", { class: "omnibridge-msg omnibridge-out", id: "omnibridge-greeting", text: config.greeting }) : null;
    if (greeting) log.appendChild(greeting);
    panel = make("section", { id: "omnibridge-widget", "aria-label": name, hidden: "hidden", lang: lang }, [head, log, away, status, prechatForm, form, transcript]);
    root = make("div", { id: "omnibridge-root", lang: lang }, [panel, bubble]);
    root.style.setProperty("--ob-accent", accent);
    root.style.setProperty("--ob-on", textOn(accent));
    root.style[config.position === "left" ? "left" : "right"] = "16px";
    root.style.textAlign = config.position === "left" ? "left" : "right";
    panel.style.textAlign = "left";
    document.body.appendChild(root);

    bubble.addEventListener("click", function () { toggle(panel.hidden); });
    closeButton.addEventListener("click", function () { toggle(false); bubble.focus(); });
    panel.addEventListener("keydown", function (e) { if (e.key === "Escape") { toggle(false); bubble.focus(); } });
    muteButton.addEventListener("click", function () {
      muted = !muted;
      localStorage.setItem("omnibridge:muted", muted ? "1" : "0");
      muteButton.setAttribute("aria-pressed", String(muted));
      muteButton.textContent = muted ? t.unmute : t.mute;
    });
    emojiButton.addEventListener("click", function () {
      emojis.hidden = !emojis.hidden;
      emojiButton.setAttribute("aria-expanded", String(!emojis.hidden));
    });
    attach.addEventListener("click", function () { fileInput.click(); });
    fileInput.addEventListener("change", function () { if (fileInput.files[0]) sendFile(fileInput.files[0]); fileInput.value = ""; });
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var text = input.value.trim();
      if (!text) return;
      input.value = "";
      post({ text: text });
    });
    transcript.addEventListener("submit", sendTranscript);
  }

  function toggle(open) {
    panel.hidden = !open;
    bubble.setAttribute("aria-expanded", String(open));
    if (open) {
      unread = 0;
      showBadge();
      (prechatForm.hidden ? input : prechatForm.querySelector("input") || input).focus();
    }
  }

  function showBadge() {
    badge.hidden = !unread;
    badge.textContent = unread ? String(unread) : "";
    badge.setAttribute("aria-label", unread + " " + t.unread);
  }

  function beep() {
    if (muted || !window.AudioContext) return;
    try {
      var ctx = new AudioContext(), osc = ctx.createOscillator(), gain = ctx.createGain();
      osc.frequency.value = 880;
      gain.gain.value = 0.05;
      osc.connect(gain);
      gain.connect(ctx.destination);
      osc.start();
      osc.stop(ctx.currentTime + 0.15);
    } catch (e) { /* no sound is fine */ }
  }

  function time(iso) {
    var d = new Date(iso);
    return isNaN(d) ? "" : d.toLocaleTimeString(lang, { hour: "2-digit", minute: "2-digit" });
  }

  /* A message in the log: appended (live, or the latest page), or placed before `above` (an
     earlier page, above what is shown). */
  function show(m, live, above) {
    if (typeof m.seq === "number" && m.seq > lastSeq) lastSeq = m.seq;
    if (seen[m.id]) return;
    seen[m.id] = true;
    var mine = m.direction === "in";
    var who = mine ? t.you : (m.author_name || config.display_name || t.chat);
    var li = make("li", { class: "omnibridge-msg omnibridge-" + m.direction, "data-id": m.id }, [make("span", { class: "ob-who", text: who })]);
    if (m.text) li.appendChild(make("span", { class: "ob-text", text: m.text }));
    (m.attachments || []).forEach(function (f) { li.appendChild(make("span", { class: "ob-file", text: f.filename || f.content_type })); });
    li.appendChild(make("span", { class: "ob-meta", text: time(m.created_at) + (mine ? " · ✓ " + t.sent : "") }));
    if (above) { log.insertBefore(li, above); return; }
    log.appendChild(li);
    log.scrollTop = log.scrollHeight;
    if (live && !mine) {
      beep();
      if (panel.hidden) { unread += 1; showBadge(); }
    }
  }

  function request(method, path, body) {
    var headers = { "Content-Type": "application/json" };
    if (token) headers.Authorization = "Bearer " + token;
    return fetch(api + path, { method: method, headers: headers, body: body ? JSON.stringify(body) : undefined })
      .then(function (r) { return r.json().catch(function () { return {}; }).then(function (j) { return { ok: r.ok, status: r.status, body: j }; }); });
  }

  /* Earlier messages come a page at a time, from a button above the oldest one shown. */
  function offerEarlier(cursor) {
    var row = panel.querySelector("#omnibridge-earlier");
    if (!cursor) { if (row) row.remove(); return; }
    if (!row) {
      var button = make("button", { type: "button", text: t.earlier });
      row = make("li", { id: "omnibridge-earlier" }, [button]);
      var greeting = log.querySelector("#omnibridge-greeting");
      log.insertBefore(row, greeting ? greeting.nextSibling : log.firstChild);
      button.addEventListener("click", function () {
        button.disabled = true;
        request("GET", "/messages?cursor=" + encodeURIComponent(row.cursor)).then(function (r) {
          button.disabled = false;
          if (!r.ok) { say(r.body.detail || t.not_sent); return; }
          var height = log.scrollHeight, oldest = row.nextSibling;
          r.body.data.forEach(function (m) { show(m, false, oldest); });
          log.scrollTop += log.scrollHeight - height;
          offerEarlier(r.body.next_cursor);
        });
      });
    }
    row.cursor = cursor;
  }

  /* A returning visitor's history (the latest page); a stale token is forgotten. */
  function resume() {
    if (!token) return Promise.resolve();
    return request("GET", "/messages").then(function (r) {
      if (r.ok) { r.body.data.forEach(function (m) { show(m, false); }); offerEarlier(r.body.next_cursor); connect(); return; }
      token = null;
      localStorage.removeItem(storageKey);
      prechatForm.hidden = !prechatForm.querySelector("input");
    });
  }

  /* A new visitor: the pre-chat answers and the consent they ticked open the session. */
  function open() {
    if (token) return Promise.resolve();
    var profile = {};
    for (var i = 0; i < prechat.length; i++) {
      var field = panel.querySelector("#omnibridge-" + prechat[i]);
      if (field.value.trim()) profile[prechat[i]] = field.value.trim();
      else if (config.prechat.required) { field.focus(); return Promise.reject(new Error((prechat[i] === "email" ? t.email : t.name) + ": " + t.required)); }
    }
    if (consentBox && consentBox.checked) {
      var c = consentBox.consent;
      profile.consent = { purposes: c.purposes || ["marketing"], notice_version: c.notice_version, notice_url: c.notice_url || undefined, form_url: location.href };
    }
    return request("POST", "/channels/" + channelId + "/sessions", profile).then(function (r) {
      if (!r.ok) throw new Error(r.body.detail || t.not_sent);
      token = r.body.visitor_token;
      localStorage.setItem(storageKey, token);
      prechatForm.hidden = true;
      connect();
    });
  }

  function post(body) {
    body.external_id = String(Date.now()) + Math.random();
    return open().then(function () { return request("POST", body.attachments ? "/files" : "/messages", body); }).then(function (r) {
      if (r.ok) { show(r.body, false); say(""); } else say(r.body.detail || t.not_sent);
    }).catch(function (err) { say(err.message); });
  }

  var FORBIDDEN = /\.(exe|com|bat|cmd|scr|pif|msi|vbs|js|jse|wsf|ps1|jar|sh|apk|dll|lnk)$/i;
  function sendFile(file) {
    if (FORBIDDEN.test(file.name)) { say(file.name + " " + t.forbidden); return; }
    if (file.size > config.max_upload_bytes / 5 * 3) { say(file.name + " " + t.too_large); return; }
    var reader = new FileReader();
    reader.onload = function () {
      var data = String(reader.result).split(",")[1] || "";
      post({ text: input.value.trim(), attachments: [{ filename: file.name, content_type: file.type || "application/octet-stream", data: data }] });
      input.value = "";
    };
    reader.readAsDataURL(file);
  }

  var delay = 500, typingTimer = null;
  function connect() {
    if (socket) return;
    socket = new WebSocket(api.replace(/^http/, "ws") + "/ws?token=" + encodeURIComponent(token) + (lastSeq ? "&after=" + lastSeq : ""));
    socket.onopen = function () { delay = 500; root.setAttribute("data-connected", "true"); say(""); };
    socket.onmessage = function (e) {
      var frame;
      try { frame = JSON.parse(e.data); } catch (err) { return; }
      if (frame.type === "message") { show(frame.message, true); say(""); }
      if (frame.type === "csat") askRating(frame.survey_id);
      if (frame.type === "typing") {
        say(frame.typing ? t.typing : "");
        clearTimeout(typingTimer);
        if (frame.typing) typingTimer = setTimeout(function () { say(""); }, 6000);
      }
    };
    socket.onclose = function () {
      socket = null;
      root.setAttribute("data-connected", "false");
      say(t.reconnecting);
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 15000);
    };
  }

  /* After a resolved conversation: one question, 1 to 5. */
  function askRating(surveyId) {
    var box = make("fieldset", { id: "omnibridge-csat" }, [make("legend", { text: t.rate_us })]);
    [1, 2, 3, 4, 5].forEach(function (n) {
      var b = make("button", { type: "button", "aria-label": t.rate_n.replace("{n}", n), text: String(n) });
      b.addEventListener("click", function () {
        request("POST", "/csat", { survey_id: surveyId, score: n }).then(function (r) {
          box.textContent = r.ok ? t.thanks : (r.body.detail || t.not_sent);
        });
      });
      box.appendChild(b);
    });
    panel.insertBefore(box, form);
    toggle(true);
  }

  function sendTranscript(e) {
    e.preventDefault();
    if (!token) { say(t.write_first); return; }
    var email = transcriptEmail.value.trim();
    request("POST", "/transcript", email ? { email: email } : {}).then(function (r) {
      say(!r.ok ? (r.body.detail || t.not_sent) : r.body.status === "confirmation_sent" ? t.check_inbox : t.transcript_sent);
    });
  }

  fetch(api + "/channels/" + channelId + "/config").then(function (r) { return r.ok ? r.json() : null; }).catch(function () { return null; }).then(function (c) {
    if (c) Object.keys(c).forEach(function (k) { if (c[k] !== null && c[k] !== undefined) config[k] = c[k]; });
    build();
    resume();
  });
})();
