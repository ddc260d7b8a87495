#!/usr/bin/env python3
"""GANformer2-inspired plan/execute renderer for CLEVR-like scenes (attnlab issue 10).

Not a reproduction of GANformer2 (Hudson & Zitnick 2021, whose code was never released): the two
stages, sequential back-to-front object drafting, depth composition and token-to-pixel attention
biased by the layout are kept; adversarial training of both stages is replaced by supervised
training on paired renders from our own generator (core/vision/scene).

Stages, each time-boxed by wall clock (lr follows a cosine over the stage's time budget):
  1. evaluator E (small ResNet + per-pixel heads): features for FD_E/KID_E and a segmenter;
  2. planner: autoregressive transformer over object sub-tokens (qy, qx, shape, colour, size,
     material; STOP in the qy slot), objects back to front;
  3. renderer: conv generator 8->64 with token-to-pixel cross-attention at every resolution, logits
     biased by beta*log(mask + eps) (a layout prior, not a hard mask); trained together with the
     ablation that has no layout bias, on the same batches.
Then evaluation (metrics.json), export (model.safetensors in F16, config.json, fixtures.safetensors).

Works with torch 1.13 (CPU) and 2.x (CUDA). Data comes from attnlab-scene-data (see train_gpu.sh).
"""
import argparse
import json
import math
import os
import signal
import struct
import subprocess
import sys
import time
import zlib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

K = 8          # object slots
IMG = 64
BINS = 32
NSH, NCO, NSZ, NMA = 4, 8, 2, 2
# Planner vocabulary: one sub-token per field, objects back to front, STOP in the qy slot.
QY0, STOP, QX0, SH0, CO0, SZ0, MA0, BOS = 0, 32, 33, 65, 69, 77, 79, 81
VOCAB = 82
SEQ = 1 + 6 * K + 1   # BOS + 8 objects + STOP = 50

STOP_FLAG = {"stop": False}


def on_term(signum, frame):
    STOP_FLAG["stop"] = True
    log("signal %d: finishing the current stage early and exporting" % signum)


LOG_FILE = None
T0 = time.time()


def log(msg):
    line = "[%7.1fs] %s" % (time.time() - T0, msg)
    print(line, flush=True)
    if LOG_FILE:
        LOG_FILE.write(line + "\n")
        LOG_FILE.flush()


# ----------------------------------------------------------------------------- data

class SceneSet:
    def __init__(self, d, device, amodal=False):
        meta = json.load(open(os.path.join(d, "meta.json")))
        n = meta["count"]
        self.n = n
        rd = lambda f, dt: np.fromfile(os.path.join(d, f), dtype=dt)
        self.images_np = rd("images.u8", np.uint8).reshape(n, IMG, IMG, 3)
        self.inst_np = rd("inst.u8", np.uint8).reshape(n, IMG, IMG)
        self.tokens_np = rd("tokens.u8", np.uint8).reshape(n, K, 6)
        self.counts_np = rd("counts.u8", np.uint8).reshape(n)
        self.amodal_np = None
        if amodal and os.path.exists(os.path.join(d, "amodal.u8")):
            bits = rd("amodal.u8", np.uint8).reshape(n, K, IMG * IMG // 8)
            self.amodal_np = np.unpackbits(bits, axis=-1).reshape(n, K, IMG, IMG)
        self.images = torch.from_numpy(self.images_np).to(device)
        self.inst = torch.from_numpy(self.inst_np).to(device)
        self.tokens = torch.from_numpy(self.tokens_np.astype(np.int64)).to(device)
        self.counts = torch.from_numpy(self.counts_np.astype(np.int64)).to(device)

    def batch(self, idx):
        return self.images[idx], self.inst[idx], self.tokens[idx], self.counts[idx]


def to_float(img_u8):  # (B,64,64,3) uint8 -> (B,3,64,64) in [-1,1]
    return img_u8.permute(0, 3, 1, 2).float() / 127.5 - 1.0


def to_u8(img):  # (B,3,64,64) [-1,1] -> (B,64,64,3) uint8 numpy
    return ((img.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()


def pixel_targets(inst, tokens):
    """Per-pixel attribute targets from the instance map: shape+1 (0 bg), colour+1, size+1, mat+1."""
    B = inst.shape[0]
    tok = tokens.clone()
    tok[tok == 255] = 0
    pad = torch.zeros(B, 1, 6, dtype=tok.dtype, device=tok.device)
    full = torch.cat([pad, tok + 1], 1)  # slot 0 = background -> all zeros
    full[:, 0] = 0
    idx = inst.long().view(B, -1, 1).expand(-1, -1, 6)
    px = torch.gather(full, 1, idx).view(B, IMG, IMG, 6)
    return px[..., 0], px[..., 1], px[..., 2], px[..., 3]


def run_tool(tool, out_dir, layouts=None, seed_start=0, count=0, amodal=False, extra=()):
    cmd = [tool, "--out", out_dir]
    if layouts is not None:
        cmd += ["--layouts", layouts]
    else:
        cmd += ["--seed-start", str(seed_start), "--count", str(count)]
    if amodal:
        cmd.append("--amodal")
    cmd += list(extra)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


# ----------------------------------------------------------------------------- evaluator

class ResBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1)
        self.n1 = nn.GroupNorm(8, cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.n2 = nn.GroupNorm(8, cout)
        self.skip = nn.Conv2d(cin, cout, 1, stride) if (cin != cout or stride != 1) else nn.Identity()

    def forward(self, x):
        h = F.relu(self.n1(self.c1(x)))
        h = self.n2(self.c2(h))
        return F.relu(h + self.skip(x))


class Evaluator(nn.Module):
    """Small ResNet: GAP features (FD/KID space), count head, per-pixel attribute heads."""

    def __init__(self, widths=(32, 64, 128, 192)):
        super().__init__()
        w = widths
        self.stem = nn.Sequential(nn.Conv2d(3, w[0], 3, 1, 1), nn.GroupNorm(8, w[0]), nn.ReLU())
        self.s1 = ResBlock(w[0], w[0], 1)
        self.s2 = ResBlock(w[0], w[1], 2)
        self.s3 = ResBlock(w[1], w[2], 2)
        self.s4 = ResBlock(w[2], w[3], 2)
        self.count = nn.Linear(w[3], K + 1)
        self.d3 = nn.Conv2d(w[3] + w[2], 96, 3, 1, 1)
        self.d2 = nn.Conv2d(96 + w[1], 64, 3, 1, 1)
        self.d1 = nn.Conv2d(64 + w[0], 48, 3, 1, 1)
        self.seg = nn.Conv2d(48, (NSH + 1) + (NCO + 1) + (NSZ + 1) + (NMA + 1), 1)
        self.feat_dim = w[3]

    def forward(self, x):
        f0 = self.s1(self.stem(x))
        f1 = self.s2(f0)
        f2 = self.s3(f1)
        f3 = self.s4(f2)
        feat = f3.mean((2, 3))
        up = lambda t: F.interpolate(t, scale_factor=2.0, mode="nearest")
        h = F.relu(self.d3(torch.cat([up(f3), f2], 1)))
        h = F.relu(self.d2(torch.cat([up(h), f1], 1)))
        h = F.relu(self.d1(torch.cat([up(h), f0], 1)))
        seg = self.seg(h)
        return {"feat": feat, "count": self.count(feat), "seg": seg, "maps": [f1, f2, f3]}


def split_seg(seg):
    return torch.split(seg, [NSH + 1, NCO + 1, NSZ + 1, NMA + 1], 1)


def seg_loss(seg, inst, tokens):
    tgt = pixel_targets(inst, tokens)
    loss = 0
    for logits, t in zip(split_seg(seg), tgt):
        loss = loss + F.cross_entropy(logits.float(), t)
    return loss


# ----------------------------------------------------------------------------- FD evaluator

class FDEvaluator(nn.Module):
    """The network whose embedding is the FD feature space (used only for metrics; the renderers
    never train against it, unlike E, whose feature maps and segmentation are renderer losses).

    E's global-average-pooled features were nearly one-dimensional (participation ratio 1.08: every
    channel moved with how much of the image the objects cover), so FD_E measured mostly the scene
    content of the sample. Here: a GroupNorm ResNet trunk; average-pooled features at three scales
    (32x32, 16x16 and 8x8 maps) plus the 8x8 map pooled to 2x2 (coarse layout), concatenated and
    LayerNorm-ed, projected to a `dim`-d embedding z. z is trained by multi-task heads on real renders
    (object count; per slot, i.e. per depth rank, shape/colour/size/material/coarse position or
    absent; a 16x16 visible depth-rank map = masks + occlusion order) and a VICReg-style variance +
    covariance term (Bardes, Ponce & LeCun, ICLR 2022; no invariance term: FD must stay sensitive
    to photometric errors) that keeps every dimension alive and the dimensions decorrelated. FD is
    computed on z standardised per channel with statistics from a separate real calibration set."""

    POS_Q = 4  # coarse position bins of the slot heads: 32 / 4 = 8 (+ absent)

    def __init__(self, widths=(32, 64, 128, 192), dim=256, hidden=384):
        super().__init__()
        w = widths
        self.stem = nn.Sequential(nn.Conv2d(3, w[0], 3, 1, 1), nn.GroupNorm(8, w[0]), nn.ReLU())
        self.s1 = ResBlock(w[0], w[0], 1)
        self.s2 = ResBlock(w[0], w[1], 2)
        self.s3 = ResBlock(w[1], w[2], 2)
        self.s4 = ResBlock(w[2], w[3], 2)
        pooled = w[1] + w[2] + w[3] + 4 * w[3]
        self.ln = nn.LayerNorm(pooled)
        self.proj = nn.Linear(pooled, dim)
        nq = BINS // self.POS_Q
        self.slot_sizes = [NSH + 1, NCO + 1, NSZ + 1, NMA + 1, nq + 1, nq + 1]
        self.heads = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(),
                                   nn.Linear(hidden, (K + 1) + K * sum(self.slot_sizes) + 16 * 16 * (K + 1)))
        self.dim = dim

    def forward(self, x):
        f1 = self.s2(self.s1(self.stem(x)))
        f2 = self.s3(f1)
        f3 = self.s4(f2)
        h = torch.cat([f1.mean((2, 3)), f2.mean((2, 3)), f3.mean((2, 3)),
                       F.adaptive_avg_pool2d(f3, 2).flatten(1)], 1)
        return self.proj(self.ln(h.float()))

    def head_losses(self, z, inst, tokens, counts):
        B = z.shape[0]
        out = self.heads(z).float()
        n_slot = K * sum(self.slot_sizes)
        l_count = F.cross_entropy(out[:, :K + 1], counts)
        slots = out[:, K + 1:K + 1 + n_slot].view(B, K, -1)
        t = tokens.clone()
        present = t[..., 0] != 255
        t[t == 255] = 0
        tgt = [t[..., 0] + 1, t[..., 1] + 1, t[..., 2] + 1, t[..., 3] + 1,
               t[..., 4] // self.POS_Q + 1, t[..., 5] // self.POS_Q + 1]
        l_slot, off = 0, 0
        for sz, tg in zip(self.slot_sizes, tgt):
            tg = torch.where(present, tg, torch.zeros_like(tg))  # 0 = absent
            l_slot = l_slot + F.cross_entropy(slots[..., off:off + sz].reshape(-1, sz), tg.reshape(-1))
            off += sz
        rank = out[:, K + 1 + n_slot:].view(B, K + 1, 16, 16)
        l_rank = F.cross_entropy(rank, inst[:, 2::4, 2::4].long())
        return l_count + l_slot / len(self.slot_sizes) + l_rank


def vicreg_var_cov(z):
    """VICReg's variance (hinge on each dimension's std at 1) and covariance (squared off-diagonal
    covariances / dim) terms over a batch."""
    z = z.float()
    zc = z - z.mean(0)
    std = torch.sqrt(zc.pow(2).mean(0) * z.shape[0] / (z.shape[0] - 1) + 1e-4)
    cov = zc.t() @ zc / (z.shape[0] - 1)
    off = cov - torch.diag(torch.diag(cov))
    return F.relu(1.0 - std).mean(), off.pow(2).sum() / z.shape[1]


def feature_spectrum(f):
    """Participation ratio (sum lambda)^2 / sum lambda^2 of the feature covariance, top-5 variance
    share, dead (constant) dimensions."""
    f = f.astype(np.float64)
    lam = np.clip(np.linalg.eigvalsh(np.cov(f, rowvar=False)), 0, None)[::-1]
    return {"dims": int(f.shape[1]), "participation_ratio": float(lam.sum() ** 2 / max((lam ** 2).sum(), 1e-30)),
            "top5_variance_share": float(lam[:5].sum() / max(lam.sum(), 1e-30)),
            "dead_dims": int((f.std(0) < 1e-6).sum()), "trace": float(lam.sum())}


# ----------------------------------------------------------------------------- planner

class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, 4 * d)
        self.fc2 = nn.Linear(4 * d, d)
        self.heads = heads

    def forward(self, x):
        B, L, D = x.shape
        h = self.heads
        q, k, v = self.qkv(self.ln1(x)).view(B, L, 3, h, D // h).permute(2, 0, 3, 1, 4)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(D // h)
        causal = torch.ones(L, L, dtype=torch.bool, device=x.device).triu(1)
        att = att.masked_fill(causal, float("-inf")).softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(B, L, D)
        x = x + self.proj(y)
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


def slot_mask_table():
    """Additive (SEQ, VOCAB) mask: which sub-tokens are legal as the token at position t+1."""
    m = torch.full((SEQ, VOCAB), float("-inf"))
    for t in range(SEQ):  # logits at position t predict token t+1
        nxt = t + 1
        if nxt >= SEQ:
            m[t, STOP] = 0
            continue
        slot = (nxt - 1) % 6
        obj = (nxt - 1) // 6
        if slot == 0:
            if obj >= K:
                m[t, STOP] = 0
            else:
                m[t, QY0:QY0 + BINS] = 0
                if obj >= 1:
                    m[t, STOP] = 0
        elif slot == 1:
            m[t, QX0:QX0 + BINS] = 0
        elif slot == 2:
            m[t, SH0:SH0 + NSH] = 0
        elif slot == 3:
            m[t, CO0:CO0 + NCO] = 0
        elif slot == 4:
            m[t, SZ0:SZ0 + NSZ] = 0
        else:
            m[t, MA0:MA0 + NMA] = 0
    return m


class Planner(nn.Module):
    def __init__(self, d=160, layers=4, heads=4):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, d)
        self.pos = nn.Embedding(SEQ, d)
        self.blocks = nn.ModuleList([Block(d, heads) for _ in range(layers)])
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, VOCAB)
        self.register_buffer("slot_mask", slot_mask_table(), persistent=False)

    def forward(self, seq):  # (B, L) -> (B, L, VOCAB), legal-token masked
        L = seq.shape[1]
        x = self.tok(seq) + self.pos(torch.arange(L, device=seq.device))[None]
        for b in self.blocks:
            x = b(x)
        return self.head(self.ln(x)) + self.slot_mask[:L][None]


def tokens_to_seq(tokens, counts):
    """(B,K,6) [shape,colour,size,mat,qx,qy] -> (B,SEQ) sub-token sequence, -1 after STOP."""
    B = tokens.shape[0]
    seq = torch.full((B, SEQ), -1, dtype=torch.long, device=tokens.device)
    seq[:, 0] = BOS
    t = tokens.clone()
    t[t == 255] = 0
    sub = torch.stack([QY0 + t[..., 5], QX0 + t[..., 4], SH0 + t[..., 0], CO0 + t[..., 1],
                       SZ0 + t[..., 2], MA0 + t[..., 3]], -1).view(B, 6 * K)
    pos = torch.arange(6 * K, device=tokens.device)[None]
    valid = pos < (counts[:, None] * 6)
    body = torch.where(valid, sub, torch.full_like(sub, -1))
    seq[:, 1:1 + 6 * K] = body
    stop_at = 1 + counts * 6
    seq.scatter_(1, stop_at[:, None], STOP)
    return seq


def seq_to_tokens(seq):
    """Sampled sequences -> (B,K,6) uint8 tokens in tool order, 255 padded."""
    B = seq.shape[0]
    out = np.full((B, K, 6), 255, np.uint8)
    s = seq.cpu().numpy()
    for b in range(B):
        for k in range(K):
            base = 1 + 6 * k
            if base >= SEQ or s[b, base] == STOP or s[b, base] < 0:
                break
            qy, qx, sh, co, sz, ma = s[b, base:base + 6]
            out[b, k] = [sh - SH0, co - CO0, sz - SZ0, ma - MA0, qx - QX0, qy - QY0]
    return out


@torch.no_grad()
def sample_planner(model, n, device, temperature=1.0, gen=None):
    seq = torch.full((n, 1), BOS, dtype=torch.long, device=device)
    done = torch.zeros(n, dtype=torch.bool, device=device)
    for t in range(SEQ - 1):
        logits = model(seq)[:, -1] / temperature
        probs = logits.float().softmax(-1)
        nxt = torch.multinomial(probs, 1, generator=gen).squeeze(1)
        nxt = torch.where(done, torch.full_like(nxt, STOP), nxt)
        done = done | (nxt == STOP)
        seq = torch.cat([seq, nxt[:, None]], 1)
        if bool(done.all()):
            break
    return seq


def random_layouts(n, rng, max_count):
    out = np.full((n, K, 6), 255, np.uint8)
    for b in range(n):
        c = rng.integers(1, max_count + 1)
        objs = np.stack([rng.integers(0, NSH, c), rng.integers(0, NCO, c), rng.integers(0, NSZ, c),
                         rng.integers(0, NMA, c), rng.integers(0, BINS, c), rng.integers(0, BINS, c)], 1)
        objs = objs[np.argsort(objs[:, 5], kind="stable")]
        out[b, :c] = objs
    return out


# ----------------------------------------------------------------------------- renderer

def grid_code(res, n=8):
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, res), torch.linspace(-1, 1, res), indexing="ij")
    feats = []
    for i in range(n // 4):
        f = (2 ** i) * math.pi
        feats += [torch.sin(f * xs), torch.cos(f * xs), torch.sin(f * ys), torch.cos(f * ys)]
    return torch.stack(feats, 0)[None]  # (1, n, res, res)


GRID = 8
EPS = 0.02
# Architecture (the defaults are the exported model; --arch tiny makes a small one for C++ test fixtures).
ARCHS = {
    "default": {"planner": {"d": 160, "layers": 4, "heads": 4},
                "renderer": {"dt": 128, "dz": 16, "widths": [192, 160, 112, 64], "dq": 64},
                "evaluator": {"widths": [32, 64, 128, 192]},
                "fd_evaluator": {"widths": [32, 64, 128, 192], "dim": 256}},
    "tiny": {"planner": {"d": 32, "layers": 2, "heads": 2},
             "renderer": {"dt": 32, "dz": 4, "widths": [32, 24, 16, 16], "dq": 16},
             "evaluator": {"widths": [16, 16, 32, 32]},
             "fd_evaluator": {"widths": [16, 16, 32, 32], "dim": 64}},
}
ARCH = dict(ARCHS["default"])  # a copy: main() replaces its contents


class TokenModulation(nn.Module):
    """Pixels attend to tokens; the attended value modulates normalised features (GANformer-style)."""

    def __init__(self, C, dt, use_layout, dq):
        super().__init__()
        self.q = nn.Conv2d(C + GRID, dq, 1)
        self.k = nn.Linear(dt, dq)
        self.gb = nn.Linear(dt, 2 * C)
        nn.init.zeros_(self.gb.weight)
        nn.init.zeros_(self.gb.bias)
        self.norm = nn.GroupNorm(8 if C % 8 == 0 else 4, C, affine=False)
        self.use_layout = use_layout
        self.beta = nn.Parameter(torch.tensor(1.0)) if use_layout else None
        self.dq = dq

    def forward(self, x, grid, tok, key_add, masks):
        B, C, H, W = x.shape
        q = self.q(torch.cat([x, grid.expand(B, -1, -1, -1).to(x.dtype)], 1)).flatten(2).transpose(1, 2)
        k = self.k(tok)
        logits = (q @ k.transpose(1, 2)).float() / math.sqrt(self.dq) + key_add[:, None, :]
        if self.use_layout:
            m = F.adaptive_avg_pool2d(masks, H).flatten(2).transpose(1, 2)  # (B, HW, T)
            logits = logits + self.beta * torch.log(m + EPS)
        a = logits.softmax(-1)
        gb = (a.to(x.dtype) @ self.gb(tok)).transpose(1, 2).reshape(B, 2 * C, H, W)
        g, b = gb.chunk(2, 1)
        return self.norm(x) * (1 + g) + b, a


class GBlock(nn.Module):
    def __init__(self, cin, cout, dt, use_layout, up, dq):
        super().__init__()
        self.up = up
        self.c1 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.m1 = TokenModulation(cout, dt, use_layout, dq)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.m2 = TokenModulation(cout, dt, use_layout, dq)

    def forward(self, x, grid, tok, key_add, masks, attn):
        if self.up:
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        x, a1 = self.m1(F.leaky_relu(self.c1(x), 0.2), grid, tok, key_add, masks)
        x, a2 = self.m2(F.leaky_relu(self.c2(x), 0.2), grid, tok, key_add, masks)
        attn += [a1, a2]
        return x


class Renderer(nn.Module):
    """Layout tokens (+ visible masks as an attention prior) -> 64x64 image."""

    def __init__(self, use_layout=True, dt=128, dz=16, widths=(192, 160, 112, 64), dq=64):
        super().__init__()
        self.use_layout, self.dt, self.dz = use_layout, dt, dz
        self.e_shape = nn.Embedding(NSH, dt)
        self.e_colour = nn.Embedding(NCO, dt)
        self.e_size = nn.Embedding(NSZ, dt)
        self.e_mat = nn.Embedding(NMA, dt)
        self.e_qx = nn.Embedding(BINS, dt)
        self.e_qy = nn.Embedding(BINS, dt)
        self.e_rank = nn.Embedding(K, dt)
        self.bg = nn.Parameter(torch.randn(dt) * 0.02)
        self.noise = nn.Linear(dz, dt)
        self.mlp = nn.Sequential(nn.Linear(dt, dt), nn.LeakyReLU(0.2), nn.Linear(dt, dt))
        w = widths
        self.const = nn.Parameter(torch.randn(1, w[0], 8, 8) * 0.1)
        self.c_in = nn.Conv2d(w[0] + GRID, w[0], 1)
        self.blocks = nn.ModuleList([GBlock(w[0], w[0], dt, use_layout, False, dq),
                                     GBlock(w[0], w[1], dt, use_layout, True, dq),
                                     GBlock(w[1], w[2], dt, use_layout, True, dq),
                                     GBlock(w[2], w[3], dt, use_layout, True, dq)])
        self.rgb = nn.Conv2d(w[3], 3, 1)
        for r in (8, 16, 32, 64):
            self.register_buffer("grid%d" % r, grid_code(r, GRID), persistent=False)

    def tokens(self, tokens, counts, noise):
        B = tokens.shape[0]
        t = tokens.clone()
        t[t == 255] = 0
        rank = torch.arange(K, device=t.device)[None].expand(B, -1)
        obj = (self.e_shape(t[..., 0]) + self.e_colour(t[..., 1]) + self.e_size(t[..., 2]) +
               self.e_mat(t[..., 3]) + self.e_qx(t[..., 4]) + self.e_qy(t[..., 5]) + self.e_rank(rank))
        allt = torch.cat([self.bg.expand(B, 1, -1), obj], 1) + self.noise(noise)
        tok = allt + self.mlp(allt)
        present = torch.cat([torch.ones(B, 1, dtype=torch.bool, device=t.device),
                             rank < counts[:, None]], 1)
        key_add = torch.zeros(B, K + 1, device=t.device).masked_fill(~present, -1e4)
        return tok, key_add

    def forward(self, tokens, counts, inst, noise, return_attn=False):
        B = tokens.shape[0]
        masks = F.one_hot(inst.long(), K + 1).permute(0, 3, 1, 2).float()  # (B, K+1, 64, 64)
        tok, key_add = self.tokens(tokens, counts, noise)
        x = self.c_in(torch.cat([self.const.expand(B, -1, -1, -1), self.grid8.expand(B, -1, -1, -1)], 1))
        attn = []
        for blk, r in zip(self.blocks, (8, 16, 32, 64)):
            x = blk(x, getattr(self, "grid%d" % r), tok, key_add, masks, attn)
        img = self.rgb(F.leaky_relu(x, 0.2))
        return (img, attn) if return_attn else img


def make_planner():
    a = ARCH["planner"]
    return Planner(a["d"], a["layers"], a["heads"])


def make_renderer(use_layout):
    a = ARCH["renderer"]
    return Renderer(use_layout, a["dt"], a["dz"], tuple(a["widths"]), a["dq"])


def make_evaluator():
    return Evaluator(tuple(ARCH["evaluator"]["widths"]))


def make_fd_evaluator():
    a = ARCH["fd_evaluator"]
    return FDEvaluator(tuple(a["widths"]), a["dim"])


# ----------------------------------------------------------------------------- metrics

def fd(f1, f2):
    f1, f2 = f1.astype(np.float64), f2.astype(np.float64)
    mu1, mu2 = f1.mean(0), f2.mean(0)
    s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    w, v = np.linalg.eigh(s1)
    sq1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    m = sq1 @ s2 @ sq1
    ev = np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.sqrt(ev).sum())


def kid(f1, f2, subsets=50, size=1000, seed=0):
    rng = np.random.default_rng(seed)
    f1, f2 = f1.astype(np.float64), f2.astype(np.float64)
    d = f1.shape[1]
    m = min(size, len(f1), len(f2))
    vals = []
    for _ in range(subsets):
        x = f1[rng.choice(len(f1), m, replace=False)]
        y = f2[rng.choice(len(f2), m, replace=False)]
        kxx = (x @ x.T / d + 1) ** 3
        kyy = (y @ y.T / d + 1) ** 3
        kxy = (x @ y.T / d + 1) ** 3
        vals.append((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
                    - 2 * kxy.mean())
    return float(np.mean(vals))


@torch.no_grad()
def evaluate_images(E, images_u8, device, bs=256):
    """images_u8: numpy (N,64,64,3) -> feats, count prediction, per-pixel attribute argmaxes."""
    feats, counts, preds = [], [], []
    for i in range(0, len(images_u8), bs):
        x = to_float(torch.from_numpy(images_u8[i:i + bs]).to(device))
        o = E(x)
        feats.append(o["feat"].float().cpu().numpy())
        counts.append(o["count"].argmax(1).cpu().numpy())
        preds.append(np.stack([h.argmax(1).cpu().numpy() for h in split_seg(o["seg"].float())], 1))
    return np.concatenate(feats), np.concatenate(counts), np.concatenate(preds).astype(np.int16)


def layout_metrics(pred_counts, preds, inst, tokens, counts, amodal, pairs=None):
    """Consistency of images (E's predictions) with their layouts (GT instance/amodal masks).
    pairs (a list) receives (scene, overlap pixels, correct) for every occlusion pair scored."""
    n = len(counts)
    count_acc = float((pred_counts == counts).mean())
    attr_ok = attr_tot = 0
    field_ok = np.zeros(4)
    ious = []
    occ_ok = occ_tot = 0
    for b in range(n):
        c = counts[b]
        shp, col = preds[b, 0], preds[b, 1]
        # shape/colour heads predict value+1 (0 = background); class id = 1 + shape*NCO + colour
        cls_pred = np.where((shp > 0) & (col > 0), 1 + (shp - 1) * NCO + (col - 1), 0)
        cls_gt = np.zeros((IMG, IMG), np.int64)
        objcls = []
        for k in range(c):
            t = tokens[b, k]
            oc = 1 + int(t[0]) * NCO + int(t[1])
            objcls.append(oc)
            vis = inst[b] == k + 1
            cls_gt[vis] = oc
            if vis.sum() >= 4:
                votes = [np.bincount(preds[b, f][vis], minlength=9).argmax() for f in range(4)]
                ok = [votes[0] == t[0] + 1, votes[1] == t[1] + 1, votes[2] == t[2] + 1, votes[3] == t[3] + 1]
                field_ok += ok
                attr_ok += all(ok)
                attr_tot += 1
        for oc in set(objcls):
            g, p = cls_gt == oc, cls_pred == oc
            ious.append((g & p).sum() / max(1, (g | p).sum()))
        if amodal is not None:
            for i in range(c):
                for j in range(i + 1, c):
                    if objcls[i] == objcls[j]:
                        continue
                    region = amodal[b, i].astype(bool) & (inst[b] == j + 1)
                    if region.sum() < 4:
                        continue
                    cp = cls_pred[region]
                    ok = int((cp == objcls[j]).sum() > (cp == objcls[i]).sum())
                    occ_ok += ok
                    occ_tot += 1
                    if pairs is not None:
                        pairs.append((b, int(region.sum()), ok))
    return {"count_acc": count_acc,
            "attribute_acc": attr_ok / max(1, attr_tot),
            "shape_acc": field_ok[0] / max(1, attr_tot), "colour_acc": field_ok[1] / max(1, attr_tot),
            "size_acc": field_ok[2] / max(1, attr_tot), "material_acc": field_ok[3] / max(1, attr_tot),
            "visible_miou": float(np.mean(ious)) if ious else 0.0,
            "occlusion_order_acc": occ_ok / max(1, occ_tot), "occlusion_pairs": occ_tot,
            "objects_scored": attr_tot, "scenes": int(n)}


OVERLAP_BINS = [4, 8, 16, 32, 64, 128, 1 << 20]


def occlusion_standardised(pairs, ref_pairs):
    """Occlusion-order accuracy re-weighted to the overlap-size distribution of ref_pairs (direct
    standardisation over OVERLAP_BINS). Raw accuracies of two layout sources average over different
    pair populations (uniformly random layouts have about twice as many pairs, with another mix of
    overlap sizes), so they can differ by that mix alone; accuracy depends strongly on the overlap
    size (results/ANALYSIS.md). Comparing at a common overlap distribution removes that confound."""
    p = np.asarray(pairs, np.float64).reshape(-1, 3)
    r = np.asarray(ref_pairs, np.float64).reshape(-1, 3)
    acc = wsum = 0.0
    for lo, hi in zip(OVERLAP_BINS[:-1], OVERLAP_BINS[1:]):
        w = ((r[:, 1] >= lo) & (r[:, 1] < hi)).mean() if len(r) else 0.0
        sel = (p[:, 1] >= lo) & (p[:, 1] < hi)
        if w > 0 and sel.any():
            acc += w * p[sel, 2].mean()
            wsum += w
    return float(acc / wsum) if wsum else 0.0


def fd_paired_difference_ci(fa, fb, fref, n=100, seed=0):
    """95% bootstrap interval of FD(fa, ref) - FD(fb, ref), where fa[i] and fb[i] come from the same
    layout (resampled together) and ref is resampled independently."""
    rng = np.random.default_rng(seed)
    d = []
    for _ in range(n):
        i = rng.integers(0, len(fa), len(fa))
        j = rng.integers(0, len(fref), len(fref))
        d.append(fd(fa[i], fref[j]) - fd(fb[i], fref[j]))
    return [float(np.percentile(d, 2.5)), float(np.percentile(d, 97.5))]


def fd_moments(f):
    f = f.astype(np.float64)
    s = np.cov(f, rowvar=False)
    w, v = np.linalg.eigh(s)
    return f.mean(0), s, (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def fd_from_moments(m1, f2):
    """FD between a set given by fd_moments() and the features f2 (same value as fd())."""
    mu1, s1, sq1 = m1
    f2 = f2.astype(np.float64)
    mu2, s2 = f2.mean(0), np.cov(f2, rowvar=False)
    m = sq1 @ s2 @ sq1
    ev = np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.sqrt(ev).sum())


def fd_difference_bootstrap(fa, fb, fref, paired, n=200, seed=0, budget_s=1e9, min_n=30):
    """FD(fa, ref) - FD(fb, ref) with a 95% bootstrap interval. fa[i] and fb[i] come from the same
    layout and are resampled together; paired=True: fref[i] is the real render of that layout too
    (resampled with them), else fref is an independent real set (resampled independently). Stops
    early after budget_s seconds (at least min_n resamples) or on SIGTERM; reports how many it used."""
    rng = np.random.default_rng(seed)
    m0 = fd_moments(fref)
    est = fd_from_moments(m0, fa) - fd_from_moments(m0, fb)
    d, t0 = [], time.time()
    for _ in range(n):
        i = rng.integers(0, len(fa), len(fa))
        j = i if paired else rng.integers(0, len(fref), len(fref))
        m = fd_moments(fref[j])
        d.append(fd_from_moments(m, fa[i]) - fd_from_moments(m, fb[i]))
        if len(d) >= min_n and (time.time() - t0 > budget_s or STOP_FLAG["stop"]):
            break
    lo, hi = float(np.percentile(d, 2.5)), float(np.percentile(d, 97.5))
    # FD is biased at finite n and resampling with replacement changes the bias (duplicated rows), so
    # the percentile interval can be shifted away from the estimate; the basic (reverse-percentile)
    # interval corrects for that shift. fd_bar() requires both to lie below 0.
    return {"estimate": float(est), "ci95": [2 * est - hi, 2 * est - lo], "ci95_percentile": [lo, hi],
            "bootstrap_mean": float(np.mean(d)), "bootstrap_resamples": len(d)}


@torch.no_grad()
def fd_features(Q, images_u8, device, bs=256):
    """The FD evaluator's embedding z (N, dim), float64, not yet standardised."""
    out = []
    for i in range(0, len(images_u8), bs):
        out.append(Q(to_float(torch.from_numpy(images_u8[i:i + bs]).to(device))).float().cpu().numpy())
    return np.concatenate(out).astype(np.float64)


def degrade(images_u8, kind, rng):
    """Known degradations of real renders (FD must respond to them)."""
    x = images_u8.astype(np.float64)
    if kind == "noise_sigma4":
        x = x + rng.normal(0, 4.0, x.shape)
    elif kind == "blur_sigma1":
        k = np.exp(-0.5 * np.arange(-2, 3) ** 2)
        k /= k.sum()
        for ax in (1, 2):
            xp = np.pad(x, [(0, 0)] + [(2, 2) if a == ax else (0, 0) for a in (1, 2)] + [(0, 0)], mode="edge")
            x = sum(k[i] * np.take(xp, np.arange(i, i + IMG), axis=ax) for i in range(5))
    elif kind == "red_plus8":
        x[..., 0] += 8
    return np.clip(x.round(), 0, 255).astype(np.uint8)


def evaluate_fd_space(args, Q, device, real_sets, n, test_images, gen_images, metrics):
    """FD in the FD evaluator's standardised embedding. real_sets: name -> uint8 images of independent
    seed ranges ('calib' gives the standardisation, 'ref' is the FD reference); test_images: the real
    renders of the n held-out layouts; gen_images: name -> images rendered from those layouts."""
    t_start = time.time()
    z_cal = fd_features(Q, real_sets["calib"], device)
    mu, sd = z_cal.mean(0), z_cal.std(0)
    sd = np.maximum(sd, 1e-2 * max(sd.mean(), 1e-12))  # a dimension constant on real data is not amplified

    def feat(images):
        return (fd_features(Q, images, device) - mu) / sd

    real = {k: feat(v) for k, v in real_sets.items() if k != "calib"}
    f_test = feat(test_images)
    real["test"] = f_test
    out = {"space": "FD evaluator embedding z (%d-d), standardised per channel with a real calibration set "
                    "(seeds 60,000,000..); see FDEvaluator" % Q.dim,
           "spectrum_real_ref_standardised": feature_spectrum(real["ref"]),
           "spectrum_real_ref_raw_z": feature_spectrum(real["ref"] * sd + mu)}
    names = sorted(real)
    floor = {}
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            floor["%s_vs_%s" % (names[i], names[j])] = fd(real[names[i]], real[names[j]])
    vals = list(floor.values())
    out["real_vs_real_noise_floor"] = {"pairs": floor, "min": float(min(vals)), "max": float(max(vals)),
                                      "median": float(np.median(vals)), "n_per_set": int(len(real["ref"]))}
    log("FD space: %s; real-vs-real floor %s" % (json.dumps(out["spectrum_real_ref_standardised"]),
                                                json.dumps(out["real_vs_real_noise_floor"])))
    feats = {k: feat(v) for k, v in gen_images.items()}
    rng = np.random.default_rng(3)
    for kind in ("noise_sigma4", "blur_sigma1", "red_plus8"):
        feats["real_degraded_" + kind] = feat(degrade(test_images, kind, rng))
    m_test = fd_moments(f_test)
    srcs = {}
    for k, f in feats.items():
        srcs[k] = {"fd_unpaired_vs_ref": fd(f, real["ref"]),
                   "fd_unpaired_vs_other_real_sets": {r: fd(f, real[r]) for r in names if r not in ("ref", "test")},
                   "fd_paired_vs_real_same_layouts": fd_from_moments(m_test, f)}
        log("FD space %s: unpaired vs ref %.3f, paired vs real renders of the same layouts %.4f" %
            (k, srcs[k]["fd_unpaired_vs_ref"], srcs[k]["fd_paired_vs_real_same_layouts"]))
    out["sources"] = srcs
    diffs = {}
    per = args.boot_budget / 4.0
    for base in ("renderer_no_layout_attention", "mean_image"):
        for paired in (True, False):
            key = "renderer_minus_%s_%s" % (base, "paired" if paired else "unpaired")
            diffs[key] = fd_difference_bootstrap(feats["renderer"], feats[base], f_test if paired else real["ref"],
                                                 paired, n=args.boot_n, seed=21, budget_s=per)
            log("FD space %s: %s" % (key, json.dumps(diffs[key])))
    out["differences"] = diffs
    out["seconds"] = time.time() - t_start
    metrics["fd"] = out
    return out


# ----------------------------------------------------------------------------- io

def write_safetensors(path, tensors, metadata=None):
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        dt = {torch.float32: "F32", torch.float16: "F16", torch.int64: "I64", torch.uint8: "U8"}[t.dtype]
        raw = t.numpy().tobytes()
        header[name] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def write_png(path, rgb):
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].tobytes() for y in range(h))

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
                chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


# ----------------------------------------------------------------------------- training helpers

def cosine_lr(opt, base, frac, warm=0.03):
    lr = base * (frac / warm if frac < warm else 0.5 * (1 + math.cos(math.pi * min(1.0, (frac - warm) / (1 - warm)))))
    for g in opt.param_groups:
        g["lr"] = lr
    return lr


def autocast(device):
    if device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return torch.autocast(device_type="cpu", enabled=False)


def nparams(m):
    return sum(p.numel() for p in m.parameters())


def train_evaluator(E, train, val, args, device):
    opt = torch.optim.AdamW(E.parameters(), lr=args.lr_eval, weight_decay=1e-4)
    t0, step = time.time(), 0
    g = torch.Generator(device="cpu").manual_seed(1)
    while not STOP_FLAG["stop"]:
        frac = (time.time() - t0) / args.budget_eval
        if frac >= 1 or (args.max_steps and step >= args.max_steps):
            break
        cosine_lr(opt, args.lr_eval, frac)
        idx = torch.randint(0, train.n, (args.bs_eval,), generator=g).to(device)
        img, inst, tok, cnt = train.batch(idx)
        x = to_float(img)
        # light photometric jitter so E is not brittle to the renderer's small colour errors
        x = (x + 0.03 * torch.randn(x.shape[0], 3, 1, 1, device=device)).clamp(-1, 1)
        with autocast(device):
            o = E(x)
        loss = F.cross_entropy(o["count"].float(), cnt) + seg_loss(o["seg"], inst, tok)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if step % 100 == 0 or step == 1:
            log("evaluator step %d loss %.4f (%.0f%% of budget)" % (step, loss.item(), 100 * frac))
    E.eval()
    log("evaluator: %d steps in %.1fs" % (step, time.time() - t0))
    return step


def train_fd_evaluator(Q, train, args, device):
    """Multi-task heads + VICReg variance/covariance on the embedding; real renders of E's seed range
    only, no photometric jitter (the FD space must see colour errors), no test data."""
    opt = torch.optim.AdamW(Q.parameters(), lr=args.lr_eval, weight_decay=1e-4)
    t0, step = time.time(), 0
    g = torch.Generator(device="cpu").manual_seed(4)
    while not STOP_FLAG["stop"]:
        frac = (time.time() - t0) / args.budget_fd
        if frac >= 1 or (args.max_steps and step >= args.max_steps):
            break
        cosine_lr(opt, args.lr_eval, frac)
        idx = torch.randint(0, train.n, (args.bs_eval,), generator=g).to(device)
        img, inst, tok, cnt = train.batch(idx)
        with autocast(device):
            z = Q(to_float(img))
            l_task = Q.head_losses(z, inst, tok, cnt)
        l_var, l_cov = vicreg_var_cov(z)
        loss = l_task + args.w_var * l_var + args.w_cov * l_cov
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if step % 100 == 0 or step == 1:
            log("fd evaluator step %d loss %.4f (tasks %.4f var %.4f cov %.4f; %.0f%% of budget)" %
                (step, loss.item(), l_task.item(), l_var.item(), l_cov.item(), 100 * frac))
    Q.eval()
    log("fd evaluator: %d steps in %.1fs" % (step, time.time() - t0))
    return step


def train_planner(P, train, val, args, device):
    opt = torch.optim.AdamW(P.parameters(), lr=args.lr_plan, weight_decay=0.05, betas=(0.9, 0.95))
    seq_all = tokens_to_seq(train.tokens, train.counts)
    t0, step = time.time(), 0
    g = torch.Generator(device="cpu").manual_seed(2)
    while not STOP_FLAG["stop"]:
        frac = (time.time() - t0) / args.budget_plan
        if frac >= 1 or (args.max_steps and step >= args.max_steps):
            break
        cosine_lr(opt, args.lr_plan, frac)
        idx = torch.randint(0, train.n, (args.bs_plan,), generator=g).to(device)
        seq = seq_all[idx]
        inp = seq[:, :-1].clamp(min=0)
        with autocast(device):
            logits = P(inp)
        loss = F.cross_entropy(logits.float().reshape(-1, VOCAB), seq[:, 1:].reshape(-1), ignore_index=-1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(P.parameters(), 1.0)
        opt.step()
        step += 1
        if step % 200 == 0 or step == 1:
            log("planner step %d loss %.4f (%.0f%% of budget)" % (step, loss.item(), 100 * frac))
    P.eval()
    with torch.no_grad():
        seq = tokens_to_seq(val.tokens, val.counts)
        nll, ntok = 0.0, 0
        for i in range(0, val.n, 512):
            s = seq[i:i + 512]
            lg = P(s[:, :-1].clamp(min=0)).float()
            tgt = s[:, 1:]
            nll += F.cross_entropy(lg.reshape(-1, VOCAB), tgt.reshape(-1), ignore_index=-1, reduction="sum").item()
            ntok += int((tgt >= 0).sum())
    log("planner: %d steps in %.1fs, held-out NLL %.4f nats/sub-token" % (step, time.time() - t0, nll / ntok))
    return step, nll / ntok


def renderer_loss(R, E, img, inst, tok, cnt, device, args):
    target = to_float(img)
    noise = torch.randn(img.shape[0], K + 1, R.dz, device=device)
    with autocast(device):
        out = R(tok, cnt, inst, noise)
    out = out.float()
    loss = (out - target).abs().mean()
    for s in (2, 4):
        loss = loss + (F.avg_pool2d(out, s) - F.avg_pool2d(target, s)).abs().mean()
    if E is not None and (args.w_perc > 0 or args.w_sem > 0):
        with autocast(device):
            of = E(out)
            with torch.no_grad():
                tf = E(target)
        if args.w_perc > 0:
            loss = loss + args.w_perc * sum((a.float() - b.float()).abs().mean() for a, b in zip(of["maps"], tf["maps"]))
        if args.w_sem > 0:
            loss = loss + args.w_sem * seg_loss(of["seg"], inst, tok)
    return loss


def train_renderers(Rs, E, train, args, device):
    opts = [torch.optim.Adam(R.parameters(), lr=args.lr_render, betas=(0.5, 0.99)) for R in Rs]
    t0, step = time.time(), 0
    g = torch.Generator(device="cpu").manual_seed(3)
    for p in E.parameters():
        p.requires_grad_(False)
    while not STOP_FLAG["stop"]:
        frac = (time.time() - t0) / args.budget_render
        if frac >= 1 or (args.max_steps and step >= args.max_steps):
            break
        idx = torch.randint(0, train.n, (args.bs_render,), generator=g).to(device)
        img, inst, tok, cnt = train.batch(idx)
        losses = []
        for R, opt in zip(Rs, opts):
            cosine_lr(opt, args.lr_render, frac)
            loss = renderer_loss(R, E, img, inst, tok, cnt, device, args)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            # log the loss of the step that is printed below (step is incremented after this loop)
            losses.append(loss.item() if ((step + 1) % 100 == 0 or step == 0) else 0.0)
        step += 1
        if step % 100 == 0 or step == 1:
            log("renderer step %d loss main %.4f ablation %.4f (%.0f%% of budget)" %
                (step, losses[0], losses[1], 100 * frac))
    for R in Rs:
        R.eval()
    log("renderers: %d steps in %.1fs" % (step, time.time() - t0))
    return step


@torch.no_grad()
def render_all(R, tokens_np, counts_np, inst_np, device, seed=0, bs=256):
    g = torch.Generator(device="cpu").manual_seed(seed)
    outs = []
    for i in range(0, len(tokens_np), bs):
        tok = torch.from_numpy(tokens_np[i:i + bs].astype(np.int64)).to(device)
        cnt = torch.from_numpy(counts_np[i:i + bs].astype(np.int64)).to(device)
        inst = torch.from_numpy(inst_np[i:i + bs]).to(device)
        noise = torch.randn(len(tok), K + 1, R.dz, generator=g).to(device)
        with autocast(device):
            out = R(tok, cnt, inst, noise)
        outs.append(to_u8(out.float()))
    return np.concatenate(outs)


# ----------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="folder with train/, evtrain/, test/, ref/ from attnlab-scene-data")
    ap.add_argument("--tool", required=True, help="attnlab-scene-data executable (rasterises sampled layouts)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--tiny", action="store_true", help="tiny budgets for a CPU smoke test")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--budget-eval", type=float, default=50)
    ap.add_argument("--budget-fd", type=float, default=35, help="FD evaluator (metrics only)")
    ap.add_argument("--budget-plan", type=float, default=60)
    ap.add_argument("--budget-render", type=float, default=220)
    ap.add_argument("--max-steps", type=int, default=0, help="cap per stage (0 = time only)")
    ap.add_argument("--bs-eval", type=int, default=256)
    ap.add_argument("--bs-plan", type=int, default=512)
    ap.add_argument("--bs-render", type=int, default=128)
    ap.add_argument("--lr-eval", type=float, default=2e-3)
    ap.add_argument("--lr-plan", type=float, default=6e-4)
    ap.add_argument("--lr-render", type=float, default=1e-3)
    ap.add_argument("--w-perc", type=float, default=0.1)
    ap.add_argument("--w-sem", type=float, default=0.05)
    ap.add_argument("--w-var", type=float, default=10.0, help="FD evaluator: VICReg variance term")
    ap.add_argument("--w-cov", type=float, default=1.0, help="FD evaluator: VICReg covariance term")
    ap.add_argument("--boot-n", type=int, default=200, help="bootstrap resamples of each FD difference")
    ap.add_argument("--boot-budget", type=float, default=30, help="seconds for the four FD-difference bootstraps")
    ap.add_argument("--n-eval-layouts", type=int, default=2000)
    ap.add_argument("--max-train-objects", type=int, default=6)
    ap.add_argument("--export-budget-mb", type=float, default=10.0)
    ap.add_argument("--arch", choices=sorted(ARCHS), default="default")
    args = ap.parse_args()
    ARCH.clear()
    ARCH.update(json.loads(json.dumps(ARCHS[args.arch])))
    if args.tiny:
        args.budget_eval, args.budget_fd, args.budget_plan, args.budget_render = 8, 6, 8, 12
        args.boot_n, args.boot_budget = 40, 8
        args.bs_eval, args.bs_plan, args.bs_render = 16, 32, 8
        args.n_eval_layouts = 48

    global LOG_FILE
    os.makedirs(args.out, exist_ok=True)
    LOG_FILE = open(os.path.join(args.out, "train_log.txt"), "a")
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    device = torch.device(args.device)
    torch.manual_seed(0)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    log("torch %s on %s; args %s" % (torch.__version__, device, vars(args)))

    train = SceneSet(os.path.join(args.data, "train"), device)
    evtrain = SceneSet(os.path.join(args.data, "evtrain"), device)
    test = SceneSet(os.path.join(args.data, "test"), device, amodal=True)
    ref = SceneSet(os.path.join(args.data, "ref"), device)
    log("data: train %d, evaluator-train %d, test %d, reference %d" % (train.n, evtrain.n, test.n, ref.n))
    # More real renders of independent seed ranges for the FD space: calibration (standardisation
    # statistics) and two more reference sets (the real-vs-real noise floor). Kept on the CPU.
    extra_real = {}
    for name in ("calib", "ref2", "ref3"):
        d = os.path.join(args.data, name)
        if os.path.exists(os.path.join(d, "meta.json")):
            extra_real[name] = SceneSet(d, "cpu").images_np
    if "calib" not in extra_real:
        log("no calib/ set: FD standardisation statistics from the last 2000 evaluator-training renders")
        extra_real["calib"] = evtrain.images_np[-2000:]
    log("extra real sets: %s" % {k: len(v) for k, v in extra_real.items()})

    E = make_evaluator().to(device)
    Q = make_fd_evaluator().to(device)
    P = make_planner().to(device)
    R = make_renderer(True).to(device)
    RA = make_renderer(False).to(device)
    sizes = {"evaluator": nparams(E), "fd_evaluator": nparams(Q), "planner": nparams(P), "renderer": nparams(R), "renderer_ablation": nparams(RA)}
    log("parameters: %s" % sizes)
    metrics = {"model": "GANformer2-inspired plan/execute renderer (not a reproduction)", "parameters": sizes,
               "fd_evaluator_arch": dict(ARCH["fd_evaluator"], tensors="evaluator.safetensors: fd_evaluator.*"),
               "torch": torch.__version__, "device": str(device), "tiny": bool(args.tiny)}
    timings = {}

    def export(stage):
        t = time.time()
        export_all(args, E, P, R, metrics, stage, RA, Q)
        log("exported after %s (%.1fs)" % (stage, time.time() - t))

    # 1. evaluator (trained only on real renders from its own seed range)
    t = time.time()
    metrics["evaluator_steps"] = train_evaluator(E, evtrain, test, args, device)
    timings["evaluator"] = time.time() - t
    # 1b. FD evaluator (metrics only; same seed range, never seen by the renderers)
    t = time.time()
    metrics["fd_evaluator_steps"] = train_fd_evaluator(Q, evtrain, args, device)
    timings["fd_evaluator"] = time.time() - t
    # 2. planner
    STOP_FLAG["stop"] = STOP_FLAG["stop"]
    t = time.time()
    metrics["planner_steps"], metrics["planner_heldout_nll"] = train_planner(P, train, test, args, device)
    timings["planner"] = time.time() - t
    export("planner")
    # 3. renderers (main + no-layout-attention ablation, same batches)
    t = time.time()
    metrics["renderer_steps"] = train_renderers([R, RA], E, train, args, device)
    timings["renderers"] = time.time() - t
    export("renderer")

    # 4. evaluation
    t = time.time()
    try:
        evaluate(args, E, P, R, RA, train, test, ref, device, metrics, Q, extra_real)
    except Exception as e:  # keep the weights and what was measured so far
        log("evaluation failed: %r" % (e,))
        metrics["evaluation_error"] = repr(e)
    timings["evaluation"] = time.time() - t
    metrics["timings_s"] = timings
    export("evaluation")
    json.dump(metrics, open(os.path.join(args.out, "metrics.json"), "w"), indent=1)
    log("done in %.1fs" % (time.time() - T0))


def evaluate(args, E, P, R, RA, train, test, ref, device, metrics, Q=None, extra_real=None):
    n = min(args.n_eval_layouts, test.n)
    work = os.path.join(args.data, "_work")
    os.makedirs(work, exist_ok=True)

    # E on real held-out renders: the ceiling of the layout metrics and a sanity check of E.
    f_test, c_test, p_test = evaluate_images(E, test.images_np[:n], device)
    f_ref, _, _ = evaluate_images(E, ref.images_np, device)
    m_real = layout_metrics(c_test, p_test, test.inst_np[:n], test.tokens_np[:n], test.counts_np[:n],
                            test.amodal_np[:n] if test.amodal_np is not None else None)
    metrics["real_test_layout_metrics"] = m_real
    log("E on real test renders: %s" % json.dumps(m_real))
    half = len(f_ref) // 2
    metrics["fd_real_vs_real"] = fd(f_test, f_ref)
    metrics["kid_real_vs_real"] = kid(f_test, f_ref)

    # Renderer on held-out ground-truth layouts (paired): L1/PSNR + FD/KID vs reference renders.
    img_main = render_all(R, test.tokens_np[:n], test.counts_np[:n], test.inst_np[:n], device)
    img_abl = render_all(RA, test.tokens_np[:n], test.counts_np[:n], test.inst_np[:n], device)
    mean_img = np.repeat(train.images_np[:min(train.n, 20000)].astype(np.float64).mean(0, keepdims=True).round()
                         .astype(np.uint8), n, 0)
    gt = test.images_np[:n].astype(np.float64)
    imgs = {"renderer": img_main, "renderer_no_layout_attention": img_abl, "mean_image": mean_img}
    img_metrics = {}
    feats = {}
    for name, im in imgs.items():
        f, c, p = evaluate_images(E, im, device)
        feats[name] = f
        mse = ((im.astype(np.float64) - gt) ** 2).mean()
        lm = layout_metrics(c, p, test.inst_np[:n], test.tokens_np[:n], test.counts_np[:n],
                            test.amodal_np[:n] if test.amodal_np is not None else None)
        img_metrics[name] = {"fd_e": fd(f, f_ref), "kid_e": kid(f, f_ref),
                             # against the real renders of the very same layouts: no layout sampling noise
                             "fd_e_vs_paired_real": fd(f, f_test),
                             "l1": float(np.abs(im.astype(np.float64) - gt).mean() / 255.0),
                             "psnr": float(10 * np.log10(255.0 ** 2 / max(mse, 1e-9))), "layout": lm}
        log("images %s: FD_E %.3f KID_E %.5f L1 %.4f PSNR %.2f mIoU %.3f" %
            (name, img_metrics[name]["fd_e"], img_metrics[name]["kid_e"], img_metrics[name]["l1"],
             img_metrics[name]["psnr"], lm["visible_miou"]))
    metrics["images_from_test_layouts"] = img_metrics
    # FD_E at n = 2000 carries a bias of the size of the real-vs-real value; compare the renderer with
    # the ablation on the same layouts by a paired bootstrap of the difference instead of two numbers.
    rng_b = np.random.default_rng(11)
    metrics["fd_real_vs_real_ci95"] = [float(v) for v in np.percentile(
        [fd(f_test[rng_b.integers(0, n, n)], f_ref[rng_b.integers(0, len(f_ref), len(f_ref))]) for _ in range(60)],
        [2.5, 97.5])]
    metrics["fd_renderer_minus_ablation_ci95"] = fd_paired_difference_ci(
        feats["renderer"], feats["renderer_no_layout_attention"], f_ref)
    metrics["fd_e_note"] = ("fd_e / kid_e / fd_real_vs_real* / fd_renderer_minus_ablation_ci95 are in E's pooled "
                            "features (nearly one-dimensional, see results/ANALYSIS.md); the FD bar uses metrics.fd")
    metrics["fd_e_spectrum_real_ref"] = feature_spectrum(f_ref)

    # FD in the FD evaluator's space (the bar): unpaired vs independent real sets and paired vs the real
    # renders of the same layouts, with bootstrap intervals of the differences to both baselines.
    if Q is not None:
        try:
            real_sets = dict(extra_real or {})
            real_sets["ref"] = ref.images_np
            evaluate_fd_space(args, Q, device, real_sets, n, test.images_np[:n], imgs, metrics)
        except Exception as e:
            log("FD-space evaluation failed: %r" % (e,))
            metrics["fd_error"] = repr(e)

    # Layout stage: planner samples vs uniformly random layouts, both rasterised by the C++ tool,
    # rendered by the renderer and judged by E.
    gen = torch.Generator(device=device).manual_seed(5) if device.type == "cuda" else torch.Generator().manual_seed(5)
    seqs = []
    for i in range(0, n, 512):
        seqs.append(sample_planner(P, min(512, n - i), device, gen=gen).cpu())
    width = max(s.shape[1] for s in seqs)
    seqs = torch.cat([F.pad(s, (0, width - s.shape[1]), value=STOP) for s in seqs])
    plan_tok = seq_to_tokens(seqs)
    rand_tok = random_layouts(n, np.random.default_rng(7), args.max_train_objects)
    train_keys = set(train.tokens_np[i].tobytes() for i in range(train.n))
    layout_results = {}
    all_pairs = {}
    for name, tk in (("planner", plan_tok), ("random", rand_tok), ("real_layouts", test.tokens_np[:n])):
        lay_path = os.path.join(work, name + "_layouts.u8")
        tk.astype(np.uint8).tofile(lay_path)
        d = os.path.join(work, name)
        run_tool(args.tool, d, layouts=lay_path, amodal=True)
        s = SceneSet(d, "cpu", amodal=True)
        im = render_all(R, s.tokens_np, s.counts_np, s.inst_np, device)
        f, c, p = evaluate_images(E, im, device)
        pairs = []
        lm = layout_metrics(c, p, s.inst_np, s.tokens_np, s.counts_np, s.amodal_np, pairs)
        all_pairs[name] = pairs
        cnt_hist = np.bincount(s.counts_np, minlength=K + 1) / len(s.counts_np)
        real_hist = np.bincount(test.counts_np, minlength=K + 1) / test.n
        vis_frac = []
        for b in range(s.n):
            for k in range(s.counts_np[b]):
                a = s.amodal_np[b, k].sum()
                vis_frac.append((s.inst_np[b] == k + 1).sum() / max(1, a))
        layout_results[name] = {
            "layout": lm, "fd_e_rendered": fd(f, f_ref), "kid_e_rendered": kid(f, f_ref),
            "count_hist": cnt_hist.round(4).tolist(),
            "count_tv_vs_real": float(0.5 * np.abs(cnt_hist - real_hist).sum()),
            "mean_visible_fraction": float(np.mean(vis_frac)) if vis_frac else 0.0,
            "novel_fraction": float(np.mean([tk[i].tobytes() not in train_keys for i in range(len(tk))])),
        }
        log("layouts %s: %s" % (name, json.dumps(layout_results[name]["layout"])))
        if name == "planner":
            plan_imgs, plan_set = im, s
        if name == "random":
            rand_imgs = im
    for name in layout_results:  # see occlusion_standardised(): raw accuracies are not comparable
        layout_results[name]["layout"]["occlusion_order_acc_standardised"] = occlusion_standardised(
            all_pairs[name], all_pairs["real_layouts"])
    metrics["layouts"] = layout_results
    bars = {
        "planner_beats_random_on_every_layout_metric": all(
            layout_results["planner"]["layout"][k] > layout_results["random"]["layout"][k]
            for k in ("count_acc", "attribute_acc", "occlusion_order_acc_standardised", "visible_miou")),
        "renderer_visible_miou_ge_0.7": img_metrics["renderer"]["layout"]["visible_miou"] >= 0.7,
        # FD space (metrics.fd): against the real renders of the same layouts, the renderer's FD is
        # below the ablation's and the mean image's, each paired 95% bootstrap interval below 0
        "renderer_fd_below_both_baselines": fd_bar(metrics, "paired"),
        # the same with unpaired FD against an independent real reference set (informational)
        "renderer_fd_below_both_baselines_unpaired": fd_bar(metrics, "unpaired"),
        # the previous definition, in E's nearly one-dimensional pooled features (informational)
        "renderer_fd_e_below_both_baselines_legacy": bool(
            img_metrics["renderer"]["fd_e"] < img_metrics["mean_image"]["fd_e"] and
            metrics["fd_renderer_minus_ablation_ci95"][1] < 0),
    }
    metrics["bars"] = bars
    log("bars: %s" % bars)

    # Figure: rows = real test, renderer, ablation, planner->renderer, random->renderer.
    cols = 10
    rows = [test.images_np[:cols], img_main[:cols], img_abl[:cols], plan_imgs[:cols], rand_imgs[:cols]]
    grid = np.concatenate([np.concatenate(list(r), 1) for r in rows], 0)
    write_png(os.path.join(args.out, "samples.png"), grid.repeat(2, 0).repeat(2, 1))


def fd_bar(metrics, kind):
    d = metrics.get("fd", {}).get("differences", {})
    keys = ["renderer_minus_%s_%s" % (b, kind) for b in ("renderer_no_layout_attention", "mean_image")]
    return bool(all(k in d and d[k]["estimate"] < 0 and d[k]["ci95"][1] < 0 and d[k]["ci95_percentile"][1] < 0
                    for k in keys))


def rounded(model):
    """F16-rounded copy of a model's state (what is exported), loaded back into it for fixtures."""
    sd = {k: v.detach().float().cpu() for k, v in model.state_dict().items()}
    return {k: v.half() for k, v in sd.items()}


def export_all(args, E, P, R, metrics, stage, RA=None, Q=None):
    # model.safetensors: what the app loads (planner + renderer; committed). The evaluator and the
    # no-layout-attention ablation go to files of their own (kept out of git) so that every metric
    # can be recomputed later (recipe/reeval.py).
    tensors = {}
    budget = args.export_budget_mb * 1e6
    for prefix, m in (("planner.", P), ("renderer.", R)):
        tensors.update({prefix + k: v for k, v in rounded(m).items()})
    ev = {"evaluator." + k: v for k, v in rounded(E).items()}
    if Q is not None:  # the FD evaluator rides in the same file (at most 8 files come back from a run)
        ev.update({"fd_evaluator." + k: v for k, v in rounded(Q).items()})
    write_safetensors(os.path.join(args.out, "evaluator.safetensors"), ev, {"stage": stage})
    if RA is not None:
        write_safetensors(os.path.join(args.out, "ablation.safetensors"),
                          {"renderer." + k: v for k, v in rounded(RA).items()}, {"stage": stage})
    write_safetensors(os.path.join(args.out, "model.safetensors"), tensors,
                      {"format": "pt", "stage": stage, "model": "attnlab-scene"})
    total = os.path.getsize(os.path.join(args.out, "model.safetensors"))
    if total > budget:
        log("WARNING: model.safetensors is %.2f MB > %.1f MB" % (total / 1e6, args.export_budget_mb))

    # Parity fixtures: fixed inputs -> outputs of the F16-rounded weights evaluated in F32 on CPU.
    fx = {}
    with torch.no_grad():
        Pc = make_planner().eval()
        Pc.load_state_dict({k: v.float() for k, v in rounded(P).items()})
        seq = torch.tensor([[BOS, QY0 + 5, QX0 + 10, SH0 + 1, CO0 + 2, SZ0 + 1, MA0 + 0, QY0 + 20, QX0 + 3],
                            [BOS, QY0 + 1, QX0 + 30, SH0 + 3, CO0 + 7, SZ0 + 0, MA0 + 1, STOP, STOP]])
        fx["planner.input"] = seq
        fx["planner.logits"] = Pc(seq).clamp(min=-1e4)
        Rc = make_renderer(True).eval()
        Rc.load_state_dict({k: v.float() for k, v in rounded(R).items()})
        tok = torch.full((2, K, 6), 255, dtype=torch.int64)
        tok[0, :3] = torch.tensor([[0, 1, 1, 0, 10, 8], [1, 2, 0, 1, 20, 15], [3, 7, 1, 0, 16, 28]])
        tok[1, :1] = torch.tensor([[2, 6, 1, 1, 5, 30]])
        cnt = torch.tensor([3, 1])
        inst = torch.zeros(2, IMG, IMG, dtype=torch.uint8)
        inst[0, 20:30, 10:20] = 1
        inst[0, 25:40, 25:40] = 2
        inst[0, 40:60, 30:50] = 3
        inst[1, 30:60, 5:30] = 1
        noise = torch.randn(2, K + 1, Rc.dz, generator=torch.Generator().manual_seed(11))
        img, attn = Rc(tok, cnt, inst, noise, return_attn=True)
        fx.update({"renderer.tokens": tok, "renderer.counts": cnt, "renderer.inst": inst,
                   "renderer.noise": noise, "renderer.image": img, "renderer.attn_first": attn[0]})
    write_safetensors(os.path.join(args.out, "fixtures.safetensors"), fx, {"stage": stage})

    config = {
        "model_type": "attnlab-scene-plan-render",
        "description": "GANformer2-inspired plan/execute renderer for CLEVR-like 64x64 scenes "
                       "(supervised; not a reproduction of GANformer2)",
        "weights_dtype": "F16", "stage": stage,
        "image_size": IMG, "max_objects": K, "pos_bins": BINS,
        "attributes": {"shape": ["sphere", "cube", "cylinder", "cone"],
                       "colour": ["gray", "red", "blue", "green", "brown", "purple", "cyan", "yellow"],
                       "size": ["small", "large"], "material": ["rubber", "metal"]},
        "token_fields": ["shape", "colour", "size", "material", "qx", "qy"],
        "planner": {"d_model": ARCH["planner"]["d"], "layers": ARCH["planner"]["layers"],
                    "heads": ARCH["planner"]["heads"], "ffn": 4 * ARCH["planner"]["d"], "seq_len": SEQ, "vocab": VOCAB,
                    "vocab_offsets": {"qy": QY0, "stop": STOP, "qx": QX0, "shape": SH0, "colour": CO0,
                                      "size": SZ0, "material": MA0, "bos": BOS},
                    "object_sub_token_order": ["qy", "qx", "shape", "colour", "size", "material"],
                    "norm": "pre-LayerNorm", "activation": "gelu(erf)"},
        "renderer": {"token_dim": ARCH["renderer"]["dt"], "noise_dim": ARCH["renderer"]["dz"],
                     "widths": ARCH["renderer"]["widths"],
                     "resolutions": [8, 16, 32, 64], "grid_code_channels": GRID, "query_dim": ARCH["renderer"]["dq"],
                     "mask_eps": EPS, "layout_bias": "logits += beta * log(avgpool(mask) + eps)",
                     "output": "rgb in [-1, 1]"},
        "evaluator": {"widths": ARCH["evaluator"]["widths"], "feature_dim": ARCH["evaluator"]["widths"][-1]},
        "metrics_summary": {k: metrics.get(k) for k in ("bars", "planner_heldout_nll")},
    }
    json.dump(config, open(os.path.join(args.out, "config.json"), "w"), indent=1)


if __name__ == "__main__":
    main()
