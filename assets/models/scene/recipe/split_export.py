#!/usr/bin/env python3
"""Split a run's model.safetensors into the committed part and the rest (issue 10).

  split_export.py RUN_DIR DEST_DIR [EVAL_OUT]

Writes DEST_DIR/model.safetensors with only the planner.* and renderer.* tensors (what the app and
attnlab-cli load; the tracked tree must stay small) and, if EVAL_OUT is given, the evaluator.*
tensors to EVAL_OUT (kept out of git; the metrics were computed with them). Tensor bytes are copied
unchanged; prints the SHA-256 of every file written.
"""
import hashlib
import json
import os
import struct
import sys


def read(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", None)
    return header, meta, data


def write(path, header, meta, data, names):
    out_h, blobs, off = {}, [], 0
    for name in sorted(names):
        e = header[name]
        a, b = e["data_offsets"]
        blobs.append(data[a:b])
        out_h[name] = {"dtype": e["dtype"], "shape": e["shape"], "data_offsets": [off, off + b - a]}
        off += b - a
    if meta:
        out_h["__metadata__"] = meta
    h = json.dumps(out_h, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    os.replace(path + ".tmp", path)
    digest = hashlib.sha256(open(path, "rb").read()).hexdigest()
    print("%s: %d tensors, %d bytes, sha256 %s" % (path, len(names), os.path.getsize(path), digest))


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    src = os.path.join(sys.argv[1], "model.safetensors")
    if not os.path.exists(src):
        sys.exit("split_export.py: %s does not exist" % src)
    header, meta, data = read(src)
    keep = [n for n in header if n.startswith(("planner.", "renderer."))]
    rest = [n for n in header if n.startswith("evaluator.")]
    other = [n for n in header if n not in keep and n not in rest]
    if other:
        sys.exit("split_export.py: %s has unexpected tensors: %s" % (src, ", ".join(other[:5])))
    os.makedirs(sys.argv[2], exist_ok=True)
    write(os.path.join(sys.argv[2], "model.safetensors"), header, meta, data, keep)
    if len(sys.argv) == 4 and rest:
        write(sys.argv[3], header, meta, data, rest)


if __name__ == "__main__":
    main()
