#!/usr/bin/env node
/**
 * Checks every `docs/<file>.md §X` citation in the repository (plain Node, no dependencies).
 *
 *   node docs/check-citations.mjs            # scans src/ plugins/ test/ bench/ README.md
 *   node docs/check-citations.mjs --docs     # also scans docs/*.md themselves
 *   node docs/check-citations.mjs --quiet    # print only problems and the summary
 *
 * Exit status 0 when every citation resolves, 1 otherwise (each failure printed as file:line).
 *
 * What a citation is: `docs/<name>.md` followed (optionally) by one or more section references
 * on the same line, e.g.
 *
 *   docs/methods.md §1.b.3              one item
 *   docs/methods.md §5.4–5.5            a range (en dash, or a hyphen directly before a digit);
 *   docs/methods.md §1.b.5–7            a short range end replaces the last components: 1.b.5..1.b.7
 *   docs/methods.md §3.b and §9.2.1     a chain: later `§Y` joined by `,` `;` `/` `&` `and` `or`,
 *   docs/methods.md §1.e RLx2, §2.e     optionally after one label word ("RLx2, §2.e")
 *   docs/methods.md §1.c "Some title"   a quoted text after an id must occur in that section
 *
 * A bare `docs/<name>.md` (no `§`) only requires the file to exist.
 *
 * How a document defines ids (the convention of docs/*.md):
 *
 *   - a Markdown heading whose text starts with the id: `## 5. Baselines`, `### 1.b Algorithm`,
 *     `#### 9.2.1 ...` (an optional `§` and a trailing `.` are allowed);
 *   - a numbered item: a line or list item that starts with the bold id, `- **1.b.9** ...` or
 *     `- **7.3 Title.** ...` (the bold text starts with the id, followed by a space or `**`).
 *
 * Ids are dot-separated components, each a number or a single lower-case letter (`1.b.0.3`).
 * The checker also validates the documents it resolves against: an id must not be defined twice,
 * and every id must extend the id of the heading it sits under (`1.b.9` under `### 1.b`), so a
 * cited item is always in the right subsection. Fenced code blocks are ignored.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = new Set(process.argv.slice(2));
const QUIET = args.has('--quiet');
const SCAN = ['src', 'plugins', 'test', 'bench', 'README.md', ...(args.has('--docs') ? ['docs'] : [])];
const SKIP_DIRS = new Set(['node_modules', 'dist', 'build', '.git', '__pycache__', '.pytest_cache']);
const TEXT_EXT = /\.(?:[cm]?[jt]sx?|md|json|ya?ml|py|cc|cpp|c|h|hpp|gyp|txt|toml|sh)$/i;
const MAX_BYTES = 4 * 1024 * 1024;

const ID = String.raw`\d+(?:\.(?:\d+|[a-z]))*`;
const CITE = /docs\/([A-Za-z0-9_-]+\.md)/g;
const FIRST = new RegExp(String.raw`^\s*§\s*(${ID})`);
const RANGE = new RegExp(String.raw`^(?:\s*[–—]\s*|-(?=\d))(${ID})`);
const GAP = new RegExp(String.raw`^\s*(?:[A-Za-z][\w.+-]*\s*)?(?:,|;|\/|&|\band\b|\bor\b)\s*§\s*(${ID})`);
const QUOTED = /^\s*["“]([^"”]+)["”]/;
const HEADING = new RegExp(String.raw`^(#{1,6})\s+(?:§\s*)?(${ID})\.?(?=\s|$)`);
const ANCHOR = new RegExp(String.raw`^\s*(?:[-*+]\s+|\d+[.)]\s+)?\*\*(?:§\s*)?(${ID})(?=\s|\*\*)`);

/** Every scanned file, repository-relative. */
function listFiles() {
  const out = [];
  const walk = (abs) => {
    let st;
    try {
      st = statSync(abs);
    } catch {
      return;
    }
    if (st.isDirectory()) {
      const name = abs.split(sep).pop();
      if (SKIP_DIRS.has(name) || name.startsWith('.venv')) return;
      for (const e of readdirSync(abs).sort()) walk(join(abs, e));
    } else if (st.isFile() && TEXT_EXT.test(abs) && st.size <= MAX_BYTES) {
      out.push(abs);
    }
  };
  for (const entry of SCAN) walk(join(ROOT, entry));
  // in docs/ only the Markdown documents cite (this script's own examples are not citations)
  return out.filter((f) => !relative(ROOT, f).startsWith(`docs${sep}`) || f.endsWith('.md'));
}

/** Parses the `§…` references right after a citation (the rest of its line). */
function parseRefs(rest) {
  const refs = [];
  let m = FIRST.exec(rest);
  if (!m) return refs;
  let pos = m[0].length;
  for (;;) {
    const ref = { start: m[1], end: null, quoted: null };
    const tail = rest.slice(pos);
    const r = RANGE.exec(tail);
    if (r) {
      ref.end = r[1];
      pos += r[0].length;
    }
    const q = QUOTED.exec(rest.slice(pos));
    if (q) {
      ref.quoted = q[1];
      pos += q[0].length;
    }
    refs.push(ref);
    m = GAP.exec(rest.slice(pos));
    if (!m) break;
    pos += m[0].length;
  }
  return refs;
}

/** The ids a reference requires: its start, its end and, for numeric ranges, everything between. */
function expand(ref) {
  if (!ref.end) return [ref.start];
  const s = ref.start.split('.');
  const e = ref.end.split('.');
  const end = e.length >= s.length ? e : [...s.slice(0, s.length - e.length), ...e];
  const ids = [s.join('.'), end.join('.')];
  const a = Number(s[s.length - 1]);
  const b = Number(end[end.length - 1]);
  const samePrefix = s.length === end.length && s.slice(0, -1).join('.') === end.slice(0, -1).join('.');
  if (samePrefix && Number.isInteger(a) && Number.isInteger(b)) {
    if (b < a) return { error: `range ${ref.start}–${ref.end} runs backwards` };
    for (let k = a + 1; k < b; k++) ids.push([...s.slice(0, -1), String(k)].join('.'));
  }
  return ids;
}

const docCache = new Map();

/**
 * Loads a document's ids: Map id → { line, kind, level, text } where `text` is the section
 * body (a heading: until the next heading of the same or a higher level; an item: until the next
 * item or heading), plus the document's own problems.
 */
function loadDoc(name) {
  if (docCache.has(name)) return docCache.get(name);
  const abs = join(ROOT, 'docs', name);
  if (!existsSync(abs)) {
    docCache.set(name, null);
    return null;
  }
  const lines = readFileSync(abs, 'utf8').split(/\r?\n/);
  const ids = new Map();
  const problems = [];
  const marks = [];
  const stack = []; // open headings: { level, id }
  let fence = null;
  lines.forEach((line, i) => {
    const f = /^\s*(```+|~~~+)/.exec(line);
    if (f) {
      if (fence === null) fence = f[1][0];
      else if (f[1][0] === fence) fence = null;
      return;
    }
    if (fence !== null) return;
    const h = HEADING.exec(line);
    const hashes = /^(#{1,6})\s/.exec(line);
    if (hashes) {
      const level = hashes[1].length;
      while (stack.length && stack[stack.length - 1].level >= level) stack.pop();
      if (h) {
        const id = h[2];
        const parent = stack.length ? stack[stack.length - 1].id : null;
        if (parent && !id.startsWith(`${parent}.`)) problems.push(`docs/${name}:${i + 1}: heading ${id} is not inside its parent section ${parent}`);
        stack.push({ level, id });
        marks.push({ id, line: i, kind: 'heading', level });
      } else {
        stack.push({ level, id: stack.length ? stack[stack.length - 1].id : null });
        marks.push({ id: null, line: i, kind: 'heading', level });
      }
      return;
    }
    const a = ANCHOR.exec(line);
    if (a) {
      const id = a[1];
      const parent = stack.length ? stack[stack.length - 1].id : null;
      if (!parent || !id.startsWith(`${parent}.`)) problems.push(`docs/${name}:${i + 1}: item ${id} is not inside section ${parent ?? '(none)'}`);
      marks.push({ id, line: i, kind: 'item', level: 7 });
    }
  });
  marks.forEach((mk, k) => {
    let stop = lines.length;
    for (let j = k + 1; j < marks.length; j++) {
      const next = marks[j];
      if (mk.kind === 'heading' ? next.kind === 'heading' && next.level <= mk.level : true) {
        stop = next.line;
        break;
      }
    }
    if (!mk.id) return;
    if (ids.has(mk.id)) {
      problems.push(`docs/${name}:${mk.line + 1}: id ${mk.id} already defined at line ${ids.get(mk.id).line}`);
      return;
    }
    ids.set(mk.id, { line: mk.line + 1, kind: mk.kind, text: lines.slice(mk.line, stop).join('\n') });
  });
  const doc = { ids, problems };
  docCache.set(name, doc);
  return doc;
}

const results = [];
for (const abs of listFiles()) {
  const text = readFileSync(abs, 'utf8');
  if (text.includes('\u0000')) continue;
  const file = relative(ROOT, abs).split(sep).join('/');
  text.split(/\r?\n/).forEach((line, i) => {
    for (const m of line.matchAll(CITE)) {
      const name = m[1];
      const where = `${file}:${i + 1}`;
      const refs = parseRefs(line.slice(m.index + m[0].length));
      const label = `docs/${name}${refs.length ? ` ${refs.map((r) => `§${r.start}${r.end ? `–${r.end}` : ''}${r.quoted ? ` "${r.quoted}"` : ''}`).join(', ')}` : ''}`;
      const doc = loadDoc(name);
      const errors = [];
      if (!doc) errors.push(`docs/${name} does not exist`);
      else {
        for (const ref of refs) {
          const ids = expand(ref);
          if (!Array.isArray(ids)) {
            errors.push(ids.error);
            continue;
          }
          for (const id of ids) if (!doc.ids.has(id)) errors.push(`§${id} not found in docs/${name}`);
          if (ref.quoted) {
            const target = doc.ids.get(ref.start);
            if (target && !target.text.includes(ref.quoted)) errors.push(`"${ref.quoted}" not found in §${ref.start} of docs/${name}`);
          }
        }
      }
      results.push({ where, label, errors });
    }
  });
}

let failures = 0;
for (const r of results) {
  if (r.errors.length) {
    failures++;
    console.log(`FAIL ${r.where}: ${r.label} — ${r.errors.join('; ')}`);
  } else if (!QUIET) {
    console.log(`ok   ${r.where}: ${r.label}`);
  }
}
const docProblems = [...docCache.values()].filter(Boolean).flatMap((d) => d.problems);
for (const p of docProblems) console.log(`FAIL ${p}`);
const docs = [...docCache.keys()].sort().join(', ') || '(none)';
console.log(`\n${results.length} citation(s) in ${new Set(results.map((r) => r.where.replace(/:\d+$/, ''))).size} file(s) of ${SCAN.join(' ')}; documents: ${docs}; ${failures} failing citation(s), ${docProblems.length} document problem(s)`);
process.exit(failures || docProblems.length ? 1 : 0);
