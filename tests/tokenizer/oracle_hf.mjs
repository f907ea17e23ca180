// oracle_hf.mjs TOKENIZER_JSON FILE [special] - the ids of FILE (read as
// UTF-8), comma-separated, from the npm package @huggingface/tokenizers,
// with the post-processor's special tokens when "special" is given.
import fs from 'fs';
import path from 'path';
import { fileURLToPath } from 'url';

const here = path.dirname(fileURLToPath(import.meta.url));
const { Tokenizer } = await import(path.join(here, 'node_modules/@huggingface/tokenizers/dist/tokenizers.mjs'));
const [json, file, special] = process.argv.slice(2);
const tok = new Tokenizer(JSON.parse(fs.readFileSync(json, 'utf8')), {});
const text = fs.readFileSync(file, 'utf8');
const { ids } = tok.encode(text, { add_special_tokens: special === 'special' });
process.stdout.write(ids.join(',') + '\n');
