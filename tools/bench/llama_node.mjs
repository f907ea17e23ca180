// The node-llama-cpp peer of the Llama rows (llama.cpp's prebuilt CPU
// binary from npm): the prompt ids evaluated in one batch, then greedy
// decoding (temperature 0) one token at a time, with a float32 KV cache as
// the other engines keep.
//
//   node llama_node.mjs NODE_DIR MODEL.gguf THREADS PROMPT_IDS N
//
// NODE_DIR holds node_modules/node-llama-cpp (installed by
// tools/bench/setup.sh).  Prints one JSON line like the other runners: the
// first id comes with the prefill, each later one with a timed decode step.
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [nodeDir, modelPath, threadsArg, promptArg, nArg] = process.argv.slice(2);
const threads = Number(threadsArg), n = Number(nArg);
const ids = (promptArg || "").split(",").map(Number);
if (!nodeDir || !modelPath || !(threads >= 1) || !(n >= 1) || ids.some((t) => !Number.isInteger(t) || t < 0)) {
    console.error("usage: node llama_node.mjs NODE_DIR MODEL.gguf THREADS PROMPT_IDS N");
    process.exit(2);
}
const lib = await import(pathToFileURL(join(nodeDir, "node_modules", "node-llama-cpp", "dist", "index.js")).href);
const llama = await lib.getLlama({ gpu: false, build: "never", logLevel: lib.LlamaLogLevel.error });
const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
const context = await model.createContext({
    contextSize: ids.length + n, batchSize: ids.length, threads,
    experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32",
});
const sequence = context.getSequence();
const out = [];
let t0 = performance.now(), t1 = t0;
for await (const token of sequence.evaluate(ids, { temperature: 0 })) {
    if (out.length === 0)
        t1 = performance.now();
    out.push(token);
    if (out.length === n)
        break;
}
const t2 = performance.now();
console.log(JSON.stringify({ prompt: ids.length, prompt_s: (t1 - t0) / 1e3, steps: n - 1,
                             steps_s: (t2 - t1) / 1e3, ids: out, backend: llama.buildType }));
await context.dispose();
await model.dispose();
