"""Reading and writing safetensors files with the standard library and NumPy.

File layout:
    8 bytes   header length N, unsigned little-endian
    N bytes   JSON object {name: {"dtype", "shape", "data_offsets": [b, e]},
              "__metadata__": {str: str}}, padded with spaces so that the data
              starts at a multiple of 8
    data      the tensors' bytes, little-endian, row-major; offsets are
              relative to the start of the data section

Functions:
    save(path, tensors, metadata=None)   tensors: {name: ndarray | torch.Tensor}
    load(path) -> (tensors, metadata)    tensors: {name: ndarray}
    read_header(path) -> (header, data_start, file_size)
    write_raw(path, header, data)        writes any header (used to build
                                         deliberately broken files)
"""

import json
import struct

import numpy as np

# safetensors dtype name -> NumPy dtype (little-endian).  BF16 is carried as
# raw uint16 bit patterns; to_float32() widens it.
DTYPES = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U64": np.dtype("<u8"),
    "U32": np.dtype("<u4"),
    "U16": np.dtype("<u2"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}

_FROM_NUMPY = {
    np.dtype("f8"): "F64",
    np.dtype("f4"): "F32",
    np.dtype("f2"): "F16",
    np.dtype("i8"): "I64",
    np.dtype("i4"): "I32",
    np.dtype("i2"): "I16",
    np.dtype("i1"): "I8",
    np.dtype("u8"): "U64",
    np.dtype("u4"): "U32",
    np.dtype("u2"): "U16",
    np.dtype("u1"): "U8",
    np.dtype("?"): "BOOL",
}


class Bf16(object):
    """A bfloat16 tensor given as its uint16 bit patterns."""

    def __init__(self, bits):
        self.bits = np.ascontiguousarray(bits, dtype="<u2")


def float32_to_bf16(a):
    """Rounds float32 values to bfloat16 (round to nearest even)."""
    u = np.ascontiguousarray(a, dtype="<f4").view("<u4").astype(np.uint64)
    rounded = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return Bf16(rounded.astype("<u2"))


def to_float32(name_dtype, array):
    """Widens a loaded tensor to float32 (BF16 bit patterns included)."""
    if name_dtype == "BF16":
        return (array.astype("<u4") << 16).view("<f4")
    return array.astype("<f4", copy=False)


def _as_numpy(value):
    """Returns (safetensors dtype, contiguous little-endian ndarray)."""
    if isinstance(value, Bf16):
        return "BF16", value.bits
    if not isinstance(value, np.ndarray):
        # A torch.Tensor (imported lazily so NumPy-only use stays possible).
        import torch
        if isinstance(value, torch.Tensor):
            t = value.detach().cpu().contiguous()
            if t.dtype == torch.bfloat16:
                return "BF16", t.view(torch.int16).numpy().view("<u2").copy()
            value = t.numpy()
        else:
            value = np.asarray(value)
    dt = value.dtype
    key = dt.newbyteorder("=") if dt.byteorder not in ("=", "|") else dt
    if key not in _FROM_NUMPY:
        raise ValueError("unsupported dtype %s" % dt)
    name = _FROM_NUMPY[key]
    return name, np.asarray(value, dtype=DTYPES[name], order="C")


def _pad_header(raw):
    """Pads JSON bytes with spaces so that 8 + len is a multiple of 8."""
    pad = (-(8 + len(raw))) % 8
    return raw + b" " * pad


def save(path, tensors, metadata=None):
    """Writes tensors (insertion order kept) and string metadata."""
    header = {}
    if metadata is not None:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    chunks = []
    offset = 0
    for name, value in tensors.items():
        dtype, arr = _as_numpy(value)
        header[name] = {
            "dtype": dtype,
            "shape": [int(s) for s in arr.shape],
            "data_offsets": [offset, offset + arr.nbytes],
        }
        chunks.append(arr)
        offset += arr.nbytes
    raw = _pad_header(json.dumps(header, separators=(",", ":")).encode("utf-8"))
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for arr in chunks:
            if arr.nbytes:
                f.write(memoryview(arr.reshape(-1)).cast("B"))


def write_raw(path, header, data, pad=True):
    """Writes a header dict as given (no checks) followed by data bytes."""
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    if pad:
        raw = _pad_header(raw)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        f.write(data)


def read_header(path):
    """Returns (header dict, data start offset, file size), validating nothing
    beyond what is needed to parse the JSON."""
    with open(path, "rb") as f:
        blob = f.read(8)
        if len(blob) != 8:
            raise ValueError("%s: shorter than 8 bytes" % path)
        (n,) = struct.unpack("<Q", blob)
        f.seek(0, 2)
        size = f.tell()
        if n > size - 8:
            raise ValueError("%s: header length %d beyond the file" % (path, n))
        f.seek(8)
        header = json.loads(f.read(n).decode("utf-8"))
    return header, 8 + n, size


def load(path):
    """Returns ({name: ndarray}, metadata dict), checking offsets and sizes.
    The arrays are read-only views of a memory map of the file."""
    header, start, size = read_header(path)
    metadata = header.pop("__metadata__", {}) or {}
    if size > start:
        data = np.memmap(path, dtype=np.uint8, mode="r", offset=start)
    else:
        data = np.zeros(0, dtype=np.uint8)
    out = {}
    for name, info in header.items():
        dtype = DTYPES[info["dtype"]]
        shape = tuple(int(s) for s in info["shape"])
        b, e = info["data_offsets"]
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if not (0 <= b <= e <= len(data)):
            raise ValueError("%s: %s: data_offsets %r outside the data" % (path, name, [b, e]))
        if e - b != count * dtype.itemsize:
            raise ValueError("%s: %s: %d bytes for shape %r" % (path, name, e - b, list(shape)))
        out[name] = data[b:e].view(dtype).reshape(shape)
    return out, metadata


def dtypes_of(path):
    """Returns {name: safetensors dtype string}."""
    header, _, _ = read_header(path)
    header.pop("__metadata__", None)
    return {k: v["dtype"] for k, v in header.items()}
