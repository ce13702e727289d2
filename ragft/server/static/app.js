// ragft web UI: chat with a strategy picker, streamed answers with clickable citations, documents, report.
// No framework, no external URLs. Model output is only ever inserted with textContent (never innerHTML).
"use strict";

const $ = (id) => document.getElementById(id);
const KEY_STORE = "ragft-api-key";

function headers(extra) {
  const h = Object.assign({}, extra || {});
  const key = $("api-key").value.trim();
  if (key) h["Authorization"] = "Bearer " + key;
  return h;
}

function status(text) { $("status").textContent = text || ""; }

async function errorText(resp) {
  try {
    const body = await resp.json();
    if (body && body.error && body.error.message) return resp.status + ": " + body.error.message;
  } catch (e) { /* not JSON */ }
  return "HTTP " + resp.status;
}

// A 401 means this server has users: say so next to the key field and put the cursor there.
function needKey(missing) {
  $("key-needed").hidden = !missing;
  $("api-key").classList.toggle("needs-key", missing);
  if (missing) $("api-key").focus();
}

async function api(path, options) {
  const opts = Object.assign({}, options || {});
  opts.headers = headers(opts.headers);
  const resp = await fetch(path, opts);
  if (resp.status === 401) needKey(true);
  else if (resp.ok) needKey(false);
  if (!resp.ok) throw new Error(await errorText(resp));
  return resp;
}

// ------------------------------------------------------------------ models
async function loadModels() {
  const select = $("model");
  const previous = select.value;
  try {
    const data = await (await api("v1/models")).json();
    select.replaceChildren();
    for (const m of data.data) {
      const opt = document.createElement("option");
      opt.value = m.id;
      opt.textContent = m.id;
      select.appendChild(opt);
    }
    select.value = [...select.options].some((o) => o.value === previous) ? previous : "rag";
    status("");
  } catch (e) {
    status("models: " + e.message);
  }
}

// ------------------------------------------------------------------ chat
function addMessage(role, text) {
  const div = document.createElement("div");
  div.className = "msg " + role;
  const span = document.createElement("span");
  span.className = "text";
  span.textContent = text;
  div.appendChild(span);
  $("messages").appendChild(div);
  div.scrollIntoView({ block: "end" });
  return div;
}

// The sentence of the passage that best supports the answer: the one containing the answer text, else the one
// sharing the most of its words. Returned as [start, end) offsets; built with text nodes only (no innerHTML).
function supportingSpan(text, answer) {
  const clean = (answer || "").replace(/\[\d+(?:\s*,\s*\d+)*\]/g, "").trim();
  if (!clean) return null;
  const lower = text.toLowerCase();
  const sentences = [];
  const re = /[^.!?\n]+[.!?]*/g;
  let m;
  while ((m = re.exec(text)) !== null) sentences.push([m.index, m.index + m[0].length]);
  const at = lower.indexOf(clean.toLowerCase());
  if (at >= 0) return sentences.find(([a, b]) => at >= a && at < b) || [at, at + clean.length];
  const words = new Set(clean.toLowerCase().match(/[\p{L}\p{N}]+/gu) || []);
  let best = null, bestScore = 0;
  for (const [a, b] of sentences) {
    const own = new Set(lower.slice(a, b).match(/[\p{L}\p{N}]+/gu) || []);
    const score = [...words].filter((w) => own.has(w)).length;
    if (score > bestScore) { best = [a, b]; bestScore = score; }
  }
  return best;
}

function showPassage(c, answer) {
  $("passage").hidden = false;
  $("passage-n").textContent = "[" + c.n + "]";
  $("passage-source").textContent = c.source + "  (" + c.chunk_id + ")";
  const pre = $("passage-text");
  pre.replaceChildren();
  const span = supportingSpan(c.text, answer);
  if (!span) { pre.textContent = c.text; return; }
  const mark = document.createElement("mark");
  mark.textContent = c.text.slice(span[0], span[1]);
  pre.append(document.createTextNode(c.text.slice(0, span[0])), mark, document.createTextNode(c.text.slice(span[1])));
}

function citeButton(c, answer) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "cite";
  b.textContent = "[" + c.n + "]";
  b.title = c.source;
  b.addEventListener("click", () => showPassage(c, answer));
  return b;
}

// Answer text with each [n] marker that has a citation turned into a button; everything else stays text.
function renderAnswer(span, text, citations) {
  span.replaceChildren();
  const byN = new Map(citations.map((c) => [c.n, c]));
  let last = 0;
  for (const m of text.matchAll(/\[(\d+)\]/g)) {
    const c = byN.get(Number(m[1]));
    if (!c) continue;
    span.appendChild(document.createTextNode(text.slice(last, m.index)));
    span.appendChild(citeButton(c, text));
    last = m.index + m[0].length;
  }
  span.appendChild(document.createTextNode(text.slice(last)));
}

function finishAnswer(div, final, model) {
  const span = div.querySelector(".text");
  const citations = final.citations || [];
  renderAnswer(span, final.answer, citations);
  if (final.abstained) div.classList.add("abstained");
  if (citations.length) {
    const list = document.createElement("ul");
    list.className = "cites";
    for (const c of citations) {
      const li = document.createElement("li");
      li.appendChild(citeButton(c, final.answer));
      li.appendChild(document.createTextNode(" " + c.source));
      list.appendChild(li);
    }
    div.appendChild(list);
  }
  const meta = document.createElement("span");
  meta.className = "meta";
  meta.textContent = model + (final.abstained ? " · abstained: the sources do not support an answer" : "");
  div.appendChild(meta);
}

async function ask(question, model) {
  addMessage("user", question);
  const div = addMessage("assistant", "");
  div.classList.add("streaming");
  const span = div.querySelector(".text");
  let final = null;
  try {
    const resp = await api("v1/chat/completions", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ model: model, stream: true, messages: [{ role: "user", content: question }] }),
    });
    const reader = resp.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        for (const line of event.split("\n")) {
          if (!line.startsWith("data: ")) continue;
          const data = line.slice(6);
          if (data === "[DONE]") continue;
          const chunk = JSON.parse(data);
          if (chunk.error) throw new Error(chunk.error.message);
          const delta = chunk.choices && chunk.choices[0] && chunk.choices[0].delta;
          if (delta && delta.content) span.textContent += delta.content;
          if (chunk.answer !== undefined) final = chunk;
        }
      }
    }
    if (!final) throw new Error("the stream ended without a final answer");
    finishAnswer(div, final, model);
  } catch (e) {
    div.className = "msg error";
    span.textContent = e.message;
  } finally {
    div.classList.remove("streaming");
    div.dataset.done = "1";
  }
}

// ------------------------------------------------------------------ documents
async function loadDocuments() {
  const list = $("doc-list");
  try {
    const data = await (await api("v1/documents")).json();
    list.replaceChildren();
    for (const d of data.data) {
      const li = document.createElement("li");
      const info = document.createElement("span");
      const name = document.createElement("span");
      name.className = "doc-title";
      name.textContent = d.title || d.source;
      const detail = document.createElement("span");
      detail.className = "doc-detail";
      detail.textContent = d.source + " · " + (d.groups.length ? "groups: " + d.groups.join(", ") : "public");
      info.append(name, detail);
      const del = document.createElement("button");
      del.type = "button";
      del.className = "delete";
      del.textContent = "Delete";
      // Two clicks: the first arms the button for a few seconds, the second deletes (no accidental erasure).
      del.addEventListener("click", async () => {
        if (!del.classList.contains("armed")) {
          del.classList.add("armed");
          del.textContent = "Confirm delete";
          setTimeout(() => { del.classList.remove("armed"); del.textContent = "Delete"; }, 5000);
          return;
        }
        try {
          await api("v1/documents/" + encodeURIComponent(d.doc_id), { method: "DELETE" });
          status("deleted " + (d.title || d.doc_id));
        } catch (e) { status("delete: " + e.message); }
        loadDocuments();
      });
      li.append(info, del);
      list.appendChild(li);
    }
    if (!data.data.length) {
      const li = document.createElement("li");
      li.textContent = "no documents yet";
      list.appendChild(li);
    }
  } catch (e) {
    status("documents: " + e.message);
  }
}

async function upload(ev) {
  ev.preventDefault();
  const form = new FormData();
  for (const f of $("upload-file").files) form.append("file", f);
  form.append("groups", $("upload-groups").value);
  if ($("upload-subject").value.trim()) form.append("subject", $("upload-subject").value.trim());
  status("uploading…");
  try {
    const r = await (await api("v1/documents", { method: "POST", body: form })).json();
    status(`added ${r.added}, updated ${r.updated}, unchanged ${r.unchanged}, chunks ${r.chunks}` +
      (r.failed.length ? `, failed: ${r.failed.map((f) => f.path + ": " + f.error).join("; ")}` : ""));
    $("upload-form").reset();
  } catch (e) {
    status("upload: " + e.message);
  }
  loadDocuments();
}

// ------------------------------------------------------------------ report
async function openReport() {
  try {
    const ticket = await (await api("v1/report/ticket", { method: "POST" })).json();
    window.open(ticket.url, "_blank", "noopener");
  } catch (e) {
    status("report: " + e.message);
  }
}

// ------------------------------------------------------------------ wiring
function init() {
  const key = $("api-key");
  key.value = sessionStorage.getItem(KEY_STORE) || "";
  key.addEventListener("change", () => {
    sessionStorage.setItem(KEY_STORE, key.value.trim());
    loadModels();
    loadDocuments();
  });
  $("ask-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const q = $("question").value.trim();
    if (!q) return;
    $("question").value = "";
    $("ask-btn").disabled = true;
    try { await ask(q, $("model").value || "rag"); } finally { $("ask-btn").disabled = false; }
  });
  $("upload-form").addEventListener("submit", upload);
  $("report-btn").addEventListener("click", openReport);
  loadModels();
  loadDocuments();
}

document.addEventListener("DOMContentLoaded", init);
