// Relais console: a plain ES module that talks only to the public API (/sensinact, /api/v1).
// Live values arrive over the /sensinact/ws WebSocket; numeric resources get a sparkline.

const $ = (sel) => document.querySelector(sel);
const state = {
  token: localStorage.getItem("relais.token") ?? "",
  ws: null,
  rows: new Map(),
  series: new Map(),
};
const SERIES_MAX = 60;

function headers(extra = {}) {
  return state.token ? { ...extra, authorization: `Bearer ${state.token}` } : extra;
}

async function api(path, init = {}) {
  const res = await fetch(path, { ...init, headers: headers(init.headers ?? {}) });
  const text = await res.text();
  const body = text ? JSON.parse(text) : null;
  if (!res.ok) {
    const err = new Error(body?.error?.message ?? body?.message ?? `${res.status} ${res.statusText}`);
    err.status = res.status;
    err.code = body?.error?.code ?? body?.code;
    throw err;
  }
  return body;
}

const enc = encodeURIComponent;
const resPath = (p, s, r) => `/sensinact/providers/${enc(p)}/services/${enc(s)}/resources/${enc(r)}`;

function showError(e) {
  const el = $("#error");
  if (!e) {
    el.hidden = true;
    return;
  }
  el.hidden = false;
  el.textContent = e.code ? `${e.code}: ${e.message}` : String(e.message ?? e);
}

function fmt(v) {
  if (v === null || v === undefined) return "—";
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : v.toFixed(2);
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function drawSpark(uri) {
  const row = state.rows.get(uri);
  const pts = state.series.get(uri) ?? [];
  if (!row || pts.length < 2) return;
  const c = row.spark;
  const ctx = c.getContext("2d");
  const w = (c.width = 120);
  const h = (c.height = 28);
  const lo = Math.min(...pts);
  const hi = Math.max(...pts);
  const span = hi - lo || 1;
  ctx.clearRect(0, 0, w, h);
  ctx.strokeStyle = "#2f6fdb";
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  pts.forEach((v, i) => {
    const x = (i / (SERIES_MAX - 1)) * w;
    const y = h - 2 - ((v - lo) / span) * (h - 4);
    if (i === 0) ctx.moveTo(x, y);
    else ctx.lineTo(x, y);
  });
  ctx.stroke();
}

function setValue(uri, value, timestamp) {
  const row = state.rows.get(uri);
  if (!row) return;
  row.value.textContent = fmt(value);
  row.value.dataset.value = JSON.stringify(value ?? null);
  row.time.textContent = timestamp ? new Date(timestamp).toLocaleTimeString() : "";
  row.value.classList.add("flash");
  setTimeout(() => row.value.classList.remove("flash"), 600);
  if (typeof value === "number") {
    const pts = state.series.get(uri) ?? [];
    pts.push(value);
    if (pts.length > SERIES_MAX) pts.shift();
    state.series.set(uri, pts);
    drawSpark(uri);
  }
}

function controls(p, s, d) {
  const uri = `/${p}/${s}/${d.name}`;
  const methods = d.accessMethods ?? [];
  if (d.type === "PROPERTY" && methods.includes("SET")) {
    const input = el("input", { size: 8, "aria-label": `new value for ${uri}` });
    return el(
      "form",
      {
        onsubmit: async (ev) => {
          ev.preventDefault();
          let value = input.value;
          if (["float", "double", "integer", "int", "long", "number"].includes(d.valueType))
            value = Number(value);
          else if (d.valueType === "boolean") value = value === "true";
          try {
            const env = await api(`${resPath(p, s, d.name)}/SET`, {
              method: "POST",
              headers: { "content-type": "application/json" },
              body: JSON.stringify({ parameters: [{ name: "value", type: d.valueType, value }] }),
            });
            setValue(uri, env.response.value, env.response.timestamp);
            showError(null);
          } catch (e) {
            showError(e);
          }
        },
      },
      input,
      el("button", { type: "submit" }, "SET"),
    );
  }
  if (d.type === "ACTION" && methods.includes("ACT")) {
    const params = d.parameters ?? [];
    const inputs = params.map((prm) =>
      el("input", { size: 6, placeholder: prm.name, "aria-label": prm.name }),
    );
    return el(
      "form",
      {
        onsubmit: async (ev) => {
          ev.preventDefault();
          const parameters = params.map((prm, i) => ({
            name: prm.name,
            type: prm.type,
            value: ["float", "integer", "double", "number"].includes(prm.type)
              ? Number(inputs[i].value)
              : inputs[i].value,
          }));
          try {
            const env = await api(`${resPath(p, s, d.name)}/ACT`, {
              method: "POST",
              headers: { "content-type": "application/json" },
              body: JSON.stringify({ parameters }),
            });
            setValue(uri, env.response.status, env.response.end);
            showError(null);
          } catch (e) {
            showError(e);
          }
        },
      },
      ...inputs,
      el("button", { type: "submit" }, "ACT"),
    );
  }
  return "";
}

async function loadData() {
  const box = $("#providers");
  box.replaceChildren();
  state.rows.clear();
  const providers = (await api("/sensinact/providers")).response ?? [];
  $("#data-empty").hidden = providers.length > 0;
  for (const prov of providers) {
    const table = el(
      "table",
      {},
      el(
        "thead",
        {},
        el("tr", {}, ...["resource", "kind", "value", "unit", "time", "", ""].map((h) => el("th", {}, h))),
      ),
    );
    const tbody = el("tbody");
    table.append(tbody);
    const card = el(
      "div",
      { class: "provider", "data-provider": prov.name },
      el("h3", {}, prov.friendlyName ? `${prov.friendlyName} (${prov.name})` : prov.name),
      table,
    );
    box.append(card);
    const services = (await api(`/sensinact/providers/${enc(prov.name)}/services`)).response ?? [];
    for (const svc of services) {
      if (svc.name === "admin") continue;
      const resources =
        (await api(`/sensinact/providers/${enc(prov.name)}/services/${enc(svc.name)}/resources`)).response ??
        [];
      for (const d of resources) {
        const uri = `/${prov.name}/${svc.name}/${d.name}`;
        const value = el("td", { class: "value", "data-uri": uri }, "—");
        const time = el("td", { class: "muted" });
        const spark = el("canvas", { class: "spark" });
        const unit = d.metadata?.unit?.value ?? "";
        tbody.append(
          el(
            "tr",
            {},
            el("td", {}, `${svc.name}/${d.name}`),
            el("td", {}, el("span", { class: "kind" }, d.type)),
            value,
            el("td", {}, unit),
            time,
            el("td", {}, spark),
            el("td", {}, controls(prov.name, svc.name, d)),
          ),
        );
        state.rows.set(uri, { value, time, spark });
        if ((d.accessMethods ?? []).includes("GET") && d.type !== "ACTION") {
          try {
            const env = await api(`${resPath(prov.name, svc.name, d.name)}/GET`);
            setValue(uri, env.response.value, env.response.timestamp);
          } catch {
            /* a resource without a value yet */
          }
        }
      }
    }
  }
  subscribeAll();
}

function subscribeAll() {
  if (state.ws) state.ws.close();
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  // browsers cannot set Authorization on a WebSocket: the token travels as the sub-protocol bearer.<token>
  const url = `${proto}//${location.host}/sensinact/ws`;
  const ws = state.token ? new WebSocket(url, [`bearer.${state.token}`]) : new WebSocket(url);
  state.ws = ws;
  let n = 0;
  ws.onopen = () => {
    $("#live").textContent = "live";
    $("#live").className = "badge on";
    for (const uri of state.rows.keys())
      ws.send(JSON.stringify({ requestId: `sub-${n++}`, method: "SUBSCRIBE", uri, parameters: [] }));
  };
  ws.onclose = () => {
    $("#live").textContent = "offline";
    $("#live").className = "badge off";
  };
  ws.onmessage = (ev) => {
    const msg = JSON.parse(ev.data);
    if (msg.type === "SUBSCRIPTION_NOTIFICATION" && !msg.event) setValue(msg.uri, msg.value, msg.timestamp);
  };
}

function counts(target, rows) {
  const dl = $(target);
  dl.replaceChildren();
  for (const [k, v] of Object.entries(rows ?? {})) dl.append(el("dt", {}, k), el("dd", {}, v));
}

const items = (body) => (Array.isArray(body) ? body : (body?.items ?? body?.rows ?? []));

async function loadFederation() {
  try {
    const [outbox, inbox, consumers] = await Promise.all([
      api("/api/v1/outbox?limit=20"),
      api("/api/v1/inbox?limit=20"),
      api("/api/v1/consumers"),
    ]);
    $("#federation").hidden = false;
    counts("#outbox-counts", outbox?.counts);
    counts("#inbox-counts", inbox?.counts);
    const ct = $("#consumers tbody");
    ct.replaceChildren(
      ...items(consumers).map((c) =>
        el(
          "tr",
          {},
          el("td", {}, c.id),
          el("td", {}, c.selector),
          el("td", {}, c.consumerAppJid ?? c.consumerAppId ?? ""),
          el("td", {}, c.enabled ? "yes" : "no"),
        ),
      ),
    );
    const ot = $("#outbox tbody");
    ot.replaceChildren(
      ...items(outbox).map((m) =>
        el(
          "tr",
          {},
          el("td", {}, m.messageId),
          el("td", {}, m.toJid),
          el("td", {}, m.recordCount),
          el("td", {}, m.status),
          el("td", {}, m.attempts),
          el("td", {}, m.lastError ?? ""),
        ),
      ),
    );
  } catch (e) {
    $("#federation").hidden = true; // not an admin: the federation panel is not for this caller
    if (e.status !== 401 && e.status !== 403) showError(e);
  }
}

async function refresh() {
  $("#whoami").textContent = state.token ? "with token" : "anonymous";
  try {
    await loadData();
    showError(null);
  } catch (e) {
    showError(e);
  }
  await loadFederation();
}

$("#token").value = state.token;
$("#auth").addEventListener("submit", (ev) => {
  ev.preventDefault();
  state.token = $("#token").value.trim();
  localStorage.setItem("relais.token", state.token);
  void refresh();
});
setInterval(() => {
  if (!$("#federation").hidden) void loadFederation();
}, 3000);
void refresh();
