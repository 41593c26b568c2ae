// The backoffice page: plain JavaScript over the REST API (/api/v1). Every value from the
// server is put into the page as text (textContent), never as HTML.
"use strict";

const state = { csrf: null, users: [], selected: null, refresh: null };

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else if (key === "onclick") node.addEventListener("click", value);
    else node[key] = value;
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function badge(text, kind) {
  return el("span", { class: "badge" + (kind ? " " + kind : "") }, text);
}

function count(n, one, many) {
  return n + " " + (n === 1 ? one : many);
}

function when(seconds) {
  if (!seconds) return "never";
  return new Date(seconds * 1000).toLocaleString();
}

function flash(message, kind) {
  const box = $("flash");
  box.replaceChildren(el("div", { class: "notice " + (kind || "error") }, message));
  if (kind === "ok") setTimeout(() => box.replaceChildren(), 4000);
}

async function api(method, path, body, contentType) {
  const headers = {};
  if (state.csrf && method !== "GET") headers["X-CSRF-Token"] = state.csrf;
  let payload;
  if (body !== undefined) {
    if (contentType) {
      headers["Content-Type"] = contentType;
      payload = body;
    } else {
      headers["Content-Type"] = "application/json";
      payload = JSON.stringify(body);
    }
  }
  const response = await fetch(path, { method, headers, body: payload, credentials: "same-origin" });
  if (response.status === 401) {
    window.location.assign("/login");
    throw new Error("signed out");
  }
  if (response.status === 204) return null;
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.error || "request failed (" + response.status + ")");
  return data;
}

function checked(name) {
  return Array.from(document.querySelectorAll("input[name=" + name + "]:checked")).map((i) => i.value);
}

// Users list

async function loadUsers() {
  const data = await api("GET", "/api/v1/users");
  state.users = data.users;
  const body = $("users").tBodies[0];
  body.replaceChildren(
    ...data.users.map((user) => {
      const protocols = el("td", {}, ...user.protocols.map((p) => badge(p.toUpperCase())));
      if (user.require_tls) protocols.append(badge("TLS required", "warn"));
      const status = user.enabled ? badge("enabled", "good") : badge("disabled", "bad");
      const last = user.last_login_at
        ? el("td", {}, when(user.last_login_at), " ", badge((user.last_login_protocol || "").toUpperCase()))
        : el("td", { class: "muted" }, "never");
      const row = el(
        "tr",
        { "data-user": user.name },
        el("td", {}, el("b", {}, user.name)),
        el("td", {}, user.customer),
        protocols,
        el("td", {}, status),
        last,
        el("td", {}, el("button", { class: "plain", type: "button", "data-open": user.name, onclick: () => openUser(user.name) }, "Open"))
      );
      if (state.selected === user.name) row.classList.add("selected");
      return row;
    })
  );
  if (data.users.length === 0) {
    body.append(el("tr", {}, el("td", { colSpan: 6, class: "muted" }, "No users yet: create the first one below.")));
  }
}

// Create

function passwordMode() {
  return checked("new-password-mode")[0] || "generate";
}

async function createUser(event) {
  event.preventDefault();
  const body = {
    name: $("new-name").value.trim(),
    customer: $("new-customer").value.trim(),
    protocols: checked("new-protocol"),
    require_tls: $("new-tls").checked,
  };
  if ($("new-format").value) body.format = $("new-format").value;
  if ($("new-limit").value) body.max_upload_bytes = Number($("new-limit").value);
  if (passwordMode() === "typed") body.password = $("new-password").value;
  try {
    const data = await api("POST", "/api/v1/users", body);
    $("created-name").textContent = data.user.name;
    if (data.generated_password) {
      $("generated-password").textContent = data.generated_password;
      $("created").classList.remove("hidden");
    } else {
      $("created").classList.add("hidden");
      flash("User " + data.user.name + " created with the password you typed.", "ok");
    }
    $("create-form").reset();
    $("new-password").classList.add("hidden");
    await loadUsers();
  } catch (error) {
    flash(error.message);
  }
}

// One user

function selectedUser() {
  return state.users.find((u) => u.name === state.selected);
}

async function openUser(name) {
  state.selected = name;
  $("password-shown").classList.add("hidden");
  $("delete-confirm").classList.add("hidden");
  $("user-section").classList.remove("hidden");
  await loadUsers();
  await showUser();
  $("user-section").scrollIntoView({ block: "start" });
}

async function showUser() {
  const name = state.selected;
  if (!name) return;
  const { user } = await api("GET", "/api/v1/users/" + encodeURIComponent(name));
  $("detail-name").textContent = user.name;
  const badges = $("detail-badges");
  badges.replaceChildren(user.enabled ? badge("enabled", "good") : badge("disabled", "bad"));
  $("toggle-enabled").textContent = user.enabled ? "Disable" : "Enable";
  $("edit-customer").value = user.customer;
  document.querySelectorAll("input[name=edit-protocol]").forEach((box) => {
    box.checked = user.protocols.includes(box.value);
  });
  $("edit-tls").checked = user.require_tls;
  $("edit-format").value = user.format || "";
  $("edit-limit").value = user.max_upload_bytes || "";
  $("keys").tBodies[0].replaceChildren(
    ...user.keys.map((key) =>
      el(
        "tr",
        {},
        el("td", {}, key.fingerprint),
        el("td", {}, el("code", {}, key.public_key.slice(0, 60) + (key.public_key.length > 60 ? "…" : ""))),
        el("td", {}, el("button", { class: "plain", type: "button", onclick: () => removeKey(key.fingerprint) }, "Remove"))
      )
    )
  );
  if (user.keys.length === 0) {
    $("keys").tBodies[0].append(el("tr", {}, el("td", { colSpan: 3, class: "muted" }, "No SSH keys: the user logs in with its password.")));
  }
  const senders = user.mail_senders || [];
  state.mailSenders = senders;
  $("mail-senders").tBodies[0].replaceChildren(
    ...senders.map((pattern) =>
      el("tr", {}, el("td", {}, pattern), el("td", {}, el("button", { class: "plain", type: "button", onclick: () => setMailSenders(senders.filter((p) => p !== pattern)) }, "Remove")))
    )
  );
  if (senders.length === 0) {
    $("mail-senders").tBodies[0].append(el("tr", {}, el("td", { colSpan: 2, class: "muted" }, "No mail senders: mail to this account is refused.")));
  }
  await Promise.all([loadIncoming(name), loadOutgoing(name)]);
}

async function setMailSenders(list) {
  try {
    await api("PATCH", "/api/v1/users/" + encodeURIComponent(state.selected), { mail_senders: list });
    await showUser();
  } catch (error) {
    flash(error.message);
  }
}

async function addMailSender(event) {
  event.preventDefault();
  const pattern = $("mail-sender-text").value.trim();
  if (!pattern) return;
  await setMailSenders((state.mailSenders || []).concat([pattern]));
  $("mail-sender-text").value = "";
}

function stateBadge(fileState) {
  const kind = { done: "good", error: "bad", processing: "warn" }[fileState] || "";
  const label = { done: "processed", error: "rejected", processing: "processing", vanished: "vanished" }[fileState] || fileState;
  return badge(label, kind);
}

async function loadIncoming(name) {
  const { files } = await api("GET", "/api/v1/files?limit=50&user=" + encodeURIComponent(name));
  const body = $("incoming").tBodies[0];
  body.replaceChildren(
    ...files.map((file) => {
      let result = "";
      if (file.counts) {
        result = count(file.counts.shipments, "shipment", "shipments") + ", " + count(file.counts.status_updates, "status update", "status updates");
      }
      const cell = el("td", {}, result);
      if (file.report) {
        cell.append(el("details", {}, el("summary", {}, file.state === "error" ? "error report" : "warnings"), el("pre", {}, file.report)));
      }
      if (file.state === "error") cell.append(mailDetails(file.id));
      return el(
        "tr",
        { "data-file": file.name, "data-state": file.state },
        el("td", {}, file.id),
        el("td", {}, file.name),
        el("td", {}, stateBadge(file.state)),
        el("td", {}, when(file.received_at)),
        cell
      );
    })
  );
  if (files.length === 0) body.append(el("tr", {}, el("td", { colSpan: 5, class: "muted" }, "No files received yet.")));
}

// Where a rejected file came from by mail and its error reply, read when first opened.
function mailDetails(id) {
  const details = el("details", { class: "mail" }, el("summary", {}, "mail reply"));
  details.addEventListener("toggle", async () => {
    if (!details.open || details.dataset.loaded) return;
    details.dataset.loaded = "1";
    const { mail } = await api("GET", "/api/v1/files/" + encodeURIComponent(id));
    if (!mail) {
      details.append(el("p", { class: "muted" }, "Not received by mail."));
      return;
    }
    details.append(el("p", {}, "From " + (mail.sender || "<> (null sender)") + (mail.subject ? ", subject \u201c" + mail.subject + "\u201d" : "") + ", Message-ID " + (mail.message_id || "none") + ", " + when(mail.delivered_at)));
    if (mail.no_reply) details.append(el("p", { class: "muted" }, "No reply: " + mail.no_reply + "."));
    for (const reply of mail.replies) {
      const kind = { sent: "good", failed: "bad", capped: "warn", queued: "warn" }[reply.state] || "";
      const facts = [count(reply.attempts, "attempt", "attempts")];
      if (reply.sent_at) facts.push("sent " + when(reply.sent_at));
      if (reply.next_try_at) facts.push("next try " + when(reply.next_try_at));
      if (reply.last_error) facts.push(reply.last_error);
      details.append(el("p", {}, badge(reply.state, kind), " to " + reply.recipient + ": " + facts.join(", ")));
    }
  });
  return details;
}

async function loadOutgoing(name) {
  const { files } = await api("GET", "/api/v1/outgoing?limit=50&user=" + encodeURIComponent(name));
  const body = $("outgoing").tBodies[0];
  body.replaceChildren(
    ...files.map((file) => {
      const downloaded = file.downloads
        ? el("td", {}, file.downloads + "× · last " + when(file.last_download_at) + " (" + (file.last_download_protocol || "") + ")")
        : el("td", { class: "muted" }, "not yet");
      let moved = el("td", { class: "muted" }, "waiting in out/");
      if (file.moved_to) {
        const kind = file.moved_to === "error" ? "bad" : file.moved_to === "done" ? "good" : "";
        moved = el("td", {}, badge(file.moved_to, kind), " ", when(file.moved_at));
        if (file.attention) moved.append(" ", el("b", { class: "attention" }, "look at this"));
      }
      return el("tr", { "data-file": file.name }, el("td", {}, file.name), el("td", {}, when(file.published_at) + " by " + file.published_by), downloaded, moved);
    })
  );
  if (files.length === 0) body.append(el("tr", {}, el("td", { colSpan: 4, class: "muted" }, "Nothing published yet.")));
}

async function saveUser(event) {
  event.preventDefault();
  const body = {
    customer: $("edit-customer").value.trim(),
    protocols: checked("edit-protocol"),
    require_tls: $("edit-tls").checked,
    format: $("edit-format").value || null,
    max_upload_bytes: $("edit-limit").value ? Number($("edit-limit").value) : null,
  };
  try {
    await api("PATCH", "/api/v1/users/" + encodeURIComponent(state.selected), body);
    flash("Saved.", "ok");
    await loadUsers();
    await showUser();
  } catch (error) {
    flash(error.message);
  }
}

async function toggleEnabled() {
  const user = selectedUser();
  if (!user) return;
  const action = user.enabled ? "disable" : "enable";
  try {
    await api("POST", "/api/v1/users/" + encodeURIComponent(user.name) + "/" + action, {});
    await loadUsers();
    await showUser();
  } catch (error) {
    flash(error.message);
  }
}

async function newPassword() {
  try {
    const data = await api("POST", "/api/v1/users/" + encodeURIComponent(state.selected) + "/password", {});
    $("detail-password").textContent = data.generated_password;
    $("password-shown").classList.remove("hidden");
  } catch (error) {
    flash(error.message);
  }
}

async function deleteUser() {
  const name = state.selected;
  if ($("delete-name").value !== name) {
    flash("Type the user name exactly to delete it.");
    return;
  }
  const keep = $("delete-keep").checked ? "?keep_files=true" : "";
  try {
    await api("DELETE", "/api/v1/users/" + encodeURIComponent(name) + keep);
    state.selected = null;
    $("user-section").classList.add("hidden");
    $("delete-confirm").classList.add("hidden");
    $("delete-name").value = "";
    flash("User " + name + " deleted.", "ok");
    await loadUsers();
  } catch (error) {
    flash(error.message);
  }
}

async function addKey(event) {
  event.preventDefault();
  try {
    await api("POST", "/api/v1/users/" + encodeURIComponent(state.selected) + "/keys", { public_key: $("key-text").value.trim() });
    $("key-text").value = "";
    await showUser();
  } catch (error) {
    flash(error.message);
  }
}

async function removeKey(fingerprint) {
  try {
    await api("DELETE", "/api/v1/users/" + encodeURIComponent(state.selected) + "/keys?fingerprint=" + encodeURIComponent(fingerprint));
    await showUser();
  } catch (error) {
    flash(error.message);
  }
}

async function publish(event) {
  event.preventDefault();
  const file = $("publish-file").files[0];
  if (!file) return;
  const query = "?file=" + encodeURIComponent(file.name) + ($("publish-replace").checked ? "&replace=true" : "");
  try {
    await api("POST", "/api/v1/users/" + encodeURIComponent(state.selected) + "/out" + query, await file.arrayBuffer(), "application/octet-stream");
    $("publish-form").reset();
    flash("Published " + file.name + " to out/.", "ok");
    await loadOutgoing(state.selected);
  } catch (error) {
    flash(error.message);
  }
}

// Orders

async function searchOrders(event) {
  event.preventDefault();
  const params = new URLSearchParams();
  for (const [id, key] of [["q-customer", "customer"], ["q-shipment", "shipment_id"], ["q-postcode", "postcode"], ["q-status", "status"]]) {
    if ($(id).value.trim()) params.set(key, $(id).value.trim());
  }
  try {
    const { orders } = await api("GET", "/api/v1/orders?" + params.toString());
    $("orders").tBodies[0].replaceChildren(
      ...orders.map((o) =>
        el("tr", {}, el("td", {}, o.customer), el("td", {}, o.shipmentID), el("td", {}, [o.deliveryName, o.deliveryCity].filter(Boolean).join(", ")), el("td", {}, o.deliveryDate || ""), el("td", {}, o.colli), el("td", {}, o.lastStatus || ""))
      )
    );
    if (orders.length === 0) $("orders").tBodies[0].append(el("tr", {}, el("td", { colSpan: 6, class: "muted" }, "No orders match.")));
  } catch (error) {
    flash(error.message);
  }
}

async function signOut() {
  try {
    await api("POST", "/logout", {});
  } finally {
    window.location.assign("/login");
  }
}

async function start() {
  const session = await api("GET", "/api/v1/session");
  state.csrf = session.csrfToken;
  $("admin-name").textContent = session.admin;
  $("create-form").addEventListener("submit", createUser);
  document.querySelectorAll("input[name=new-password-mode]").forEach((radio) =>
    radio.addEventListener("change", () => $("new-password").classList.toggle("hidden", passwordMode() !== "typed"))
  );
  $("edit-form").addEventListener("submit", saveUser);
  $("toggle-enabled").addEventListener("click", toggleEnabled);
  $("new-password-button").addEventListener("click", newPassword);
  $("delete-start").addEventListener("click", () => $("delete-confirm").classList.remove("hidden"));
  $("delete-cancel").addEventListener("click", () => $("delete-confirm").classList.add("hidden"));
  $("delete-confirm-button").addEventListener("click", deleteUser);
  $("key-form").addEventListener("submit", addKey);
  $("mail-sender-form").addEventListener("submit", addMailSender);
  $("publish-form").addEventListener("submit", publish);
  $("orders-form").addEventListener("submit", searchOrders);
  $("sign-out").addEventListener("click", signOut);
  await loadUsers();
  // Files are processed in the background: keep the open user's lists current.
  state.refresh = setInterval(() => {
    const name = state.selected;
    if (name && !document.hidden) Promise.all([loadIncoming(name), loadOutgoing(name)]).catch(() => {});
  }, 3000);
}

document.addEventListener("DOMContentLoaded", () => {
  start().catch((error) => flash(error.message));
});
