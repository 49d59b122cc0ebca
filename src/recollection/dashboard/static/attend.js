"use strict";
// The Attend tab: two images mixed into one picture, run forward once, and each image's class neuron
// recalled from that same pass, side by side with the scores. Its form is built from the "attend" schema
// of /api/options (the attention parameters, the model choice, the cued classes and the seed), with the
// helpers of app.js; its settings live in the URL under "t.".

const ATTEND_SLOTS = [0, 1];
let attendDefaults = {};

function buildAttend() {
  for (const k of ATTEND_SLOTS) for (const s of OPTIONS.samples) option($(`attend-image-${k}`), s);
  if (OPTIONS.samples.includes("digit-3") && OPTIONS.samples.includes("digit-0")) {
    $("attend-image-0").value = "digit-3";
    $("attend-image-1").value = "digit-0";
  }
  const box = $("config-attend");
  for (const [key, spec] of Object.entries(OPTIONS.attend)) {
    const kind = fieldKind(key, spec);
    const wrap = document.createElement("label");
    wrap.title = spec.help;
    const input = fieldInput("t", key, kind, spec, wrap);
    input.id = `t-${key}`;
    input.dataset.kind = kind;
    if (kind === "checkbox") { wrap.appendChild(input); wrap.append(" " + spec.label); }
    else { wrap.append(spec.label + " "); wrap.appendChild(input); }
    box.appendChild(wrap);
    input.addEventListener("change", saveUrl);
  }
  attendDefaults = Object.fromEntries(Object.entries(OPTIONS.attend).map(([key, spec]) => [key, spec.default]));
  writeAttend(attendDefaults);
  for (const k of ATTEND_SLOTS) {
    $(`attend-upload-${k}`).addEventListener("change", () => upload($(`attend-upload-${k}`), `attend${k}`, null));
    $(`attend-image-${k}`).addEventListener("change", () => { uploads[`attend${k}`] = null; $(`attend-upload-${k}`).value = ""; saveUrl(); });
  }
  $("attend-run").addEventListener("click", () => busy($("attend-run"), attendRun));
}

function readAttend() {
  const config = {};
  for (const key of Object.keys(OPTIONS.attend)) {
    const input = $(`t-${key}`);
    const kind = input.dataset.kind;
    config[key] = kind === "checkbox" ? input.checked : kind === "number" ? Number(input.value) : input.value;
  }
  return config;
}

function writeAttend(config) {
  for (const key of Object.keys(OPTIONS.attend)) {
    if (!(key in config)) continue;
    const input = $(`t-${key}`);
    if (input.dataset.kind === "checkbox") input.checked = config[key] === true || config[key] === "true";
    else input.value = config[key];
  }
}

function attendSaveUrl(params) {
  if (!$("t-mix")) return;  // before the form is built
  const config = readAttend();
  for (const key in config) if (String(config[key]) !== String(attendDefaults[key])) params.set(`t.${key}`, config[key]);
  for (const k of ATTEND_SLOTS) params.set(`timage${k}`, $(`attend-image-${k}`).value);
}

function attendRestoreUrl(params) {
  const config = {};
  for (const [key, value] of params) if (key.startsWith("t.")) config[key.slice(2)] = value;
  writeAttend(config);
  for (const k of ATTEND_SLOTS) if (params.get(`timage${k}`)) $(`attend-image-${k}`).value = params.get(`timage${k}`);
}

function attendFigure(src, caption) {
  const figure = document.createElement("figure");
  const img = document.createElement("img");
  img.src = src;
  img.alt = caption;
  const text = document.createElement("figcaption");
  text.textContent = caption;
  figure.append(img, text);
  return figure;
}

async function attendRun() {
  const images = ATTEND_SLOTS.map((k) => uploads[`attend${k}`] ? {upload: uploads[`attend${k}`]} : {sample: $(`attend-image-${k}`).value});
  const data = await api("/api/attend", {images, config: readAttend()});
  const figures = data.components.map((src, k) => attendFigure(src, `image ${k + 1} (cued: ${data.cues[k].name})`));
  figures.push(attendFigure(data.mix, `the mix (${data.config.mix}): the network sees ${data.predicted_mix}`));
  for (const cue of data.cues) {
    const from = cue.recalled_from === null ? "the zero source" : `class ${cue.recalled_from}`;
    figures.push(attendFigure(cue.recall, `recall for ${cue.image} (from ${from}): r with its own image ` +
      `${cue.r_own.toFixed(3)}, with the other ${cue.r_other.map((r) => r.toFixed(3)).join(", ")}`));
  }
  $("attend-pictures").replaceChildren(...figures);
  const s = data.scores;
  $("attend-scores").textContent = `selectivity ${s.selectivity >= 0 ? "+" : ""}${s.selectivity.toFixed(3)} ` +
    `(r own ${s.r_own.toFixed(3)} − r other ${s.r_other.toFixed(3)})` +
    (s.pointing === null ? "" : `; pointing ${s.pointing.toFixed(2)}, energy in the cued cell ${s.energy_in_mask.toFixed(2)}`) +
    `; ${data.milliseconds} ms`;
  const {mix, components, ...record} = data;
  downloadJson($("attend-download-json"), {...record, cues: record.cues.map(({recall, ...c}) => c)});
  $("attend-result").hidden = false;
}
