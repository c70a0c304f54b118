"""The proof page's inline stylesheet and script (pipeline.audio.proof embeds them verbatim).

They are constants, not files, so proof.html stays one self-contained document that works
from file:// with no network; the page's Content-Security-Policy allows exactly these two
blocks by their sha256, so nothing else inline (say, a <script> that slipped through from
book text) could run even if escaping ever failed.

The script never builds HTML from book text: it reads the book from the JSON block,
finds the server-rendered elements by id and only sets textContent, classes and `hidden`.
"""

from __future__ import annotations

CSS = """
:root { --bar: 3.5rem; --fg: #1d232a; --muted: #5f6b76; --line: #dde2e7; --bg: #f4f5f7;
  --accent: #1f6feb; --cur: #fff1b8; --cur-edge: #d99a00; --flag: #c2410c; --flag-bg: #fff4ee;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  color: var(--fg); background: var(--bg); }
* { box-sizing: border-box; }
body { margin: 0; line-height: 1.5; }
[hidden] { display: none !important; }
.book { display: flex; gap: 1.5rem; align-items: center; max-width: 1100px; margin: 0 auto;
  padding: 1.5rem 1.5rem 1rem; }
.cover { width: 112px; height: auto; border-radius: 4px; box-shadow: 0 2px 10px rgba(0, 0, 0, .22); }
.kind { margin: 0; font-size: .75rem; letter-spacing: .08em; text-transform: uppercase; color: var(--muted); }
h1 { margin: .1rem 0 0; font-size: 1.8rem; line-height: 1.2; }
.authors { margin: .2rem 0 0; color: var(--muted); }
.hint { margin: .4rem 0 0; font-size: .85rem; color: var(--muted); }
.toolbar { position: sticky; top: 0; z-index: 3; height: var(--bar); display: flex; align-items: center; gap: .9rem;
  padding: 0 max(1.5rem, calc((100% - 1100px) / 2 + 1.5rem)); background: #fff; border-bottom: 1px solid var(--line);
  box-shadow: 0 1px 4px rgba(0, 0, 0, .05); white-space: nowrap; }
#search { flex: 1 1 auto; min-width: 8rem; max-width: 30rem; font: inherit; padding: .35rem .65rem;
  border: 1px solid #b8c0c8; border-radius: 6px; }
.count { color: var(--muted); font-size: .9rem; }
.toolbar label { font-size: .9rem; color: var(--muted); cursor: pointer; }
.spacer { flex: 1 1 0; }
button { font: inherit; font-size: .95rem; padding: .35rem .85rem; border: 1px solid #b8c0c8; border-radius: 6px;
  background: #fff; color: var(--fg); cursor: pointer; }
button:hover { background: #f0f3f6; }
button.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
button.primary:hover { background: #1a5fcc; }
main { max-width: 1100px; margin: 0 auto; padding: 1rem 1.5rem 4rem; }
.chapter { background: #fff; border: 1px solid var(--line); border-radius: 8px; margin: 0 0 1.5rem; }
.chapter-head { position: sticky; top: var(--bar); z-index: 2; display: flex; flex-wrap: wrap; gap: .5rem 1rem;
  align-items: center; padding: .75rem 1rem; background: #fff; border-bottom: 1px solid var(--line);
  border-radius: 8px 8px 0 0; }
.chapter-head h2 { margin: 0; font-size: 1.15rem; flex: 1 1 16rem; }
.duration { font-size: .85rem; font-weight: normal; color: var(--muted); margin-left: .4rem; }
.chapter-head audio { flex: 1 1 26rem; height: 2.25rem; }
.segments { list-style: none; margin: 0; padding: 0; }
.segment { display: grid; grid-template-columns: 1fr auto; gap: .35rem .75rem; padding: .55rem 1rem .55rem .75rem;
  border-top: 1px solid #eef1f4; border-left: 4px solid transparent; scroll-margin: calc(var(--bar) + 5rem) 0 2rem; }
.segment:first-child { border-top: 0; }
.seg-main { display: grid; grid-template-columns: 6.5rem 1fr; gap: 1rem; cursor: pointer; border-radius: 4px; }
.seg-main:hover .seg-text { color: #0b3d91; }
.seg-main:focus-visible { outline: 2px solid var(--accent); outline-offset: 3px; }
.seg-meta { display: flex; flex-direction: column; align-items: flex-start; font-size: .8rem; color: var(--muted);
  font-variant-numeric: tabular-nums; }
.seg-time { font-size: .9rem; font-weight: 600; color: var(--fg); }
.seg-speaker { margin-top: .15rem; padding: 0 .45rem; border-radius: 999px; background: #e8eefc; color: #1e3a8a;
  font-size: .75rem; max-width: 6.5rem; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.seg-text { white-space: pre-line; overflow-wrap: anywhere; }
.segment.flagged { background: var(--flag-bg); border-left-color: var(--flag); }
.segment.current { background: var(--cur); border-left-color: var(--cur-edge); }
.seg-flag { font-size: .85rem; color: var(--muted); cursor: pointer; user-select: none; white-space: nowrap;
  padding-top: .1rem; }
.flagged .seg-flag { color: var(--flag); font-weight: 600; }
.flag-fields { grid-column: 1 / -1; display: grid; grid-template-columns: 1fr 2fr; gap: .5rem; padding-left: 7.5rem; }
.flag-fields input, .flag-fields textarea { width: 100%; font: inherit; font-size: .9rem; padding: .3rem .5rem;
  border: 1px solid #d9b3a0; border-radius: 4px; background: #fff; resize: vertical; }
dialog { width: min(46rem, 92vw); padding: 1.25rem 1.5rem; border: 1px solid var(--line); border-radius: 10px; }
dialog::backdrop { background: rgba(20, 25, 30, .4); }
dialog h2 { margin: 0 0 .25rem; font-size: 1.15rem; }
dialog p { margin: 0 0 .75rem; color: var(--muted); font-size: .9rem; }
#retake-export { width: 100%; height: 16rem; font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace;
  font-size: .85rem; padding: .5rem; border: 1px solid var(--line); border-radius: 6px; }
.dialog-actions { display: flex; gap: 1rem; align-items: center; justify-content: flex-end; margin-top: .75rem; }
.dialog-actions a { color: var(--accent); }
"""

JS = r"""
(() => {
  "use strict";
  // currentTime is reported in whole microseconds, so a seek to start_s may read just below it.
  const EPS = 0.001;
  const $ = (id) => document.getElementById(id);
  const data = JSON.parse($("proof-data").textContent);
  const storageKey = "audiobook-proof:" + data.title;
  const audios = new Map();
  const segs = [];
  let current = null;
  let active = null;
  let downloadUrl = null;
  const flags = loadFlags();

  function loadFlags() {
    try {
      const v = JSON.parse(localStorage.getItem(storageKey) || "{}");
      return v && typeof v === "object" && !Array.isArray(v) ? v : {};
    } catch (e) {
      return {};
    }
  }
  function saveFlags() {
    try {
      localStorage.setItem(storageKey, JSON.stringify(flags));
    } catch (e) {
      // storage disabled or full: the flags last as long as the page is open
    }
  }
  // A stored flag counts only while its segment still has the text it was flagged on:
  // after a re-plan the same CHAPTER:SEGMENT may be a different sentence.
  function flagOf(seg) {
    const f = Object.prototype.hasOwnProperty.call(flags, seg.key) ? flags[seg.key] : null;
    return f && typeof f === "object" && f.orig === seg.text ? f : null;
  }
  const oneLine = (s) => String(s || "").replace(/\s+/g, " ").trim();
  const editing = () => {
    const a = document.activeElement;
    return !!a && (a.tagName === "INPUT" || a.tagName === "TEXTAREA");
  };

  function setCurrent(seg) {
    if (seg === current) return;
    if (current) current.el.classList.remove("current");
    current = seg;
    if (!seg) return;
    seg.el.classList.add("current");
    if ($("follow").checked && !seg.el.hidden && !editing()) seg.el.scrollIntoView({ block: "nearest" });
  }
  function highlight(audio, list) {
    const t = audio.currentTime + EPS;
    setCurrent(list.find((s) => s.start <= t && t < s.end) || null);
  }
  function pauseOthers(audio) {
    for (const a of audios.values()) if (a !== audio && !a.paused) a.pause();
  }
  function playFrom(seg) {
    const audio = audios.get(seg.chapterIndex);
    active = audio;
    pauseOthers(audio);
    audio.currentTime = seg.start;
    setCurrent(seg);
    const p = audio.play();
    if (p) p.catch(() => {}); // refused or no file: the position is still set
  }
  function wireAudio(audio, list) {
    audio.addEventListener("play", () => {
      active = audio;
      pauseOthers(audio);
      highlight(audio, list);
    });
    audio.addEventListener("seeking", () => { active = audio; });
    for (const ev of ["timeupdate", "seeked"]) {
      audio.addEventListener(ev, () => { if (audio === active) highlight(audio, list); });
    }
  }

  function showFlag(seg, on) {
    seg.el.classList.toggle("flagged", on);
    seg.el.querySelector(".flag-fields").hidden = !on;
  }
  function updateCounts() {
    const n = segs.filter((s) => flagOf(s)).length;
    $("flag-count").textContent = n + " flagged";
  }
  function wireSegment(seg) {
    const main = seg.el.querySelector(".seg-main");
    const box = seg.el.querySelector(".flag-toggle");
    const note = seg.el.querySelector(".flag-note");
    const text = seg.el.querySelector(".flag-text");
    main.addEventListener("click", () => {
      const sel = window.getSelection();
      if (sel && !sel.isCollapsed && main.contains(sel.anchorNode)) return; // selecting text to copy, not a seek
      playFrom(seg);
    });
    main.addEventListener("keydown", (e) => {
      if (e.key === "Enter" || e.key === " ") { e.preventDefault(); playFrom(seg); }
    });
    const f = flagOf(seg);
    box.checked = !!f;
    note.value = f ? String(f.note || "") : "";
    text.value = f ? String(f.text || "") : "";
    showFlag(seg, !!f);
    box.addEventListener("change", () => {
      if (box.checked) flags[seg.key] = { orig: seg.text, note: note.value, text: text.value };
      else delete flags[seg.key];
      showFlag(seg, box.checked);
      saveFlags();
      updateCounts();
    });
    const edit = (field, value) => {
      const fl = flagOf(seg);
      if (fl) { fl[field] = value; saveFlags(); }
    };
    note.addEventListener("input", () => edit("note", note.value));
    text.addEventListener("input", () => edit("text", text.value));
  }

  function applySearch() {
    const q = $("search").value.toLowerCase();
    let shown = 0;
    for (const s of segs) {
      const hit = !q || s.lower.includes(q);
      s.el.hidden = !hit;
      if (hit) shown += 1;
    }
    $("search-count").textContent = q ? shown + " of " + segs.length + " segments match" : segs.length + " segments";
  }

  function retakeText() {
    const lines = ["# retakes for " + oneLine(data.title) + ": audiobook build RECIPE --retake retakes.txt", ""];
    for (const seg of segs) {
      const f = flagOf(seg);
      if (!f) continue;
      const note = oneLine(f.note);
      const text = oneLine(f.text);
      if (note) lines.push("# " + note);
      lines.push(seg.chapter + ":" + seg.index + (text ? " = " + text : ""));
      lines.push("");
    }
    return lines.map((l) => l + "\n").join("");
  }
  function exportRetakes() {
    const text = retakeText();
    const n = segs.filter((s) => flagOf(s)).length;
    const link = $("retake-download");
    $("retake-export").value = text;
    $("export-status").textContent = n
      ? n + (n === 1 ? " segment" : " segments") + " to read again. Save retakes.txt beside the recipe."
      : "No segment is flagged yet: tick Flag on the segments to read again.";
    if (downloadUrl) URL.revokeObjectURL(downloadUrl);
    downloadUrl = URL.createObjectURL(new Blob([text], { type: "text/plain;charset=utf-8" }));
    link.href = downloadUrl;
    link.hidden = !n;
    const dialog = $("export-dialog");
    if (!dialog.open) dialog.showModal();
    $("retake-export").select();
    if (n) link.click();
  }

  for (const ch of data.chapters) {
    const list = [];
    for (const s of ch.segments) {
      const el = $("seg-" + ch.index + "-" + s.index);
      const seg = { chapter: s.chapter, index: s.index, start: s.start, end: s.end, text: s.text,
        lower: s.text.toLowerCase(), key: s.chapter + ":" + s.index, chapterIndex: ch.index, el };
      list.push(seg);
      segs.push(seg);
      wireSegment(seg);
    }
    const audio = $("audio-" + ch.index);
    audios.set(ch.index, audio);
    wireAudio(audio, list);
  }
  $("search").addEventListener("input", applySearch);
  $("export").addEventListener("click", exportRetakes);
  $("export-close").addEventListener("click", () => $("export-dialog").close());
  applySearch();
  updateCounts();
  document.body.dataset.ready = "1";
})();
"""
