// oracle.js FILE - prints GPT-2's token ids for FILE (read as UTF-8),
// comma-separated, as computed by the npm package gpt-3-encoder.
//
// gpt-3-encoder appends each piece's ids with Array.concat, which is
// quadratic in the number of tokens (hours for a megabyte).  So we hand it
// the text in chunks, cut only where GPT-2's pattern must cut anyway: after
// a lone "\n" that has a non-space on both sides.  No alternative of the
// pattern matches across such a point (" ?" takes a space, never "\n", and
// a one-character whitespace run is its own match), so the ids are the
// same as for the whole text at once.
'use strict';
const fs = require('fs');
const path = require('path');
const { encode } = require(path.join(__dirname, 'node_modules', 'gpt-3-encoder'));

const text = fs.readFileSync(process.argv[2], 'utf8');
const isSpace = (c) => /\s/u.test(c);
const CHUNK = 4096;
const out = [];
let start = 0;
for (let i = CHUNK; i < text.length - 1; i++) {
  if (i - start >= CHUNK && text[i] === '\n' && !isSpace(text[i - 1]) &&
      !isSpace(text[i + 1])) {
    for (const id of encode(text.slice(start, i + 1))) out.push(id);
    start = i + 1;
  }
}
for (const id of encode(text.slice(start))) out.push(id);
process.stdout.write(out.join(',') + '\n');
