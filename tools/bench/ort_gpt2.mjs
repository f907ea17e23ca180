// The ONNX Runtime peer of the GPT-2 rows (npm onnxruntime-node, CPU):
// latency of one uncached forward pass over T tokens.
//
//   node ort_gpt2.mjs NODE_DIR MODEL.onnx THREADS REPEATS IDS [LOGITS_OUT]
//
// For each T (the lengths are given as prefixes of IDS, see below) one
// untimed warm-up run, then REPEATS timed runs; prints one JSON line with the
// median milliseconds per T.  IDS is "T1,T2,...:id,id,..." - the lengths,
// a colon, and the ids whose prefixes are fed.  With LOGITS_OUT, the logits
// of the longest run are written there as little-endian float32 [T, vocab].
import { writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

const [nodeDir, modelPath, threadsArg, repeatsArg, spec, logitsOut] = process.argv.slice(2);
const threads = Number(threadsArg), repeats = Number(repeatsArg);
const [lensPart, idsPart] = (spec || "").split(":");
const lengths = (lensPart || "").split(",").map(Number);
const ids = (idsPart || "").split(",").map(Number);
if (!nodeDir || !modelPath || !(threads >= 1) || !(repeats >= 1) ||
    lengths.some((t) => !Number.isInteger(t) || t < 1 || t > ids.length) ||
    ids.some((t) => !Number.isInteger(t) || t < 0)) {
    console.error("usage: node ort_gpt2.mjs NODE_DIR MODEL.onnx THREADS REPEATS T1,T2:ID,ID,... [LOGITS_OUT]");
    process.exit(2);
}
const ort = createRequire(join(nodeDir, "node_modules", "x.js"))("onnxruntime-node");
const session = await ort.InferenceSession.create(modelPath, {
    intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: "sequential",
    graphOptimizationLevel: "all",
});

function feed(t) {
    const data = BigInt64Array.from(ids.slice(0, t), (v) => BigInt(v));
    return { input_ids: new ort.Tensor("int64", data, [1, t]) };
}

const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
const ms = {};
let last = null;
for (const t of lengths) {
    const input = feed(t);
    await session.run(input);
    const times = [];
    for (let r = 0; r < repeats; r++) {
        const t0 = performance.now();
        last = await session.run(input);
        times.push(performance.now() - t0);
    }
    ms[t] = median(times);
}
if (logitsOut) {
    const a = last.logits.data;
    writeFileSync(logitsOut, Buffer.from(a.buffer, a.byteOffset, a.byteLength));
}
console.log(JSON.stringify({ latency_ms: ms }));
