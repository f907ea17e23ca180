// make_tokenizer_json.js GPT2_DIR OUT_DIR - writes two Hugging Face style
// tokenizer.json files built from GPT-2's encoder.json and vocab.bpe:
//   strings.json  merges as "a b" strings, pre_tokenizer ByteLevel
//   pairs.json    merges as ["a", "b"] pairs, ByteLevel inside a Sequence
// Both declare <|endoftext|> (50256) as an added token, as GPT-2's
// tokenizer.json on the Hugging Face hub does.
'use strict';
const fs = require('fs');
const path = require('path');

const [dir, out] = process.argv.slice(2);
const vocab = JSON.parse(fs.readFileSync(path.join(dir, 'encoder.json'), 'utf8'));
const merges = fs.readFileSync(path.join(dir, 'vocab.bpe'), 'utf8')
  .split('\n').slice(1).filter((l) => l.length > 0);
const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true,
                    use_regex: true };

function tokenizer(mergeList, preTokenizer) {
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [{ id: 50256, content: '<|endoftext|>', single_word: false,
                     lstrip: false, rstrip: false, normalized: true, special: true }],
    normalizer: null,
    pre_tokenizer: preTokenizer,
    post_processor: byteLevel,
    decoder: byteLevel,
    model: { type: 'BPE', dropout: null, unk_token: null,
             continuing_subword_prefix: '', end_of_word_suffix: '',
             fuse_unk: false, byte_fallback: false, vocab: vocab,
             merges: mergeList },
  };
}

fs.mkdirSync(out, { recursive: true });
fs.writeFileSync(path.join(out, 'strings.json'),
                 JSON.stringify(tokenizer(merges, byteLevel)));
fs.writeFileSync(path.join(out, 'pairs.json'),
                 JSON.stringify(tokenizer(merges.map((m) => m.split(' ')),
                                          { type: 'Sequence', pretokenizers: [byteLevel] })));
