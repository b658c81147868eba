// The yardstick of tests/bench/sync_bench.py, on this machine, in the same run: PouchDB (on LevelDB, as in Node)
// syncing with a CouchDB-style server (express-pouchdb on LevelDB, its own process) over loopback HTTP.
//
//   node both_ways.js [--docs 1000] [--changes 100] [--repeats 5] [--quiet 20]
//
// Prints one JSON line: the median of a sync with nothing to do (the quiet round), and of a sync of `changes` documents
// edited at each end (both ways), with the documents each way written, as sync_bench.py times its own rounds.
'use strict';
const { spawn } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

function option(name, fallback) {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? Number(process.argv[at + 1]) : fallback;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function serve(dir) {
  const PouchDB = require('pouchdb');
  const app = require('express-pouchdb')(PouchDB.defaults({ prefix: dir + path.sep }),
    { mode: 'minimumForPouchDB', inMemoryConfig: true, logPath: path.join(dir, 'log.txt') });
  const server = app.listen(0, '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`));
}

// A document shaped as the benchmark's enterprise row.
function enterprise(i) {
  return {
    _id: `ent-${String(i).padStart(6, '0')}`, node_id: 'sc-bench', name: `启东基准${i}号建设工程有限公司上海分公司`,
    name_pinyin: `qidongjizhun${i}haojianshegongchengyouxiangongsi qdjz${i}hjsgcyxgs`, credit_code: `91310115${String(i).padStart(8, '0')}XY`,
    region_code: '310115', address: `上海浦东新区${i % 999 + 1}号`, industry: 'construction', is_key: i % 13 === 0,
    parent_company: '启东基准集团有限公司', risk_level: ['low', 'medium', 'high'][i % 3], contact_name: '张建国',
    contact_phone: `138${String(i).padStart(8, '0')}`, notes: '', version: Date.now(),
  };
}

async function edit(db, ids, change) {
  const docs = (await db.allDocs({ keys: ids, include_docs: true })).rows.map((row) => ({ ...row.doc, ...change }));
  const written = await db.bulkDocs(docs);
  if (written.some((r) => r.error)) throw new Error(`edit failed: ${JSON.stringify(written.find((r) => r.error))}`);
}

async function main() {
  const docs = option('docs', 1000);
  const changes = option('changes', 100);
  const repeats = option('repeats', 5);
  const quiet = option('quiet', 20);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lianfu-pouchdb-'));
  fs.mkdirSync(path.join(dir, 'server'));
  const child = spawn(process.execPath, [__filename, 'serve', path.join(dir, 'server')], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const port = await new Promise((resolve, reject) => {
      child.stdout.once('data', (data) => resolve(Number(String(data).trim())));
      child.once('exit', (code) => reject(new Error(`server exited ${code}`)));
    });
    const PouchDB = require('pouchdb');
    const remote = new PouchDB(`http://127.0.0.1:${port}/hub`);
    const local = new PouchDB(path.join(dir, 'spoke'));
    for (let start = 0; start < docs; start += 500) {
      await remote.bulkDocs(Array.from({ length: Math.min(500, docs - start) }, (_, k) => enterprise(start + k)));
    }
    await local.replicate.from(remote);
    for (let k = 0; k < 3; k += 1) await local.sync(remote);
    const quietMs = [];
    for (let k = 0; k < quiet; k += 1) {
      const started = process.hrtime.bigint();
      const result = await local.sync(remote);
      quietMs.push(Number(process.hrtime.bigint() - started) / 1e6);
      if (result.push.docs_written || result.pull.docs_written) throw new Error('a quiet sync wrote documents');
    }
    const ids = (await local.allDocs()).rows.map((row) => row.id);
    const bothMs = [];
    const written = [];
    for (let rep = 0; rep < repeats; rep += 1) {
      // Each repetition edits documents no earlier one touched: plain edits, never conflicts.
      const picked = ids.slice(2 * changes * rep, 2 * changes * (rep + 1));
      await edit(local, picked.slice(0, changes), { notes: `spoke edit ${rep}`, contact_phone: `1370000${String(rep).padStart(4, '0')}` });
      await edit(remote, picked.slice(changes), { risk_level: ['low', 'medium', 'high'][rep % 3] });
      const started = process.hrtime.bigint();
      const result = await local.sync(remote);
      bothMs.push(Number(process.hrtime.bigint() - started) / 1e6);
      written.push([result.push.docs_written, result.pull.docs_written]);
    }
    process.stdout.write(`${JSON.stringify({
      quiet_ms: median(quietMs), quiet_min_ms: Math.min(...quietMs), both_ways_ms: median(bothMs), both_ways_all_ms: bothMs,
      written_push_pull: written, docs, changes,
    })}\n`);
  } finally {
    child.kill();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === 'serve') serve(process.argv[3]);
else main().catch((error) => { console.error(error); process.exit(1); });
