"use strict";
// The dashboard page: builds the option forms, talks JSON to /api/*, keeps its settings in the URL.

// The option forms are built from /api/options (the one schema: type, default, choices, help of every
// option, the source kinds and the parts of a source the form asks for); nothing here lists options.
let fields = [];  // [key, kind, spec] in form order; kind: select, source, model, class, checkbox, number, text
let defaults = {};  // key -> default, read from the schema
let OPTIONS = null;
const uploads = {main: null, name: null};
let lastResult = {};

const $ = (id) => document.getElementById(id);

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
}

async function api(path, payload) {
  // JSON's content type is what the server requires of every POST but uploads (no cross-origin form can send it)
  const init = payload === undefined ? {} : {method: "POST", headers: {"Content-Type": "application/json"},
                                              body: JSON.stringify(payload)};
  const response = await fetch(path, init);
  let data;
  try { data = await response.json(); } catch (e) { throw new Error(`the server answered ${response.status}`); }
  if (!response.ok) throw new Error(data.error || `the server answered ${response.status}`);
  return data;
}

function option(select, value, label) {
  const o = document.createElement("option");
  o.value = value;
  o.textContent = label || value;
  select.appendChild(o);
}

function fieldKind(key, spec) {
  if (key === "source" || key === "model") return key;
  if (key === "target") return "class";
  if (spec.type === "bool") return "checkbox";
  if (spec.choices.length) return "select";
  return spec.type === "int" || spec.type === "float" ? "number" : "text";
}

function readSchema() {
  fields = [];
  for (const [key, spec] of Object.entries(OPTIONS.options)) {
    fields.push([key, fieldKind(key, spec), spec]);
    if (key === "source") for (const [part, partSpec] of Object.entries(OPTIONS.source_parts)) fields.push([part, fieldKind(part, partSpec), partSpec]);
  }
  defaults = Object.fromEntries(fields.map(([key, , spec]) => [key, spec.default]));
}

function fieldInput(prefix, key, kind, spec, wrap) {
  let input;
  if (kind === "source" || kind === "model" || kind === "select") {
    input = document.createElement("select");
    const choices = kind === "source" ? OPTIONS.source_kinds.map((s) => [s.kind, s.label])
      : kind === "model" ? OPTIONS.models.map((m) => [m.name, m.name + (m.pretrained ? "" : " (no weights here)")])
      : spec.choices.map((c) => [c, c]);
    for (const [value, text] of choices) option(input, value, text);
  } else if (kind === "class") {
    input = document.createElement("input");
    input.type = "search";
    input.setAttribute("list", `classes-${prefix}`);
    const list = document.createElement("datalist");
    list.id = `classes-${prefix}`;
    wrap.appendChild(list);
    input.addEventListener("input", () => fillClasses(prefix));
  } else {
    input = document.createElement("input");
    input.type = kind;
    if (kind === "number") input.step = spec.type === "int" ? "1" : "any";
  }
  return input;
}

function buildConfig(prefix) {
  const box = $(`config-${prefix}`);
  for (const [key, kind, spec] of fields) {
    const wrap = document.createElement("label");
    wrap.title = spec.help;
    const input = fieldInput(prefix, key, kind, spec, wrap);
    input.id = `${prefix}-${key}`;
    if (kind === "checkbox") { wrap.appendChild(input); wrap.append(" " + spec.label); }
    else { wrap.append(spec.label + " "); wrap.appendChild(input); }
    box.appendChild(wrap);
    input.addEventListener("change", () => { syncVisibility(prefix); saveUrl(); });
  }
  writeConfig(prefix, defaults);
}

async function fillClasses(prefix) {
  const model = $(`${prefix}-model`).value;
  const q = $(`${prefix}-target`).value;
  try {
    const found = await api(`/api/classes?model=${encodeURIComponent(model)}&q=${encodeURIComponent(q)}`);
    const list = $(`classes-${prefix}`);
    list.replaceChildren();
    for (const c of found.classes) option(list, c.name, `${c.index}: ${c.name}`);
  } catch (e) { /* the search list is a convenience; errors show when recollecting */ }
}

function syncVisibility(prefix) {
  // the parts of a source (class, layer, top P %) show when the chosen kind takes them
  const kind = OPTIONS.source_kinds.find((s) => s.kind === $(`${prefix}-source`).value);
  const parts = new Set(OPTIONS.source_kinds.flatMap((s) => s.takes));
  for (const key of parts) $(`${prefix}-${key}`).parentElement.hidden = !(kind && kind.takes.includes(key));
}

function readConfig(prefix) {
  const config = {};
  for (const [key, kind] of fields) {
    const input = $(`${prefix}-${key}`);
    config[key] = kind === "checkbox" ? input.checked : kind === "number" ? Number(input.value) : input.value;
  }
  return config;
}

function writeConfig(prefix, config) {
  for (const [key, kind] of fields) {
    if (!(key in config)) continue;
    const input = $(`${prefix}-${key}`);
    if (kind === "checkbox") input.checked = config[key] === true || config[key] === "true";
    else input.value = config[key];
  }
  syncVisibility(prefix);
}

// --- the URL keeps every setting, so a link restores the view -------------------------------------
let currentTab = "recollect";

function saveUrl() {
  const params = new URLSearchParams({tab: currentTab, image: $("image").value, cimage: $("compare-image").value});
  for (const prefix of ["m", "a", "b"]) {
    const config = readConfig(prefix);
    for (const key in config) if (String(config[key]) !== String(defaults[key])) params.set(`${prefix}.${key}`, config[key]);
  }
  if ($("name-image").value) params.set("nimage", $("name-image").value);
  if ($("recall-name").value) {
    params.set("rname", $("recall-name").value);
    params.set("rflavour", $("recall-flavour").value);
    if ($("recall-cue").checked) params.set("rcue", "true");
  }
  attendSaveUrl(params);  // attend.js
  history.replaceState(null, "", "#" + params.toString());
}

function restoreUrl() {
  const params = new URLSearchParams(location.hash.slice(1));
  const configs = {m: {}, a: {}, b: {}};
  for (const [key, value] of params) {
    const [prefix, name] = key.split(".");
    if (name && configs[prefix]) configs[prefix][name] = value;
  }
  for (const prefix in configs) writeConfig(prefix, configs[prefix]);
  if (params.get("image")) $("image").value = params.get("image");
  if (params.get("cimage")) $("compare-image").value = params.get("cimage");
  if (OPTIONS.naming.available) {
    if (params.get("nimage")) $("name-image").value = params.get("nimage");
    if (params.get("rname")) $("recall-name").value = params.get("rname");
    if (params.get("rflavour")) $("recall-flavour").value = params.get("rflavour");
    $("recall-cue").checked = params.get("rcue") === "true";
  }
  attendRestoreUrl(params);
  selectTab(params.get("tab") || "recollect");
  return params.has("tab");
}

function selectTab(tab) {
  const tabs = ["recollect", "compare", "name", "attend"];
  currentTab = tabs.includes(tab) ? tab : "recollect";
  for (const name of tabs) {
    $(`panel-${name}`).hidden = name !== currentTab;
    $(`tab-${name}`).classList.toggle("active", name === currentTab);
  }
  saveUrl();
}

// --- images ---------------------------------------------------------------------------------------
function chosenImage(slot, select) {
  return uploads[slot] ? {upload: uploads[slot]} : {sample: $(select).value};
}

async function upload(input, slot, label) {
  showError("");
  const file = input.files[0];
  if (!file) return;
  if (file.size > OPTIONS.max_upload_mb * 1024 * 1024) {
    input.value = "";
    showError(`${file.name} is ${(file.size / 2 ** 20).toFixed(1)} MB; uploads are limited to ${OPTIONS.max_upload_mb} MB`);
    return;
  }
  try {
    // the custom header proves the upload comes from this page: another origin cannot send it
    const response = await fetch("/api/upload", {method: "POST", body: file, headers: {
      "Content-Type": file.type || "application/octet-stream", "X-Recollection-Upload": "1"}});
    const data = await response.json();
    if (!response.ok) throw new Error(data.error);
    uploads[slot] = data.token;
    if (label) $(label).textContent = `${file.name} (${data.width}×${data.height})`;
  } catch (e) {
    uploads[slot] = null;
    input.value = "";
    if (label) $(label).textContent = "";
    showError(`${file.name}: ${e.message}`);
  }
}

function downloadJson(anchor, payload) {
  const blob = new Blob([JSON.stringify(payload, null, 2)], {type: "application/json"});
  if (anchor.href.startsWith("blob:")) URL.revokeObjectURL(anchor.href);
  anchor.href = URL.createObjectURL(blob);
}

function stepFigure(step) {
  const figure = document.createElement("figure");
  const img = document.createElement("img");
  img.src = step.image;
  img.alt = step.name;
  const caption = document.createElement("figcaption");
  caption.textContent = step.name;
  figure.append(img, caption);
  return figure;
}

async function busy(button, work) {
  showError("");
  button.disabled = true;
  try { await work(); } catch (e) { showError(e.message); } finally { button.disabled = false; }
}

// --- the three panels -----------------------------------------------------------------------------
async function recollect() {
  const config = readConfig("m");
  const data = await api("/api/recollect", {image: chosenImage("main", "image"), config});
  $("original").src = data.original;
  $("recollection").src = data.recollection;
  $("recollection-caption").textContent = `recollection from ${data.config.source}` +
    (data.target ? ` (class ${data.target.name})` : "") + ` at ${data.start}, ${data.milliseconds} ms`;
  const rows = [["predicted", data.predicted.name], ...Object.entries(data.scores).map(([k, v]) => [k, v.toFixed(4)])];
  $("scores").replaceChildren(...rows.map(([k, v]) => {
    const tr = document.createElement("tr");
    for (const text of [k, v]) { const td = document.createElement("td"); td.textContent = text; tr.appendChild(td); }
    return tr;
  }));
  $("cascade").replaceChildren(...data.cascade.map(stepFigure));
  $("download-png").href = data.recollection;
  const {cascade, original, recollection, ...record} = data;
  downloadJson($("download-json"), record);
  $("result").hidden = false;
  lastResult.recollect = record;
}

async function compare() {
  const image = uploads.main ? {upload: uploads.main} : {sample: $("compare-image").value};
  const data = await api("/api/compare", {image, a: readConfig("a"), b: readConfig("b")});
  $("compare-a").src = data.a.recollection;
  $("compare-b").src = data.b.recollection;
  $("compare-diff").src = data.difference;
  $("compare-a-caption").textContent = `A: ${data.a.config.source}, r with original ${data.a.scores.pearson.toFixed(3)}`;
  $("compare-b-caption").textContent = `B: ${data.b.config.source}, r with original ${data.b.scores.pearson.toFixed(3)}`;
  $("compare-r").textContent = `correlation between A and B: ${data.r_shown.toFixed(4)} (views), ` +
    `${data.r_raw.toFixed(4)} (raw); largest difference ${data.difference_max.toFixed(4)}`;
  $("compare-download-png").href = data.difference;
  $("compare-download-a").href = data.a.recollection;
  $("compare-download-b").href = data.b.recollection;
  downloadJson($("compare-download-json"), {a: {config: data.a.config, scores: data.a.scores},
    b: {config: data.b.config, scores: data.b.scores}, r_raw: data.r_raw, r_shown: data.r_shown});
  $("compare-result").hidden = false;
}

async function nameIt() {
  const image = uploads.name ? {upload: uploads.name} : {sample: $("name-image").value};
  const data = await api("/api/name", {image});
  showNamingWarnings(data.warnings);
  $("name-original").src = data.image;
  $("name-scores").src = data.scores_plot;
  $("name-raster").src = data.raster;
  $("name-predicted").textContent = `named: ${data.predicted} (` +
    Object.entries(data.scores).map(([c, s]) => `${c} ${s.toFixed(1)}`).join(", ") + `; ${data.milliseconds} ms)`;
  const {scores_plot, raster, image: seen, ...record} = data;
  downloadJson($("name-download-json"), record);
  $("name-download-raster").href = data.raster;
  $("name-download-scores").href = data.scores_plot;
  $("name-result").hidden = false;
}

function showNamingWarnings(warnings) {
  $("name-warnings").textContent = (warnings || []).map((w) => `warning: ${w}`).join("\n");
  $("name-warnings").hidden = !(warnings || []).length;
}

async function teach() {
  const data = await api("/api/teach", {taught: [{sample: $("teach-face").value}, {sample: $("teach-motor").value}]});
  showNamingWarnings(data.warnings);
  $("teach-result").textContent = `one-shot test accuracy: ${(100 * data.accuracy).toFixed(1)} % of ${data.test_images} test images`;
  $("teach-result").hidden = false;
}

async function recallName() {
  const data = await api("/api/recall", {name: $("recall-name").value, flavour: $("recall-flavour").value,
                                         cue: $("recall-cue").checked});
  $("recall-picture").src = data.picture;
  $("recall-caption").textContent = `recalled DoG map | image estimate. r with ${data.name}'s mean map ` +
    `${data.r_own.toFixed(3)}, with the other's ${data.r_other.toFixed(3)}; fed back, the network names it ` +
    `${data.named} (${data.milliseconds} ms)`;
  $("recall-cascade").replaceChildren(...data.cascade.map(stepFigure));
  $("recall-download-png").href = data.picture;
  const {picture, cascade, ...record} = data;
  downloadJson($("recall-download-json"), record);
  $("recall-result").hidden = false;
}

async function start() {
  try { OPTIONS = await api("/api/options"); } catch (e) { showError(e.message); return; }
  $("max-upload").textContent = OPTIONS.max_upload_mb;
  for (const id of ["image", "compare-image"]) for (const s of OPTIONS.samples) option($(id), s);
  readSchema();
  for (const prefix of ["m", "a", "b"]) buildConfig(prefix);
  writeConfig("b", {source: "zero"});
  buildAttend();  // attend.js
  if (OPTIONS.naming.available) {
    for (const s of OPTIONS.naming.test) option($("name-image"), s);
    const [first, second] = OPTIONS.naming.classes;
    $("teach-a-name").textContent = first;
    $("teach-b-name").textContent = second || "";
    for (const s of OPTIONS.naming.train) {
      const cls = OPTIONS.naming.sample_classes[s];
      if (cls === first || cls === second) option($(cls === first ? "teach-face" : "teach-motor"), s);
    }
    if (OPTIONS.naming.classes.length !== 2) $("teach-run").disabled = true;  // the teach form holds one pair
    for (const c of OPTIONS.naming.classes) option($("recall-name"), c);
  } else {
    $("name-unavailable").hidden = false;
    for (const id of ["name-run", "teach-run", "recall-run"]) $(id).disabled = true;
  }
  for (const tab of document.querySelectorAll(".tab")) tab.addEventListener("click", () => selectTab(tab.dataset.tab));
  for (const id of ["recall-name", "recall-flavour", "recall-cue"]) $(id).addEventListener("change", saveUrl);
  for (const id of ["image", "compare-image", "name-image"]) $(id).addEventListener("change", () => {
    if (id === "image") { uploads.main = null; $("upload").value = ""; $("upload-name").textContent = ""; }
    if (id === "name-image") { uploads.name = null; $("name-upload").value = ""; }
    saveUrl();
  });
  $("upload").addEventListener("change", () => upload($("upload"), "main", "upload-name"));
  $("name-upload").addEventListener("change", () => upload($("name-upload"), "name", null));
  $("run").addEventListener("click", () => busy($("run"), recollect));
  $("compare-run").addEventListener("click", () => busy($("compare-run"), compare));
  $("name-run").addEventListener("click", () => busy($("name-run"), nameIt));
  $("teach-run").addEventListener("click", () => busy($("teach-run"), teach));
  $("recall-run").addEventListener("click", () => busy($("recall-run"), recallName));
  $("share").addEventListener("click", async () => {
    saveUrl();
    try { await navigator.clipboard.writeText(location.href); $("share").textContent = "Link copied"; }
    catch (e) { $("share").textContent = "Link in the address bar"; }
  });
  const restored = restoreUrl();
  document.body.dataset.ready = "true";
  if (restored && currentTab === "recollect") busy($("run"), recollect);
  if (restored && currentTab === "compare") busy($("compare-run"), compare);
  if (restored && currentTab === "attend") busy($("attend-run"), attendRun);
}

document.addEventListener("DOMContentLoaded", start);
