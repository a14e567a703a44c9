// The simulator's web client: renders the view of the member one acts as and sends what they
// do. Everything shown comes from /api/state; every action goes through the /api routes, which
// check what Discord's client checks and answer {"error": "..."} when they refuse.
"use strict";

const $ = (id) => document.getElementById(id);
let view = null;            // the last /api/state
let me = localStorage.getItem("sandbox.user") || "";
let current = null;         // the channel shown
let rendered = {};          // what was last drawn, to redraw only what changed
let command = null;         // the slash command being filled in
let dismissed = new Set();  // ephemeral messages dismissed by the member
let shownModal = null;

// ---- Talking to the server -----------------------------------------------------------------

async function api(path, body) {
  try {
    const response = await fetch(path, {
      method: "POST", headers: {"content-type": "application/json"}, body: JSON.stringify(body),
    });
    const answer = await response.json().catch(() => ({error: "The sandbox did not answer."}));
    if (answer.error) { notice(answer.error); redraw(); return null; }
    return answer.ok;
  } catch (_) {
    notice("The sandbox is not reachable. Is it still running?");
    redraw();
    return null;
  }
}

// Draws the messages again from the last state: a control disabled on click comes back when
// the click changed nothing.
function redraw() {
  rendered.messages = null;
  render();
}

function notice(text) {
  const box = $("notice");
  box.textContent = text;
  box.hidden = false;
  clearTimeout(notice.timer);
  notice.timer = setTimeout(() => { box.hidden = true; }, 6000);
}

let fetching = false, again = false;
async function refresh() {
  if (fetching) { again = true; return; }
  fetching = true;
  try {
    const response = await fetch("/api/state?user=" + encodeURIComponent(me));
    if (response.ok) { view = await response.json(); render(); }
  } catch (_) { /* the next event retries */ }
  fetching = false;
  if (again) { again = false; refresh(); }
}

// ---- Markdown ------------------------------------------------------------------------------

function escape(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
}

function nameOf(id) {
  const member = view && view.members.find((m) => m.id === id);
  return member ? member.name : "unknown-user";
}

// A link's address, if it is one the page may point to (http or https only).
function safeUrl(url) {
  return /^https?:\/\/[^\s"'<>`]+$/.test(url) ? url : null;
}

// Formatting, mentions and emphasis for a piece of text with no link or code in it.
function styled(text) {
  return escape(text)
    .replace(/\*\*(.+?)\*\*/g, "<strong>$1</strong>")
    .replace(/__(.+?)__/g, "<u>$1</u>")
    .replace(/\*(.+?)\*/g, "<em>$1</em>")
    .replace(/(^|\W)_(.+?)_(?=\W|$)/g, "$1<em>$2</em>")
    .replace(/~~(.+?)~~/g, "<s>$1</s>")
    .replace(/&lt;@!?(\d+)&gt;/g, (_, id) => '<span class="mention">@' + escape(nameOf(id)) + "</span>")
    .replace(/&lt;@&amp;(\d+)&gt;/g, (_, id) => {
      const role = view && view.roles.find((r) => r.id === id);
      return '<span class="mention">@' + escape(role ? role.name : "deleted-role") + "</span>";
    })
    .replace(/&lt;#(\d+)&gt;/g, (_, id) => {
      const channel = view && view.channels.find((c) => c.id === id);
      return '<span class="mention">#' + escape(channel ? channel.name : "unknown") + "</span>";
    })
    .replace(/&lt;t:(\d+)(?::\w)?&gt;/g, (_, t) => escape(new Date(Number(t) * 1000).toLocaleString()))
    .replace(/@(everyone|here)\b/g, '<span class="mention">@$1</span>');
}

// One line of Discord markdown as HTML. The raw text is cut into code spans, links and plain
// pieces first, and each piece is escaped on its own: nothing a member types can open a tag
// or an attribute, and a link's address is only ever an http(s) URL inside quotes.
function inline(text) {
  let html = "";
  String(text).split(/(`[^`]+`)/).forEach((part, i) => {
    if (i % 2 === 1) { html += "<code>" + escape(part.slice(1, -1)) + "</code>"; return; }
    const links = /\[([^\]]+)\]\(([^)\s]+)\)|<?(https?:\/\/[^\s<>"'`]+)>?/g;
    let at = 0, found;
    while ((found = links.exec(part)) !== null) {
      html += styled(part.slice(at, found.index));
      const url = safeUrl(found[2] || found[3]);
      const label = found[1] !== undefined ? styled(found[1]) : escape(found[3] || "");
      html += url ? '<a href="' + escape(url) + '" target="_blank" rel="noopener noreferrer">' + label + "</a>" : escape(found[0]);
      at = links.lastIndex;
    }
    html += styled(part.slice(at));
  });
  return html;
}

function markdown(text) {
  if (!text) return "";
  const parts = String(text).split("```");
  return parts.map((part, i) => {
    if (i % 2 === 1) return "<pre>" + escape(part.replace(/^\w*\n/, "")) + "</pre>";
    return part.split("\n").map((line) => {
      const heading = line.match(/^(#{1,3}) (.*)$/);
      if (heading) return "<strong>" + inline(heading[2]) + "</strong>";
      if (line.startsWith("> ")) return "<blockquote>" + inline(line.slice(2)) + "</blockquote>";
      if (/^[-*] /.test(line)) return "• " + inline(line.slice(2));
      return inline(line);
    }).join("<br>");
  }).join("");
}

// ---- Rendering -----------------------------------------------------------------------------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "html") node.innerHTML = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

function render() {
  if (!view) return;
  const members = view.members.filter((m) => !m.bot);
  if (!members.some((m) => m.id === me)) {
    const owner = members.find((m) => m.owner) || members[0];
    me = owner ? owner.id : "";
    localStorage.setItem("sandbox.user", me);
    refresh();
    return;
  }
  $("guild-name").textContent = view.guild.name;
  const actingKey = JSON.stringify(members) + me;
  if (rendered.acting !== actingKey) {
    rendered.acting = actingKey;
    const select = $("acting-as");
    select.replaceChildren(...members.map((m) => el("option", {value: m.id, selected: m.id === me}, m.name)));
  }
  const self = members.find((m) => m.id === me);
  $("acting-roles").textContent = (self.owner ? "Server owner · " : "") + (self.roles.join(", ") || "no roles");

  const channels = view.channels.filter((c) => c.kind === 0 || c.kind === 5 || c.kind === 11);
  const known = channels.some((c) => c.id === current) || (view.dm && view.dm === current);
  if (!known) {
    const general = channels.find((c) => c.name === "general") || channels[0];
    current = general ? general.id : view.dm;
  }
  const channelKey = JSON.stringify([channels, view.dm, current]);
  if (rendered.channels !== channelKey) {
    rendered.channels = channelKey;
    $("channels").replaceChildren(...channels.map((c) => el("li", {
      class: [c.id === current ? "active" : "", c.can_send ? "" : "readonly"].join(" "),
      "data-channel": c.name, onclick: () => switchTo(c.id),
    }, (c.kind === 11 ? "↳ " : "# ") + c.name)));
    const dmItems = [];
    if (view.dm) {
      dmItems.push(el("li", {class: view.dm === current ? "active" : "", "data-channel": "dm", onclick: () => switchTo(view.dm)}, "@ Novera"));
    } else {
      dmItems.push(el("li", {"data-channel": "open-dm", onclick: openDm}, "+ Message Novera"));
    }
    $("dms").replaceChildren(...dmItems);
  }
  const channel = channels.find((c) => c.id === current);
  $("channel-title").textContent = channel ? "# " + channel.name : "@ Novera";
  $("input").placeholder = channel && !channel.can_send
    ? "You do not have permission to send messages in this channel. / commands still work."
    : "Message " + (channel ? "#" + channel.name : "@Novera") + ", or / for commands";

  const messages = (view.messages[current] || []).filter((m) => !dismissed.has(m.id));
  const failed = view.unanswered.filter((u) => u.channel === current);
  const messageKey = JSON.stringify([current, messages, failed, view.members, view.roles]);
  if (rendered.messages !== messageKey) {
    rendered.messages = messageKey;
    const box = $("messages");
    const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
    box.replaceChildren(...messages.map(renderMessage), ...failed.map((f) => el("div", {class: "failed"}, "⚠ " + f.note)));
    if (atBottom || rendered.scrolledFor !== current) { box.scrollTop = box.scrollHeight; rendered.scrolledFor = current; }
  }
  renderModal();
  renderPanel();
}

function renderMessage(m) {
  const author = m.author || {};
  const name = author.global_name || author.username || "unknown";
  const body = [];
  if (m.command) body.push(el("div", {class: "via"}, "↳ " + nameOf(m.invoker) + " used /" + m.command));
  body.push(el("div", {}, el("span", {class: "author"}, name), author.bot ? el("span", {class: "tag"}, "APP") : null));
  const empty = !m.content && !(m.embeds || []).length && !(m.components || []).length;
  if (empty && author.bot) body.push(el("div", {class: "thinking"}, "Novera is thinking…"));
  else if (m.content) body.push(el("div", {class: "content", html: markdown(m.content)}));
  for (const embed of m.embeds || []) body.push(renderEmbed(embed));
  for (const row of m.components || []) body.push(renderRow(m, row));
  if (m.ephemeral) {
    body.push(el("div", {class: "only-you"}, "👁 Only you can see this · ",
      el("a", {onclick: () => { dismissed.add(m.id); render(); }}, "Dismiss message")));
  }
  return el("div", {class: "message" + (m.ephemeral ? " ephemeral" : ""), "data-id": m.id}, body);
}

function renderEmbed(e) {
  const color = typeof e.color === "number" ? "#" + e.color.toString(16).padStart(6, "0") : null;
  const box = el("div", {class: "embed"},
    e.author && e.author.name ? el("div", {class: "embed-author"}, e.author.name) : null,
    e.title ? el("div", {class: "embed-title", html: inline(e.title)}) : null,
    e.description ? el("div", {class: "content", html: markdown(e.description)}) : null,
    (e.fields || []).length ? el("div", {class: "embed-fields"}, e.fields.map((f) =>
      el("div", {class: "embed-field" + (f.inline ? " inline" : "")},
        el("div", {class: "embed-field-name", html: inline(f.name)}),
        el("div", {class: "content", html: markdown(f.value)})))) : null,
    e.footer && e.footer.text ? el("div", {class: "embed-footer"}, e.footer.text) : null);
  // Set through the style object: the page's policy refuses inline style attributes.
  if (color) box.style.borderLeftColor = color;
  return box;
}

function selectChoices(component) {
  switch (component.type) {
    case 3: return (component.options || []).map((o) => ({value: o.value, label: o.label, description: o.description, selected: !!o.default}));
    case 5: return view.members.filter((m) => !m.bot).map((m) => ({value: m.id, label: m.name}));
    case 6: return view.roles.filter((r) => r.id !== view.guild.id).map((r) => ({value: r.id, label: "@" + r.name}));
    case 7: return view.members.filter((m) => !m.bot).map((m) => ({value: m.id, label: m.name}))
      .concat(view.roles.filter((r) => r.id !== view.guild.id).map((r) => ({value: r.id, label: "@" + r.name})));
    case 8: return view.channels
      .filter((c) => !component.channel_types || component.channel_types.includes(c.kind))
      .map((c) => ({value: c.id, label: "#" + c.name}));
    default: return [];
  }
}

function renderRow(message, row) {
  return el("div", {class: "row"}, (row.components || []).map((c) => {
    if (c.type === 2) {
      const label = (c.emoji && c.emoji.name ? c.emoji.name + " " : "") + (c.label || "");
      if (c.style === 5) {
        const url = safeUrl(c.url || "");
        const link = el("button", {type: "button", disabled: !url || !!c.disabled}, label + " ↗");
        return url ? el("a", {href: url, target: "_blank", rel: "noopener noreferrer"}, link) : link;
      }
      return el("button", {
        type: "button", class: "component style-" + c.style, "data-label": c.label || "", disabled: !!c.disabled,
        onclick: (event) => { event.target.disabled = true; api("/api/click", {user: me, message: message.id, custom_id: c.custom_id}); },
      }, label);
    }
    if (c.type >= 3 && c.type <= 8) {
      const max = c.max_values || 1, min = c.min_values === undefined ? 1 : c.min_values;
      const select = el("select", {
        class: "component", "data-custom-id": c.custom_id, disabled: !!c.disabled, multiple: max > 1,
        "aria-label": c.placeholder || "Make a selection",
      }, max > 1 ? null : el("option", {value: "", disabled: true, selected: true}, c.placeholder || "Make a selection"),
      selectChoices(c).map((o) => el("option", {value: o.value, title: o.description, selected: o.selected}, o.label)));
      const send = () => {
        const values = Array.from(select.selectedOptions).map((o) => o.value).filter((v) => v);
        if (values.length < min || values.length > max) { notice(min === max ? "Pick " + min + "." : "Pick between " + min + " and " + max + "."); return; }
        select.disabled = true;
        api("/api/select", {user: me, message: message.id, custom_id: c.custom_id, values});
      };
      if (max > 1) return el("span", {}, select, el("button", {type: "button", class: "style-1", onclick: send}, "Done"));
      select.addEventListener("change", send);
      return select;
    }
    return null;
  }));
}

function renderModal() {
  const dialog = $("modal");
  const modal = view.modal;
  const key = modal ? JSON.stringify(modal) : null;
  if (!modal) {
    if (dialog.open) dialog.close();
    shownModal = null;
    return;
  }
  if (shownModal === key && dialog.open) return;
  shownModal = key;
  $("modal-title").textContent = modal.title || "";
  $("modal-error").hidden = true;
  const inputs = (modal.components || []).flatMap((row) => row.components || []);
  $("modal-fields").replaceChildren(...inputs.map((input) => {
    const attrs = {
      "data-id": input.custom_id, maxlength: input.max_length, minlength: input.min_length,
      required: input.required !== false, placeholder: input.placeholder,
    };
    const field = input.style === 2 ? el("textarea", Object.assign(attrs, {rows: 5})) : el("input", attrs);
    field.value = input.value || "";
    const count = el("span", {class: "count"});
    const update = () => { count.textContent = field.value.length + (input.max_length ? " / " + input.max_length : ""); };
    field.addEventListener("input", update);
    update();
    return el("label", {class: "modal-field"}, (input.label || input.custom_id) + (input.required !== false ? " *" : ""), field, count);
  }));
  if (!dialog.open) dialog.showModal();
}

let lastViolations = "";
function renderPanel() {
  const gw = view.gateway;
  $("gateway").textContent = (gw.connected ? "Gateway: connected" : "Gateway: no connection") +
    " · " + gw.connections + " connections, " + gw.identifies + " identifies, " + gw.resumes + " resumes";
  const key = JSON.stringify(view.violations);
  if (key !== lastViolations) {
    lastViolations = key;
    $("violations").replaceChildren(...(view.violations.length
      ? view.violations.map((v) => el("li", {}, v))
      : [el("li", {}, "No rule broken.")]));
  }
}

async function checkHealth() {
  try {
    const answer = await (await fetch("/api/health")).json();
    const badge = $("health");
    badge.className = "badge " + (answer.status === 200 ? "up" : answer.status ? "down" : "unknown");
    let reason = "";
    try { const body = JSON.parse(answer.body); reason = body.status || body.reason || ""; } catch (_) { reason = answer.body || ""; }
    badge.textContent = answer.status ? answer.status + " " + reason : "unreachable";
    badge.setAttribute("data-status", answer.status || "");
  } catch (_) {
    $("health").className = "badge unknown";
    $("health").textContent = "sandbox unreachable";
  }
}

// ---- Acting ---------------------------------------------------------------------------------

function switchTo(channel) {
  current = channel;
  render();
}

async function openDm() {
  const channel = await api("/api/dm", {user: me});
  if (channel) { current = channel; refresh(); }
}

// Every command the composer offers: a command with subcommands offers each, as Discord does
// (`/match create`, `/match show`).
function commands() {
  const list = [];
  for (const c of view ? view.commands : []) {
    const subs = (c.options || []).filter((o) => o.type === 1);
    if (subs.length) subs.forEach((s) => list.push(Object.assign({}, s, {name: c.name + " " + s.name})));
    else list.push(c);
  }
  return list.sort((a, b) => a.name.localeCompare(b.name));
}

function showAutocomplete() {
  const box = $("autocomplete");
  const text = $("input").value;
  const match = text.match(/^\/(\S*(?: \S*)?)$/);
  if (!match || command) { box.hidden = true; return; }
  const found = commands().filter((c) => c.name.startsWith(match[1].toLowerCase()));
  if (!found.length) { box.hidden = true; return; }
  box.replaceChildren(...found.map((c, i) => el("div", {
    class: "item" + (i === 0 ? " selected" : ""), "data-name": c.name, onclick: () => choose(c),
  }, el("strong", {}, "/" + c.name), el("span", {class: "desc"}, c.description || ""))));
  box.hidden = false;
}

function optionInput(option) {
  const attrs = {"data-option": option.name, title: option.description, required: !!option.required};
  const pick = (choices) => el("select", attrs,
    el("option", {value: ""}, option.required ? "Choose…" : "(none)"),
    choices.map((c) => el("option", {value: c.value}, c.label)));
  if (option.choices && option.choices.length) return pick(option.choices.map((c) => ({value: String(c.value), label: c.name})));
  switch (option.type) {
    case 4: case 10: return el("input", Object.assign(attrs, {type: "number", min: option.min_value, max: option.max_value, step: option.type === 4 ? 1 : "any", placeholder: option.description}));
    case 5: return pick([{value: "true", label: "True"}, {value: "false", label: "False"}]);
    case 6: case 9: return pick(view.members.filter((m) => !m.bot).map((m) => ({value: m.id, label: m.name})));
    case 7: return pick(view.channels.filter((c) => !option.channel_types || option.channel_types.includes(c.kind)).map((c) => ({value: c.id, label: "#" + c.name})));
    case 8: return pick(view.roles.map((r) => ({value: r.id, label: "@" + r.name})));
    default: return el("input", Object.assign(attrs, {type: "text", maxlength: option.max_length, minlength: option.min_length, placeholder: option.description}));
  }
}

function choose(chosen) {
  command = chosen;
  $("autocomplete").hidden = true;
  $("input").value = "/" + chosen.name;
  const box = $("options");
  box.replaceChildren(
    el("span", {class: "command-chip"}, "/" + chosen.name),
    ...(chosen.options || []).map((o) => el("label", {class: "option", "data-name": o.name},
      o.name + (o.required ? " *" : ""), optionInput(o))),
    el("button", {type: "button", onclick: clearCommand}, "✕"));
  box.hidden = false;
  const first = box.querySelector("[data-option]");
  (first || $("input")).focus();
}

function clearCommand() {
  command = null;
  $("options").hidden = true;
  $("options").replaceChildren();
  $("input").value = "";
}

async function send(event) {
  event.preventDefault();
  const input = $("input");
  const text = input.value;
  if (!command && text.startsWith("/")) {
    const name = text.slice(1).trim().split(/\s+/).slice(0, 2).join(" ");
    const found = commands().find((c) => c.name === name) ||
      commands().find((c) => c.name === name.split(" ")[0]);
    if (found) { choose(found); if (!(found.options || []).length) return send(event); return; }
    notice("There is no /" + name + " command here.");
    return;
  }
  if (command) {
    const options = Array.from($("options").querySelectorAll("[data-option]"))
      .map((field) => [field.getAttribute("data-option"), field.value]);
    const ok = await api("/api/slash", {user: me, channel: current, name: command.name, options});
    if (ok !== null) clearCommand();
    return;
  }
  if (!text.trim()) return;
  const ok = await api("/api/say", {user: me, channel: current, content: text});
  if (ok !== null) input.value = "";
}

// ---- Wiring ----------------------------------------------------------------------------------

$("composer").addEventListener("submit", send);
$("input").addEventListener("input", () => {
  if (command && !$("input").value.startsWith("/" + command.name)) clearCommand();
  showAutocomplete();
});
$("input").addEventListener("keydown", (event) => {
  const box = $("autocomplete");
  if (!box.hidden && (event.key === "Tab" || event.key === "Enter")) {
    event.preventDefault();
    const selected = box.querySelector(".item.selected");
    const found = selected && commands().find((c) => c.name === selected.getAttribute("data-name"));
    if (found) choose(found);
    return;
  }
  if (!box.hidden && (event.key === "ArrowDown" || event.key === "ArrowUp")) {
    event.preventDefault();
    const items = Array.from(box.querySelectorAll(".item"));
    const at = items.findIndex((i) => i.classList.contains("selected"));
    const next = (at + (event.key === "ArrowDown" ? 1 : items.length - 1)) % items.length;
    items.forEach((item, i) => item.classList.toggle("selected", i === next));
    return;
  }
  if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); $("composer").requestSubmit(); }
});
$("acting-as").addEventListener("change", (event) => {
  me = event.target.value;
  localStorage.setItem("sandbox.user", me);
  dismissed = new Set();
  clearCommand();
  rendered = {};
  refresh();
});
document.querySelectorAll(".fault").forEach((button) => button.addEventListener("click", async () => {
  const ok = await api("/api/fault", {kind: button.getAttribute("data-kind")});
  if (ok) notice("Injected: " + button.textContent + ". Watch the health badge.");
}));
$("join").addEventListener("click", async () => {
  const ok = await api("/api/join", {});
  if (ok) notice("A new member joined. Watch #general for the bot's welcome.");
});
$("modal-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const fields = Array.from($("modal-fields").querySelectorAll("[data-id]")).map((f) => [f.getAttribute("data-id"), f.value]);
  try {
    const response = await fetch("/api/modal", {method: "POST", headers: {"content-type": "application/json"}, body: JSON.stringify({user: me, fields})});
    const answer = await response.json();
    if (answer.error) { $("modal-error").textContent = answer.error; $("modal-error").hidden = false; return; }
    $("modal").close();
  } catch (_) {
    $("modal-error").textContent = "The sandbox is not reachable.";
    $("modal-error").hidden = false;
  }
});
$("modal-cancel").addEventListener("click", () => { $("modal").close(); api("/api/modal/dismiss", {user: me}); redraw(); });
$("modal").addEventListener("cancel", () => { api("/api/modal/dismiss", {user: me}); redraw(); });

const events = new EventSource("/api/events");
events.addEventListener("change", refresh);
events.addEventListener("tick", refresh);
setInterval(checkHealth, 1000);
refresh();
checkHealth();
