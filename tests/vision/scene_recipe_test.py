#!/usr/bin/env python3
"""Checks of the scene recipe's metric code (assets/models/scene/recipe/train.py) on real tool output.

usage: scene_recipe_test.py SOURCE_DIR ATTNLAB_SCENE_DATA_EXECUTABLE
Perfect predictions must score 1.0 on every layout metric; painting objects front-to-back (the
wrong order) must score 0 on occlusion order; token <-> planner sequence round trip; FD/KID sanity.
"""
import json
import os
import struct
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.join(sys.argv[1], "assets", "models", "scene", "recipe"))
import train as T  # noqa: E402

failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print("FAIL:", msg)


with tempfile.TemporaryDirectory() as d:
    T.run_tool(sys.argv[2], os.path.join(d, "s"), seed_start=77, count=60, amodal=True)
    s = T.SceneSet(os.path.join(d, "s"), "cpu", amodal=True)
    preds = torch.stack(T.pixel_targets(s.inst, s.tokens), 1).numpy().astype(np.int16)
    m = T.layout_metrics(s.counts_np.copy(), preds, s.inst_np, s.tokens_np, s.counts_np, s.amodal_np)
    for k in ("count_acc", "attribute_acc", "visible_miou", "occlusion_order_acc"):
        check(abs(m[k] - 1.0) < 1e-9, "perfect predictions: %s = %s" % (k, m[k]))
    check(m["occlusion_pairs"] > 0, "no occlusion pairs in 60 scenes")
    wrong = preds.copy()
    for b in range(s.n):
        for k in reversed(range(s.counts_np[b])):  # front first, so farther objects end up on top
            a = s.amodal_np[b, k].astype(bool)
            wrong[b, 0][a] = s.tokens_np[b, k, 0] + 1
            wrong[b, 1][a] = s.tokens_np[b, k, 1] + 1
    m2 = T.layout_metrics(s.counts_np.copy(), wrong, s.inst_np, s.tokens_np, s.counts_np, s.amodal_np)
    check(m2["occlusion_order_acc"] == 0.0, "reversed paint order: occlusion acc %s" % m2["occlusion_order_acc"])
    check(m2["visible_miou"] < 1.0, "reversed paint order should lower mIoU")
    seq = T.tokens_to_seq(s.tokens, s.counts)
    check((T.seq_to_tokens(seq) == s.tokens_np).all(), "planner sequence round trip")
    # every target token is legal under the slot mask
    mask = T.slot_mask_table()
    tgt = seq[:, 1:]
    pos = torch.arange(tgt.shape[1])[None].expand_as(tgt)
    legal = mask[pos[tgt >= 0], tgt[tgt >= 0]]
    check(bool(torch.isfinite(legal).all()), "a training target is masked out by the slot mask")
    # safetensors writer: header parses and data round-trips
    p = os.path.join(d, "x.safetensors")
    x = torch.arange(6, dtype=torch.float32).view(2, 3)
    T.write_safetensors(p, {"a": x, "b": x.half()})
    raw = open(p, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    h = json.loads(raw[8:8 + n])
    check(n % 8 == 0 and h["a"]["shape"] == [2, 3] and h["b"]["dtype"] == "F16", "safetensors header")
    s0, e0 = h["a"]["data_offsets"]
    check(np.array_equal(np.frombuffer(raw[8 + n + s0:8 + n + e0], np.float32), x.numpy().ravel()), "safetensors data")

rng = np.random.default_rng(0)
f, g = rng.normal(size=(600, 8)), rng.normal(size=(600, 8))
check(T.fd(f, g) < 0.5 and T.fd(f, g + 1.0) > 7.0, "FD same/shifted")
check(abs(T.kid(f, g, size=300)) < 0.01 and T.kid(f, g + 1.0, size=300) > 0.5, "KID same/shifted")

# Occlusion accuracy standardised to a reference overlap distribution: a source that is perfect on
# thin overlaps and wrong on large ones, judged at the reference's (thin) overlaps, scores 1; raw it
# would score by its own mix.
thin = [(0, 5, 1)] * 30 + [(0, 200, 0)] * 70
ref = [(0, 6, 1)] * 50
check(abs(T.occlusion_standardised(thin, ref) - 1.0) < 1e-9, "standardised occlusion accuracy (thin)")
check(abs(T.occlusion_standardised(thin, thin) - 0.3) < 1e-9, "standardised to itself = raw accuracy")
a, b = rng.normal(size=(400, 6)), rng.normal(size=(400, 6))
lo, hi = T.fd_paired_difference_ci(a + 2.0, a, b, n=40)
check(lo > 0, "paired FD difference interval excludes 0 for a shifted set: [%g, %g]" % (lo, hi))
lo, hi = T.fd_paired_difference_ci(a, a.copy(), b, n=40)
check(lo == 0.0 and hi == 0.0, "paired FD difference of identical sets is 0")

print("scene recipe checks: %d failure(s)" % len(failures))
sys.exit(1 if failures else 0)
