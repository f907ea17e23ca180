// oracle_llama.mjs FILE - Llama 2's ids of FILE (read as UTF-8), with BOS
// and the leading space, from the npm package llama-tokenizer-js.
import fs from 'fs';
import path from 'path';
import { fileURLToPath } from 'url';

const here = path.dirname(fileURLToPath(import.meta.url));
const { default: lt } = await import(path.join(here, 'node_modules/llama-tokenizer-js/llama-tokenizer.js'));
const ids = lt.encode(fs.readFileSync(process.argv[2], 'utf8'));
process.stdout.write(ids.join(',') + '\n');
