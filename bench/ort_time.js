// SPDX-License-Identifier: MIT
// Times ONNX models with onnxruntime-node (CPU, one intra-op thread) for bench/compare.py.
//   node bench/ort_time.js ORT_DIR SPEC.json
// ORT_DIR holds node_modules/onnxruntime-node. SPEC: {"repetitions": R, "min_time": seconds,
// "models": [{"name": ..., "path": "m.onnx", "inputs": {"x": [1, 196, 432]}}]}.
// Prints one JSON object: {"ort_version": ..., "results": {name: {"cpu_s": median, "wall_s":
// median}}}. CPU time is the process's (user + system): ORT runs on the calling thread here.
'use strict';

const fs = require('fs');
const path = require('path');

async function main() {
  const [ortDir, specFile] = process.argv.slice(2);
  if (!ortDir || !specFile) {
    console.error('usage: node ort_time.js ORT_DIR SPEC.json');
    process.exit(2);
  }
  const ort = require(path.join(path.resolve(ortDir), 'node_modules', 'onnxruntime-node'));
  const spec = JSON.parse(fs.readFileSync(specFile, 'utf8'));
  const options = {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  };
  const results = {};
  for (const m of spec.models) {
    const session = await ort.InferenceSession.create(m.path, options);
    const feeds = {};
    for (const [name, dims] of Object.entries(m.inputs)) {
      const n = dims.reduce((a, b) => a * b, 1);
      const data = new Float32Array(n);
      let s = 12345;  // a fixed pseudo-random input in [-1, 1)
      for (let i = 0; i < n; ++i) {
        s = (s * 1103515245 + 12345) % 2147483648;
        data[i] = s / 1073741824 - 1;
      }
      feeds[name] = new ort.Tensor('float32', data, dims);
    }
    for (let i = 0; i < 3; ++i) await session.run(feeds);
    // Calibrate the calls per repetition to last min_time, like Google Benchmark.
    let calls = 1;
    for (;;) {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < calls; ++i) await session.run(feeds);
      const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
      if (elapsed >= spec.min_time || calls >= 1 << 20) break;
      calls = Math.max(calls * 2, Math.ceil((calls * spec.min_time) / Math.max(elapsed, 1e-9) * 1.2));
    }
    const cpu = [], wall = [];
    for (let r = 0; r < spec.repetitions; ++r) {
      const c0 = process.cpuUsage(), w0 = process.hrtime.bigint();
      for (let i = 0; i < calls; ++i) await session.run(feeds);
      const c = process.cpuUsage(c0);
      wall.push(Number(process.hrtime.bigint() - w0) / 1e9 / calls);
      cpu.push((c.user + c.system) / 1e6 / calls);
    }
    const median = (v) => v.slice().sort((a, b) => a - b)[Math.floor(v.length / 2)];
    results[m.name] = {cpu_s: median(cpu), wall_s: median(wall)};
    await session.release();
  }
  let version = 'unknown';
  try {
    version = require(path.join(path.resolve(ortDir), 'node_modules', 'onnxruntime-node',
                                'package.json')).version;
  } catch (e) {
    // keep 'unknown'
  }
  process.stdout.write(JSON.stringify({ort_version: version, results}) + '\n');
}

main().catch((e) => {
  console.error('ort_time.js: ' + (e && e.message ? e.message : e));
  process.exit(1);
});
