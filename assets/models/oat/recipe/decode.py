#!/usr/bin/env python3
"""Decode held-out splits with a trained OAT-lite model on the CPU (no training).

Decodings (each writes preds_<split>_<name>.npy, object indices [D, K, L], -1 after STOP, for
`attnlab-oat-data eval --pred`):
  greedy  argmax at every step (one path per display)
  sample  K ancestral samples at temperature 1 (K paths per display; metrics average over them)
  mbr     minimum-Bayes-risk: draw M samples, keep the ONE sample whose mean sequence score against
          the other M-1 samples is highest (the model's consensus path under the SS metric; ties go
          to the sample with the higher model log-probability). One path per display.

Usage (from the repository root, torch 1.13 CPU is enough):
  python3 assets/models/oat/recipe/decode.py --model assets/models/oat --data DATA --out OUT \
      [--splits test_layout,test_target,test_large] [--samples 10] [--mbr-samples 64] [--seed 1234]
DATA holds one folder per split written by `attnlab-oat-data gen`.
"""
import argparse
import json
import os
import struct
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train as T  # noqa: E402


def read_safetensors(path):
    dtypes = {"F16": np.float16, "F32": np.float32, "I64": np.int64, "U8": np.uint8, "I32": np.int32}
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        arr = np.frombuffer(raw[8 + n + a:8 + n + b], dtype=dtypes[info["dtype"]]).reshape(info["shape"])
        out[name] = torch.from_numpy(arr.astype(np.float32) if arr.dtype == np.float16 else arr.copy())
    return out


def load_model(folder):
    with open(os.path.join(folder, "config.json")) as f:
        cfg = json.load(f)
    model = T.OatLite(cfg)
    state = read_safetensors(os.path.join(folder, "model.safetensors"))
    model.load_state_dict({k: v.float() for k, v in state.items()})
    return model.eval(), cfg


def lcs(a, b):
    if not a or not b:
        return 0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def seq_score(a, b):
    m = max(len(a), len(b))
    return 1.0 if m == 0 else lcs(a, b) / m


@torch.no_grad()
def sample_with_logp(model, data, ids, k, max_steps, gen, greedy=False):
    """k paths per display (ancestral samples, or argmax when greedy) -> paths [B, k, max_steps]
    (-1 after STOP) and their log-probabilities [B, k]. Finished paths leave the batch (same
    computation as train.decode_paths, only on the rows still decoding)."""
    crops, cells, cue, valid = data.batch(ids)
    obj, cue_tok = model.embed(crops, cells, cue)
    enc_out, enc_bias = model.encode(obj, cue_tok, valid)
    b, n = valid.shape
    rep = torch.arange(b).repeat_interleave(k)
    obj, enc_out, enc_bias, valid = obj[rep], enc_out[rep], enc_bias[rep], valid[rep]
    rows = torch.arange(b * k)  # rows of the full batch still decoding
    prev = torch.full((b * k, 1), -1, dtype=torch.long)
    out = torch.full((b * k, max_steps), -1, dtype=torch.long)
    logp = torch.zeros(b * k)
    for t in range(max_steps):
        logits, _ = model.decode(obj, enc_out, enc_bias, valid, prev)
        lp = torch.log_softmax(logits[:, -1].float(), -1)
        m = len(rows)
        if t == max_steps - 1:
            choice = torch.full((m,), n, dtype=torch.long)
        elif greedy:
            choice = lp.argmax(-1)
        else:
            choice = torch.multinomial(lp.exp(), 1, generator=gen).squeeze(-1)
        logp[rows] += lp.gather(1, choice[:, None]).squeeze(1)
        go = choice != n
        out[rows[go], t] = choice[go]
        if not go.any():
            break
        rows, prev = rows[go], torch.cat([prev[go], choice[go][:, None]], 1)
        obj, enc_out, enc_bias, valid = obj[go], enc_out[go], enc_bias[go], valid[go]
    return out.view(b, k, max_steps), logp.view(b, k)


def mbr_pick(paths, logp):
    """paths [K, L] numpy, logp [K] -> index of the sample with the highest mean SS to the others."""
    strs = [tuple(int(v) for v in p if v >= 0) for p in paths]
    uniq = {}
    for i, s in enumerate(strs):
        uniq.setdefault(s, []).append(i)
    keys = list(uniq)
    counts = np.array([len(uniq[s]) for s in keys], np.float64)
    best, best_key = None, None
    for i, s in enumerate(keys):
        # expected SS against the empirical sample distribution, leaving this sample itself out once
        total = sum(counts[j] * seq_score(s, keys[j]) for j in range(len(keys))) - 1.0
        score = total / max(1.0, counts.sum() - 1.0)
        lp = max(float(logp[idx]) for idx in uniq[s])
        key = (score, lp)
        if best is None or key > best:
            best, best_key = key, s
    return uniq[best_key][0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--splits", default="test_layout,test_target,test_large")
    ap.add_argument("--decodings", default="greedy,sample,mbr")
    ap.add_argument("--samples", type=int, default=10)
    ap.add_argument("--mbr-samples", type=int, default=64)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--chunk", type=int, default=16, help="displays per forward batch")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    model, cfg = load_model(args.model)
    steps = cfg["max_steps"]
    decodings = args.decodings.split(",")
    info = dict(torch=torch.__version__, model=args.model, seed=args.seed, samples=args.samples,
                mbr_samples=args.mbr_samples, splits={})
    for split in args.splits.split(","):
        t0 = time.time()
        data = T.SplitData(os.path.join(args.data, split), torch.device("cpu"))
        gen = torch.Generator().manual_seed(args.seed)
        res = {d: [] for d in decodings}
        for i0 in range(0, data.count, args.chunk):
            ids = torch.arange(i0, min(data.count, i0 + args.chunk))
            if "greedy" in res:
                p, _ = sample_with_logp(model, data, ids, 1, steps, gen, greedy=True)
                res["greedy"].append(p.numpy())
            if "sample" in res:
                p, _ = sample_with_logp(model, data, ids, args.samples, steps, gen)
                res["sample"].append(p.numpy())
            if "mbr" in res:
                p, lp = sample_with_logp(model, data, ids, args.mbr_samples, steps, gen)
                p, lp = p.numpy(), lp.numpy()
                picks = [p[b, mbr_pick(p[b], lp[b])][None] for b in range(p.shape[0])]
                res["mbr"].append(np.stack(picks))
            if i0 % (args.chunk * 8) == 0:
                print(f"  {split}: {i0 + len(ids)}/{data.count} displays, {time.time() - t0:.0f}s", flush=True)
        for d, chunks in res.items():
            arr = np.concatenate(chunks).astype(np.int16)
            np.save(os.path.join(args.out, f"preds_{split}_{d}.npy"), arr)
        info["splits"][split] = dict(displays=data.count, seconds=round(time.time() - t0, 1))
        print(f"{split}: {data.count} displays decoded ({', '.join(decodings)}) in {time.time() - t0:.0f}s", flush=True)
    with open(os.path.join(args.out, "decode_info.json"), "w") as f:
        json.dump(info, f, indent=2)


if __name__ == "__main__":
    main()
