#!/usr/bin/env python3
"""OAT-lite: an object-level attention transformer trained on simulated search scanpaths.

Design: reference/vision.md §4a.3 (after OAT, Fang et al., ECCV 2024). Tokens are objects:
  token = [appearance (small CNN on the object's 32x32 crop, trained from scratch) |
           object-level positional encoding (eigen-embedding of a Gaussian kernel over the 32x20
           grid of 16 px cells, OAT's "similarity reflects distance" idea in closed form)]
           + a learned type embedding (object / target cue / STOP / BOS).
Encoder: N object tokens + 1 target-cue token + 1 STOP token (pre-LN transformer).
Decoder: BOS, then the tokens of the objects fixated so far, plus a sinusoidal step code.
Head: OAT's bilinear pointer (2 heads mixed by a linear readout) over the N objects + STOP.
Loss: cross-entropy with teacher forcing on the next object (or STOP).

Data: the .npy splits written by `attnlab-oat-data gen` (see core/vision/oat/dataset.h).
Outputs (in --out): model.safetensors (F16), config.json, train_log.txt, metrics.json,
preds_<split>_{greedy,sample}.npy (object indices [D, K, L], -1 after STOP), parity.safetensors.

Runs with torch 1.13 (CPU, Debian) and 2.x (CUDA). No safetensors package needed.
"""
import argparse
import json
import math
import os
import signal
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

GRID_COLS, GRID_ROWS = 32, 20
CROP = 32
TYPE_OBJECT, TYPE_CUE, TYPE_STOP, TYPE_BOS = 0, 1, 2, 3
NEG = -1e9


def log(msg, fh=None):
    line = time.strftime("%H:%M:%S ") + msg
    print(line, flush=True)
    if fh is not None:
        fh.write(line + "\n")
        fh.flush()


# ----------------------------------------------------------------------------------------------
# Positional encodings
# ----------------------------------------------------------------------------------------------
def eigen_pe(dim, sigma_cells):
    """Rows reproduce exp(-|p_i - p_j|^2 / 2 sigma^2) over grid cells as closely as dim allows.

    K = U L U^T is PSD, so U sqrt(L) gives Gram matrix K; keep the top `dim` eigenpairs and scale
    so that the mean squared entry is 1. Row index = row * GRID_COLS + col.
    """
    cols, rows = np.meshgrid(np.arange(GRID_COLS), np.arange(GRID_ROWS))
    pos = np.stack([rows.ravel(), cols.ravel()], 1).astype(np.float64)
    d2 = ((pos[:, None, :] - pos[None, :, :]) ** 2).sum(-1)
    k = np.exp(-d2 / (2.0 * sigma_cells ** 2))
    vals, vecs = np.linalg.eigh(k)
    order = np.argsort(vals)[::-1][:dim]
    emb = vecs[:, order] * np.sqrt(np.maximum(vals[order], 0.0))
    # eigh's eigenvector signs are arbitrary: fix them so the table is reproducible.
    signs = np.sign(emb[np.argmax(np.abs(emb), 0), np.arange(dim)])
    emb = emb * signs
    emb = emb / np.sqrt((emb ** 2).mean())
    return emb.astype(np.float32)


def step_code(length, dim):
    pos = np.arange(length)[:, None].astype(np.float64)
    i = np.arange(dim // 2)[None, :].astype(np.float64)
    ang = pos / np.power(10000.0, 2 * i / dim)
    out = np.zeros((length, dim), np.float64)
    out[:, 0::2] = np.sin(ang)
    out[:, 1::2] = np.cos(ang)
    return out.astype(np.float32)


# ----------------------------------------------------------------------------------------------
# Model
# ----------------------------------------------------------------------------------------------
class Attention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.h = heads
        self.q = nn.Linear(d, d)
        self.k = nn.Linear(d, d)
        self.v = nn.Linear(d, d)
        self.o = nn.Linear(d, d)

    def forward(self, x, mem, bias):
        # x [B, T, d], mem [B, S, d], bias additive [B or 1, 1, T or 1, S]
        b, t, d = x.shape
        s = mem.shape[1]
        hd = d // self.h
        q = self.q(x).view(b, t, self.h, hd).transpose(1, 2)
        k = self.k(mem).view(b, s, self.h, hd).transpose(1, 2)
        v = self.v(mem).view(b, s, self.h, hd).transpose(1, 2)
        att = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(hd) + bias
        att = torch.softmax(att.float(), dim=-1).to(v.dtype)
        y = torch.matmul(att, v).transpose(1, 2).reshape(b, t, d)
        return self.o(y), att


class EncoderLayer(nn.Module):
    def __init__(self, d, heads, ff, dropout):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.attn = Attention(d, heads)
        self.ln2 = nn.LayerNorm(d)
        self.ff1 = nn.Linear(d, ff)
        self.ff2 = nn.Linear(ff, d)
        self.drop = nn.Dropout(dropout)

    def forward(self, x, bias):
        h = self.ln1(x)
        a, _ = self.attn(h, h, bias)
        x = x + self.drop(a)
        return x + self.drop(self.ff2(F.gelu(self.ff1(self.ln2(x)))))


class DecoderLayer(nn.Module):
    def __init__(self, d, heads, ff, dropout):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.self_attn = Attention(d, heads)
        self.ln2 = nn.LayerNorm(d)
        self.cross_attn = Attention(d, heads)
        self.ln3 = nn.LayerNorm(d)
        self.ff1 = nn.Linear(d, ff)
        self.ff2 = nn.Linear(ff, d)
        self.drop = nn.Dropout(dropout)

    def forward(self, x, mem, self_bias, mem_bias):
        h = self.ln1(x)
        a, _ = self.self_attn(h, h, self_bias)
        x = x + self.drop(a)
        a, cross = self.cross_attn(self.ln2(x), mem, mem_bias)
        x = x + self.drop(a)
        return x + self.drop(self.ff2(F.gelu(self.ff1(self.ln3(x))))), cross


class CropCnn(nn.Module):
    """32x32 RGB crop -> appearance vector. Input uint8 [..., 32, 32, 3]."""

    def __init__(self, out_dim):
        super().__init__()
        self.c1 = nn.Conv2d(3, 24, 3, padding=1)
        self.c2 = nn.Conv2d(24, 48, 3, padding=1)
        self.c3 = nn.Conv2d(48, 64, 3, padding=1)
        self.fc = nn.Linear(64 * 4 * 4, out_dim)

    def forward(self, crops_u8):
        shape = crops_u8.shape[:-3]
        x = crops_u8.reshape(-1, CROP, CROP, 3).permute(0, 3, 1, 2).float() / 255.0 - 0.5
        x = F.max_pool2d(F.relu(self.c1(x)), 2)
        x = F.max_pool2d(F.relu(self.c2(x)), 2)
        x = F.max_pool2d(F.relu(self.c3(x)), 2)
        return self.fc(x.flatten(1)).reshape(*shape, -1)


class OatLite(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d, pe_dim = cfg["d_model"], cfg["pe_dim"]
        self.cfg = cfg
        self.cnn = CropCnn(d - pe_dim)
        self.register_buffer("pe_table", torch.from_numpy(eigen_pe(pe_dim, cfg["pe_sigma_cells"])))
        self.register_buffer("step_code", torch.from_numpy(step_code(cfg["max_steps"] + 2, d)))
        self.type_emb = nn.Parameter(torch.randn(4, d) * 0.02)
        self.stop_token = nn.Parameter(torch.randn(d) * 0.02)
        self.bos_token = nn.Parameter(torch.randn(d) * 0.02)
        self.enc = nn.ModuleList([EncoderLayer(d, cfg["heads"], cfg["ffn"], cfg["dropout"])
                                  for _ in range(cfg["enc_layers"])])
        self.enc_ln = nn.LayerNorm(d)
        self.dec = nn.ModuleList([DecoderLayer(d, cfg["heads"], cfg["ffn"], cfg["dropout"])
                                  for _ in range(cfg["dec_layers"])])
        self.dec_ln = nn.LayerNorm(d)
        hp = cfg["pointer_heads"]
        self.ptr_q = nn.Linear(d, hp * d, bias=False)
        self.ptr_k = nn.Linear(d, hp * d, bias=False)
        self.ptr_mix = nn.Linear(hp, 1)

    def embed(self, crops, cells, cue):
        """crops u8 [B,N,32,32,3], cells long [B,N], cue u8 [B,32,32,3] -> object tokens [B,N,d],
        cue token [B,d]."""
        app = self.cnn(crops)
        pe = self.pe_table[cells]
        obj = torch.cat([app, pe], -1) + self.type_emb[TYPE_OBJECT]
        cue_app = self.cnn(cue)
        cue_tok = torch.cat([cue_app, torch.zeros_like(pe[:, 0])], -1) + self.type_emb[TYPE_CUE]
        return obj, cue_tok

    def encode(self, obj, cue_tok, valid):
        """-> encoder outputs [B, N+2, d] (objects, cue, STOP) and the key bias [B,1,1,N+2]."""
        b, n, d = obj.shape
        stop = (self.stop_token + self.type_emb[TYPE_STOP]).expand(b, 1, d)
        x = torch.cat([obj, cue_tok[:, None], stop], 1)
        keep = torch.cat([valid, torch.ones(b, 2, dtype=torch.bool, device=valid.device)], 1)
        bias = torch.zeros(b, 1, 1, n + 2, device=obj.device, dtype=obj.dtype)
        bias = bias.masked_fill(~keep[:, None, None, :], NEG)
        for layer in self.enc:
            x = layer(x, bias)
        return self.enc_ln(x), bias

    def decode(self, obj, enc_out, enc_bias, valid, prev):
        """prev long [B, T]: decoder inputs; -1 = BOS (position 0), else an object index.
        Returns pointer logits [B, T, N+1] (index N = STOP) and the last layer's cross-attention
        [B, heads, T, N+2]."""
        b, t = prev.shape
        n, d = obj.shape[1], obj.shape[2]
        gathered = torch.gather(obj, 1, prev.clamp(min=0)[..., None].expand(b, t, d))
        bos = (self.bos_token + self.type_emb[TYPE_BOS]).expand(b, t, d)
        x = torch.where((prev < 0)[..., None], bos, gathered) + self.step_code[:t]
        causal = torch.triu(torch.full((t, t), NEG, device=obj.device, dtype=obj.dtype), 1)[None, None]
        cross = None
        for layer in self.dec:
            x, cross = layer(x, enc_out, causal, enc_bias)
        h = self.dec_ln(x)
        hp = self.cfg["pointer_heads"]
        cand = torch.cat([enc_out[:, :n], enc_out[:, n + 1:]], 1)  # objects + STOP (no cue)
        q = self.ptr_q(h).view(b, t, hp, d).transpose(1, 2)         # [B,hp,T,d]
        k = self.ptr_k(cand).view(b, n + 1, hp, d).transpose(1, 2)  # [B,hp,N+1,d]
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(d)  # [B,hp,T,N+1]
        logits = self.ptr_mix(scores.permute(0, 2, 3, 1)).squeeze(-1)  # [B,T,N+1]
        keep = torch.cat([valid, torch.ones(b, 1, dtype=torch.bool, device=valid.device)], 1)
        logits = logits.float().masked_fill(~keep[:, None, :], NEG)
        # At least one fixation: STOP is not allowed at the first step.
        first = torch.zeros_like(logits, dtype=torch.bool)
        first[:, 0, n] = True
        return logits.masked_fill(first, NEG), cross

    def forward(self, crops, cells, cue, valid, prev):
        obj, cue_tok = self.embed(crops, cells, cue)
        enc_out, enc_bias = self.encode(obj, cue_tok, valid)
        logits, _ = self.decode(obj, enc_out, enc_bias, valid, prev)
        return logits


# ----------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------
class SplitData:
    def __init__(self, folder, device, limit=None):
        self.name = os.path.basename(os.path.normpath(folder))
        displays = np.load(os.path.join(folder, "displays.npy"))
        objects = np.load(os.path.join(folder, "objects.npy"))
        offsets = np.load(os.path.join(folder, "obj_offsets.npy"))
        crops = np.load(os.path.join(folder, "crops.npy"), mmap_mode="r")
        cue = np.load(os.path.join(folder, "cue.npy"))
        paths = np.load(os.path.join(folder, "paths.npy")).astype(np.int64)
        if limit is not None and limit < len(displays):
            displays, cue, paths = displays[:limit], cue[:limit], paths[:limit]
            offsets = offsets[: limit + 1]
        d = len(displays)
        m = int(offsets[-1])
        counts = (offsets[1:] - offsets[:-1]).astype(np.int64)
        self.nmax = int(counts.max())
        idx = np.full((d, self.nmax), m, np.int64)
        col = np.arange(self.nmax)[None, :]
        valid = col < counts[:, None]
        idx[valid] = (offsets[:-1, None] + col)[valid]
        crops_all = np.concatenate([np.asarray(crops[:m]), np.full((1, CROP, CROP, 3), 128, np.uint8)], 0)
        cells = np.concatenate([objects[:m, 10] * GRID_COLS + objects[:m, 9], [0]]).astype(np.int64)
        self.count = d
        self.displays = displays
        self.counts = counts
        self.device = device
        self.crops = torch.from_numpy(crops_all).to(device)
        self.cells = torch.from_numpy(cells).to(device)
        self.obj_idx = torch.from_numpy(idx).to(device)
        self.valid = torch.from_numpy(valid).to(device)
        self.cue = torch.from_numpy(np.ascontiguousarray(cue)).to(device)
        self.paths = torch.from_numpy(paths).to(device)  # [D,S,L], -1 after the end
        self.subjects = paths.shape[1]
        self.max_len = paths.shape[2]

    def batch(self, ids):
        """Display ids (long tensor) -> crops [B,N,32,32,3], cells [B,N], cue, valid [B,N]."""
        oi = self.obj_idx[ids]
        return self.crops[oi], self.cells[oi], self.cue[ids], self.valid[ids]

    def teacher_forcing(self, ids):
        """All subjects' paths of these displays -> prev [B*S, T], target [B*S, T] (-100 = ignore),
        disp [B*S] (row into the batch). T = longest path + 1 (the STOP step)."""
        p = self.paths[ids]  # [B,S,L]
        b, s, l = p.shape
        p = p.reshape(b * s, l)
        lengths = (p >= 0).sum(1)
        t = int(lengths.max().item()) + 1
        padded = torch.full((b * s, t + 1), -1, dtype=torch.long, device=p.device)
        padded[:, :min(l, t)] = p[:, :t]
        ar = torch.arange(t, device=p.device)[None, :]
        n = self.nmax
        target = torch.where(ar < lengths[:, None], padded[:, :t], torch.full_like(padded[:, :t], -100))
        target = torch.where(ar == lengths[:, None], torch.full_like(target, n), target)
        prev = torch.cat([torch.full((b * s, 1), -1, dtype=torch.long, device=p.device), padded[:, :t - 1]], 1)
        prev = torch.where(ar <= lengths[:, None], prev, torch.zeros_like(prev))  # after STOP: any valid index
        disp = torch.arange(b, device=p.device).repeat_interleave(s)
        return prev, target, disp


def run_teacher_forced(model, data, ids, label_smoothing=0.0):
    crops, cells, cue, valid = data.batch(ids)
    prev, target, disp = data.teacher_forcing(ids)
    obj, cue_tok = model.embed(crops, cells, cue)
    enc_out, enc_bias = model.encode(obj, cue_tok, valid)
    logits, _ = model.decode(obj[disp], enc_out[disp], enc_bias[disp], valid[disp], prev)
    # STOP lives at index N of each display's pointer; N is the split's padded size here. Label
    # smoothing spreads only over the allowed candidates (masked logits would make it explode).
    logp = torch.log_softmax(logits.float(), -1).reshape(-1, logits.shape[-1])
    tgt = target.reshape(-1)
    rows = tgt >= 0
    logp, tgt = logp[rows], tgt[rows]
    nll_rows = -logp.gather(1, tgt[:, None]).squeeze(1)
    allowed = logp > NEG / 2
    smooth_rows = -(logp * allowed).sum(1) / allowed.sum(1).clamp(min=1)
    loss = ((1.0 - label_smoothing) * nll_rows + label_smoothing * smooth_rows).mean()
    with torch.no_grad():
        mask = target >= 0
        correct = ((logits.argmax(-1) == target) & mask).sum().item()
        count = mask.sum().item()
        nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), target.reshape(-1),
                              ignore_index=-100, reduction="sum").item()
    return loss, correct, count, nll


@torch.no_grad()
def decode_paths(model, data, ids, samples, max_steps, greedy, generator=None):
    """-> object index paths [B, K, max_steps] (long, -1 after STOP)."""
    crops, cells, cue, valid = data.batch(ids)
    obj, cue_tok = model.embed(crops, cells, cue)
    enc_out, enc_bias = model.encode(obj, cue_tok, valid)
    b, n = valid.shape
    k = samples
    rep = torch.arange(b, device=valid.device).repeat_interleave(k)
    obj, enc_out, enc_bias, valid = obj[rep], enc_out[rep], enc_bias[rep], valid[rep]
    prev = torch.full((b * k, 1), -1, dtype=torch.long, device=valid.device)
    out = torch.full((b * k, max_steps), -1, dtype=torch.long, device=valid.device)
    alive = torch.ones(b * k, dtype=torch.bool, device=valid.device)
    for t in range(max_steps):
        logits, _ = model.decode(obj, enc_out, enc_bias, valid, prev)
        last = logits[:, -1].float()
        if t == max_steps - 1:
            choice = torch.full((b * k,), n, dtype=torch.long, device=valid.device)
        elif greedy:
            choice = last.argmax(-1)
        else:
            probs = torch.softmax(last, -1)
            choice = torch.multinomial(probs, 1, generator=generator).squeeze(-1)
        is_stop = choice == n
        write = alive & ~is_stop
        out[:, t] = torch.where(write, choice, out[:, t])
        alive = alive & ~is_stop
        if not alive.any():
            break
        prev = torch.cat([prev, torch.where(alive, choice, torch.zeros_like(choice))[:, None]], 1)
    return out.view(b, k, max_steps)


# ----------------------------------------------------------------------------------------------
# Export
# ----------------------------------------------------------------------------------------------
def write_safetensors(path, tensors, metadata=None):
    """Minimal safetensors writer: 8-byte little-endian header size, JSON header, raw data."""
    names = {torch.float16: "F16", torch.float32: "F32", torch.int64: "I64", torch.uint8: "U8",
             torch.bool: "BOOL", torch.int32: "I32"}
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        raw = t.numpy().tobytes() if t.dtype != torch.bool else t.to(torch.uint8).numpy().tobytes()
        header[name] = {"dtype": names[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    hb = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hb += b" " * ((8 - len(hb) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def export_model(model, out_dir, cfg, extra_meta):
    state = {k: v.detach().to(torch.float16) for k, v in model.state_dict().items()}
    write_safetensors(os.path.join(out_dir, "model.safetensors"), state,
                      {"format": "attnlab-oat-lite", "dtype": "F16"})
    # The exported model is the F16-rounded one: load it back so that fixtures match the file.
    model.load_state_dict({k: v.float() for k, v in state.items()})
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(dict(cfg, **extra_meta), f, indent=2)
    return os.path.getsize(os.path.join(out_dir, "model.safetensors"))


@torch.no_grad()
def export_parity(model, data, out_dir, count=3):
    """A few displays' inputs, the model's greedy paths as decoder inputs, and the logits, in F32
    on the CPU with the F16-rounded weights (what the C++ port loads)."""
    model = model.cpu().eval()
    ids = torch.arange(min(count, data.count))
    crops, cells, cue, valid = [x.cpu() for x in data.batch(ids.to(data.device))]
    n = int(valid.sum(1).max().item())
    crops, cells, valid = crops[:, :n], cells[:, :n], valid[:, :n]
    obj, cue_tok = model.embed(crops, cells, cue)
    enc_out, enc_bias = model.encode(obj, cue_tok, valid)
    paths = decode_paths_cpu(model, crops, cells, cue, valid, 12)
    prev = torch.cat([torch.full((len(ids), 1), -1, dtype=torch.long), paths[:, :-1].clamp(min=0)], 1)
    logits, cross = model.decode(obj, enc_out, enc_bias, valid, prev)
    write_safetensors(os.path.join(out_dir, "parity.safetensors"), {
        "crops": crops.contiguous(), "cells": cells.contiguous(), "cue": cue.contiguous(),
        "valid": valid.to(torch.uint8), "prev": prev, "greedy_paths": paths,
        "logits": logits.float(), "encoder_out": enc_out.float(),
    }, {"note": "prev[:,0] = -1 is BOS; logits index N = STOP; masked entries are -1e9"})


def decode_paths_cpu(model, crops, cells, cue, valid, steps):
    obj, cue_tok = model.embed(crops, cells, cue)
    enc_out, enc_bias = model.encode(obj, cue_tok, valid)
    b, n = valid.shape
    prev = torch.full((b, 1), -1, dtype=torch.long)
    out = torch.full((b, steps), -1, dtype=torch.long)
    alive = torch.ones(b, dtype=torch.bool)
    for t in range(steps):
        logits, _ = model.decode(obj, enc_out, enc_bias, valid, prev)
        choice = logits[:, -1].argmax(-1)
        alive = alive & (choice != n)
        out[:, t] = torch.where(alive, choice, out[:, t])
        prev = torch.cat([prev, torch.where(alive, choice, torch.zeros_like(choice))[:, None]], 1)
    return out


# ----------------------------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------------------------
def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="folder with train/ val/ test_* split folders")
    ap.add_argument("--out", required=True)
    ap.add_argument("--minutes", type=float, default=4.5, help="wall-clock budget for the training loop")
    ap.add_argument("--steps", type=int, default=8000, help="planned steps (the LR schedule also follows the clock)")
    ap.add_argument("--batch", type=int, default=96, help="displays per step (x subjects = sequences)")
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--samples", type=int, default=10, help="sampled paths per test display")
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--tiny", action="store_true", help="tiny model and few steps (CPU end-to-end check)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    os.makedirs(args.out, exist_ok=True)
    logf = open(os.path.join(args.out, "train_log.txt"), "a")
    t_start = time.time()
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    log(f"torch {torch.__version__} device {device} args {vars(args)}", logf)

    cfg = dict(d_model=256, pe_dim=96, pe_sigma_cells=1.5, heads=4, ffn=256, enc_layers=3, dec_layers=3,
               pointer_heads=2, dropout=0.1, max_steps=31, crop_px=CROP, grid=[GRID_COLS, GRID_ROWS], cell_px=16)
    if args.tiny:
        cfg.update(d_model=64, pe_dim=24, ffn=64, enc_layers=1, dec_layers=1, heads=2)

    train = SplitData(os.path.join(args.data, "train"), device)
    val = SplitData(os.path.join(args.data, "val"), device)
    log(f"train {train.count} displays x {train.subjects} subjects, nmax {train.nmax}; val {val.count}", logf)

    model = OatLite(cfg).to(device)
    params = sum(p.numel() for p in model.parameters())
    log(f"parameters {params} ({params * 2 / 1e6:.2f} MB as F16)", logf)
    decay = [p for n_, p in model.named_parameters() if p.dim() >= 2 and "type_emb" not in n_]
    no_decay = [p for n_, p in model.named_parameters() if not (p.dim() >= 2 and "type_emb" not in n_)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.98))
    budget_s = args.minutes * 60.0
    warmup = min(500, max(10, args.steps // 16))
    use_bf16 = device.type == "cuda"

    stop_flag = {"stop": False}

    def on_signal(signum, frame):
        stop_flag["stop"] = True
        log(f"signal {signum}: finishing up", logf)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    gen = torch.Generator(device="cpu").manual_seed(args.seed)
    step, t_loop = 0, time.time()
    history = []
    best = None
    try:
        while step < args.steps and not stop_flag["stop"]:
            elapsed = time.time() - t_loop
            if elapsed > budget_s:
                log(f"time budget reached at step {step}", logf)
                break
            progress = max(step / args.steps, elapsed / budget_s)
            lr = args.lr * min(1.0, (step + 1) / warmup) * (0.5 * (1 + math.cos(math.pi * min(1.0, progress))))
            lr = max(lr, args.lr * 0.02)
            for g in opt.param_groups:
                g["lr"] = lr
            model.train()
            ids = torch.randint(0, train.count, (args.batch,), generator=gen).to(device)
            if use_bf16:
                with torch.autocast("cuda", dtype=torch.bfloat16):
                    loss, correct, count, _ = run_teacher_forced(model, train, ids, 0.05)
            else:
                loss, correct, count, _ = run_teacher_forced(model, train, ids, 0.05)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            step += 1
            if step % 50 == 0 or step == 1:
                log(f"step {step} loss {loss.item():.4f} acc {correct / max(1, count):.3f} lr {lr:.2e} "
                    f"t {time.time() - t_loop:.0f}s", logf)
            if step % args.eval_every == 0:
                v = evaluate_tf(model, val, 256, use_bf16)
                history.append(dict(step=step, **v))
                log(f"val step {step}: nll/fix {v['nll_per_fixation']:.4f} top1 {v['top1']:.4f}", logf)
    except Exception as e:  # keep what we have: save weights even if the loop failed late
        log(f"training loop stopped by {type(e).__name__}: {e}", logf)
        if step < 10:
            raise
    train_s = time.time() - t_loop
    log(f"trained {step} steps in {train_s:.0f}s", logf)

    extra = dict(parameters=params, steps=step, train_seconds=round(train_s, 1),
                 train_displays=train.count, subjects=train.subjects, torch=torch.__version__,
                 weights_dtype="F16", tensor_order="state_dict names; see recipe/train.py OatLite")
    size = export_model(model, args.out, cfg, extra)
    log(f"model.safetensors {size} bytes", logf)
    model = model.to(device).eval()

    metrics = dict(steps=step, parameters=params, train_seconds=train_s, val_history=history, splits={})
    metrics["val"] = evaluate_tf(model, val, 1024, use_bf16)
    for split in ["test_layout", "test_target", "test_large"]:
        folder = os.path.join(args.data, split)
        if not os.path.isdir(folder):
            continue
        data = SplitData(folder, device)
        tf = evaluate_tf(model, data, data.count, use_bf16)
        preds_g, preds_s = [], []
        g = torch.Generator(device=device).manual_seed(1234) if device.type == "cuda" else \
            torch.Generator().manual_seed(1234)
        for i0 in range(0, data.count, 128):
            ids = torch.arange(i0, min(data.count, i0 + 128), device=device)
            preds_g.append(decode_paths(model, data, ids, 1, cfg["max_steps"], True).cpu())
            preds_s.append(decode_paths(model, data, ids, args.samples, cfg["max_steps"], False, g).cpu())
        pg = torch.cat(preds_g).numpy().astype(np.int16)
        ps = torch.cat(preds_s).numpy().astype(np.int16)
        np.save(os.path.join(args.out, f"preds_{split}_greedy.npy"), pg)
        np.save(os.path.join(args.out, f"preds_{split}_sample.npy"), ps)
        mean_len = float((pg >= 0).sum(-1).mean())
        metrics["splits"][split] = dict(tf, displays=data.count, greedy_mean_length=mean_len,
                                        sample_mean_length=float((ps >= 0).sum(-1).mean()))
        log(f"{split}: {data.count} displays, tf nll/fix {tf['nll_per_fixation']:.4f} top1 {tf['top1']:.4f}, "
            f"greedy length {mean_len:.2f}", logf)
        if split == "test_layout":
            export_parity(model, data, args.out)
            model = model.to(device)
            log("parity.safetensors written", logf)
    with open(os.path.join(args.out, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=2)
    log(f"done in {time.time() - t_start:.0f}s", logf)


@torch.no_grad()
def evaluate_tf(model, data, limit, use_bf16):
    model.eval()
    total_correct = total_count = 0
    total_nll = 0.0
    n = min(limit, data.count)
    for i0 in range(0, n, 128):
        ids = torch.arange(i0, min(n, i0 + 128), device=data.device)
        if use_bf16:
            with torch.autocast("cuda", dtype=torch.bfloat16):
                _, c, k, nll = run_teacher_forced(model, data, ids)
        else:
            _, c, k, nll = run_teacher_forced(model, data, ids)
        total_correct += c
        total_count += k
        total_nll += nll
    return dict(top1=total_correct / max(1, total_count), nll_per_fixation=total_nll / max(1, total_count),
                steps_scored=total_count)


if __name__ == "__main__":
    main()
