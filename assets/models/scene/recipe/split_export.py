#!/usr/bin/env python3
"""Split a run's model.safetensors into the committed part and the rest (issue 10).

  split_export.py RUN_DIR DEST_DIR [EVAL_OUT]

Writes DEST_DIR/model.safetensors with only the planner.* and renderer.* tensors (what the app and
attnlab-cli load; the tracked tree must stay small) and copies RUN_DIR's config.json and
fixtures.safetensors (parity fixtures of exactly these weights) beside it. If EVAL_OUT is given, the
evaluator goes there (kept out of git; the metrics were computed with it): the evaluator.* tensors
of an old run's model.safetensors, or a newer run's evaluator.safetensors (evaluator.* = E, the
segmenter; fd_evaluator.* = the FD space) as it is. Tensor bytes are copied unchanged; prints the
SHA-256 of every file written.
"""
import hashlib
import shutil
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
    print("%s: %d tensors, %d bytes, sha256 %s" % (path, len(names), os.path.getsize(path), sha256(path)))


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


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
    for name in ("config.json", "fixtures.safetensors"):
        src_f = os.path.join(sys.argv[1], name)
        if not os.path.exists(src_f):
            sys.exit("split_export.py: %s does not exist" % src_f)
        dst_f = os.path.join(sys.argv[2], name)
        if os.path.abspath(src_f) != os.path.abspath(dst_f):
            shutil.copyfile(src_f, dst_f)
        print("%s: %d bytes, sha256 %s" % (dst_f, os.path.getsize(dst_f), sha256(dst_f)))
    ev_file = os.path.join(sys.argv[1], "evaluator.safetensors")
    if len(sys.argv) == 4 and rest:
        write(sys.argv[3], header, meta, data, rest)
    elif len(sys.argv) == 4 and os.path.exists(ev_file):
        shutil.copyfile(ev_file, sys.argv[3])
        print("%s: %d bytes, sha256 %s" % (sys.argv[3], os.path.getsize(sys.argv[3]), sha256(sys.argv[3])))
    elif len(sys.argv) == 4:
        sys.exit("split_export.py: no evaluator in %s" % sys.argv[1])


if __name__ == "__main__":
    main()
