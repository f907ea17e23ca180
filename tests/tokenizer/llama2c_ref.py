#!/usr/bin/python3
"""llama2c_ref.py TOKENIZER_BIN FILE - the ids llama2.c's encoder gives for
FILE (with BOS), by the plain quadratic loop of its run.c, as a reference
for the runtime's tokenizer.bin reading:

  - a "dummy prefix" space token when the text is not empty;
  - one token per UTF-8 character, or its bytes as tokens 3 + byte;
  - then, repeatedly, the adjacent pair whose concatenation is a vocabulary
    piece of the highest score (the leftmost of equal scores) is merged,
    until no pair concatenates to a piece.
"""
import struct
import sys


def load(path):
    data = open(path, "rb").read()
    (max_len,) = struct.unpack_from("<i", data, 0)
    pieces, scores, i = [], [], 4
    while i < len(data):
        score, n = struct.unpack_from("<fi", data, i)
        pieces.append(data[i + 8:i + 8 + n])
        scores.append(score)
        i += 8 + n
    return pieces, scores


def encode(pieces, scores, text):
    lookup = {}
    for i, p in enumerate(pieces):
        lookup.setdefault(p, i)
    ids = [1]
    if text:
        ids.append(lookup[b" "])
    for ch in text.decode("utf-8"):
        b = ch.encode("utf-8")
        if b in lookup:
            ids.append(lookup[b])
        else:
            ids.extend(3 + x for x in b)
    while True:
        best, best_at, best_id = None, -1, -1
        for k in range(1, len(ids) - 1):
            j = lookup.get(pieces[ids[k]] + pieces[ids[k + 1]])
            if j is not None and (best is None or scores[j] > best):
                best, best_at, best_id = scores[j], k, j
        if best is None:
            return ids
        ids[best_at:best_at + 2] = [best_id]


pieces, scores = load(sys.argv[1])
print(",".join(str(i) for i in encode(pieces, scores, open(sys.argv[2], "rb").read())))
