#!/usr/bin/python3
"""The int8 weights file of tfc --save-weights, read independently of tfc.

Commands:
  check   Q.safetensors --float W.safetensors
      Checks Q as the safetensors format requires (the rules of the
      reference Rust reader: a JSON object header, string metadata, known
      dtypes, byte counts equal to the shapes, tensors that tile the data
      section from 0 to its end with no gap and no overlap), that its data
      section and every int8 tensor start at a multiple of 64 bytes, and
      that every int8 tensor holds, byte for byte, the layout that
      docs/quantization.md describes, computed here with NumPy from W's
      float tensor of the same name; every other tensor must equal W's.
      Prints one line; exits 1 on the first difference.

  break   --in Q.safetensors --kind KIND [--name TENSOR] --out BAD.safetensors
      A damaged copy: block (tfc.q8.block "64"), version ("2"), no-version
      (the tfc.q8.version key left out), no-entry (TENSOR's metadata entry
      left out), entry (TENSOR's entry garbled), entry-shape (TENSOR's
      entry claims 32 more inputs), layout (TENSOR's entry says the other
      layout, with its dims swapped: the same U8 shape for a square
      weight), shape (TENSOR's U8 shape flattened to
      2-D, the same bytes), truncate (the file cut in the middle of its
      data).

The layout (docs/quantization.md, runtime/q8_file.h): a weight of `rows`
outputs and `in` inputs is cut into blocks of 32 inputs, scale = max|w| /
127 (float32), q = rint(clip(w / scale, -127, 127)) (ties to even); rows
are grouped in panels of 16 (the last padded with zero rows, scale 0); a
panel block is 8 groups of 4 inputs, each 16 rows x 4 bytes of q + 128,
then the 16 rows' float32 scales: U8 [panels, in / 32, 576].
"""

import argparse
import sys

import numpy as np

import safetensors_io as st

PANEL, BLOCK, GROUP = 16, 32, 4


def expected_layout(w):
    """The saved bytes of w, float32 (rows, in): uint8 [panels, blocks, 576]."""
    rows, cols = w.shape
    panels, blocks = (rows + PANEL - 1) // PANEL, cols // BLOCK
    wb = np.zeros((panels * PANEL, cols), dtype=np.float32)
    wb[:rows] = w
    wb = wb.reshape(panels * PANEL, blocks, BLOCK)
    amax = np.abs(wb).max(axis=2)
    scale = (amax / np.float32(127.0)).astype(np.float32)
    safe = np.where(scale > 0, scale, np.float32(1.0)).astype(np.float32)
    with np.errstate(invalid="ignore"):
        v = (wb / safe[:, :, None]).astype(np.float32)
    q = np.rint(np.clip(v, -127, 127)).astype(np.int32)
    q[scale == 0] = 0
    u = (q + 128).astype(np.uint8).reshape(panels, PANEL, blocks, BLOCK // GROUP, GROUP)
    u = u.transpose(0, 2, 3, 1, 4).reshape(panels, blocks, PANEL * BLOCK)
    s = scale.reshape(panels, PANEL, blocks).transpose(0, 2, 1)
    s = np.ascontiguousarray(s).astype("<f4").view(np.uint8).reshape(panels, blocks, PANEL * 4)
    return np.concatenate([u, s], axis=2)


def strict_check(path):
    """The safetensors rules; returns (header, metadata, data start)."""
    header, start, size = st.read_header(path)
    with open(path, "rb") as f:
        f.seek(8)
        raw = f.read(start - 8)
    if not raw.lstrip().startswith(b"{"):
        raise ValueError("header does not start with '{'")
    meta = header.pop("__metadata__", {})
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        raise ValueError("__metadata__ is not string -> string")
    spans = []
    for name, info in header.items():
        if info["dtype"] not in st.DTYPES:
            raise ValueError("%s: unknown dtype %s" % (name, info["dtype"]))
        count = int(np.prod(info["shape"], dtype=np.int64)) if info["shape"] else 1
        b, e = info["data_offsets"]
        if e - b != count * st.DTYPES[info["dtype"]].itemsize:
            raise ValueError("%s: %d bytes for shape %r" % (name, e - b, info["shape"]))
        spans.append((b, e, name))
    spans.sort()
    at = 0
    for b, e, name in spans:
        if b != at:
            raise ValueError("%s starts at %d, the previous tensor ends at %d" % (name, b, at))
        at = e
    if at != size - start:
        raise ValueError("the tensors end at %d, the data section at %d" % (at, size - start))
    if start % 64:
        raise ValueError("the data section starts at %d, not a multiple of 64" % start)
    return header, meta, start


def check(args):
    header, meta, start = strict_check(args.q)
    tensors, _ = st.load(args.q)
    floats, _ = st.load(args.float)
    fdt = st.dtypes_of(args.float)
    if meta.get("tfc.q8.version") != "1" or meta.get("tfc.q8.block") != "32" \
            or meta.get("tfc.q8.panel") != "16":
        raise ValueError("metadata: version/block/panel %r" % meta)
    n8 = ncopy = 0
    for name, info in header.items():
        entry = meta.get("tfc.q8.tensor." + name)
        if entry is None:
            ok = info["dtype"] == fdt[name] and np.array_equal(
                tensors[name].view(np.uint8), floats[name].view(np.uint8))
            if not ok:
                raise ValueError("%s: not a copy of the float tensor" % name)
            ncopy += 1
            continue
        layout, d0, d1 = entry.split()
        w = st.to_float32(fdt[name], floats[name])
        if list(w.shape) != [int(d0), int(d1)]:
            raise ValueError("%s: entry %r, float shape %r" % (name, entry, w.shape))
        w = w if layout == "out_in" else w.T
        if info["data_offsets"][0] % 64:
            raise ValueError("%s: starts at data offset %d" % (name, info["data_offsets"][0]))
        want = expected_layout(np.ascontiguousarray(w, dtype=np.float32))
        got = tensors[name]
        if info["dtype"] != "U8" or got.shape != want.shape or not np.array_equal(got, want):
            diff = "shape %r vs %r" % (got.shape, want.shape) if got.shape != want.shape else \
                "%d bytes differ" % int((got != want).sum())
            raise ValueError("%s: not the documented layout (%s)" % (name, diff))
        n8 += 1
    unused = set(floats) - set(header)
    print("%s: safetensors rules hold; %d int8 tensors equal the documented layout of the float "
          "weights, %d copies equal; left out: %s" % (args.q, n8, ncopy,
                                                      ", ".join(sorted(unused)) or "none"))


def damage(args):
    header, start, size = st.read_header(args.inp)
    with open(args.inp, "rb") as f:
        f.seek(start)
        data = f.read()
    meta = header["__metadata__"]
    key = "tfc.q8.tensor." + (args.name or "")
    if args.kind == "block":
        meta["tfc.q8.block"] = "64"
    elif args.kind == "version":
        meta["tfc.q8.version"] = "2"
    elif args.kind == "no-version":
        del meta["tfc.q8.version"]
    elif args.kind == "no-entry":
        del meta[key]
    elif args.kind == "entry":
        meta[key] = "sideways 1 2"
    elif args.kind == "entry-shape":
        layout, d0, d1 = meta[key].split()
        if layout == "out_in":
            d1 = str(int(d1) + 32)
        else:
            d0 = str(int(d0) + 32)
        meta[key] = " ".join([layout, d0, d1])
    elif args.kind == "layout":
        layout, d0, d1 = meta[key].split()
        meta[key] = " ".join(["in_out" if layout == "out_in" else "out_in", d1, d0])
    elif args.kind == "shape":
        s = header[args.name]["shape"]
        header[args.name]["shape"] = [s[0], s[1] * s[2]]
    elif args.kind == "truncate":
        data = data[: len(data) // 2]
    st.write_raw(args.out, header, data)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check")
    c.add_argument("q")
    c.add_argument("--float", required=True)
    b = sub.add_parser("break")
    b.add_argument("--in", dest="inp", required=True)
    b.add_argument("--kind", required=True, choices=["block", "version", "no-version", "no-entry",
                                                      "entry", "entry-shape", "layout", "shape",
                                                      "truncate"])
    b.add_argument("--name")
    b.add_argument("--out", required=True)
    a = p.parse_args()
    try:
        check(a) if a.cmd == "check" else damage(a)
    except (ValueError, KeyError) as e:
        print("FAIL: %s" % e)
        sys.exit(1)


if __name__ == "__main__":
    main()
