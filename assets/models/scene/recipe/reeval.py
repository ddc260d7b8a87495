#!/usr/bin/env python3
"""CPU re-evaluation of the committed scene model (issue 10, phase 2): are the two unmet bars
measured well?

  reeval.py --tool attnlab-scene-data --evaluator EVALUATOR.safetensors --work DIR --out JSON [--n 2000]

Loads the committed planner + renderer (assets/models/scene/model.safetensors, F16 -> F32) and the
run's evaluator E (kept out of git; recipe/split_export.py writes it), regenerates the held-out data
with the same seed ranges as train_gpu.sh, and measures:
  1. occlusion-order accuracy per overlapping pair (train.layout_metrics' definition, pair by pair),
     for real test layouts, planner samples and uniformly random layouts, with the overlap size of
     every pair, so that accuracies can be compared on the same overlap-size distribution;
  2. layout statistics of each source against real layouts (occluded-object rate, visible fraction,
     attribute marginals, pairwise centre distances);
  3. FD_E's noise: real-vs-real across several independent seed ranges, bootstrap intervals, the
     response of FD_E to known degradations of real images (noise, blur, colour shift, object removal
     is not available here), and the spectrum of E's feature covariance.
Features and per-pair records are cached in --work, so a rerun only recomputes what is missing.
"""
import argparse
import json
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train as T  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
T0 = time.time()


def log(msg):
    print("[%6.1fs] %s" % (time.time() - T0, msg), flush=True)


def load_st(path, prefix):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        h = json.loads(f.read(n))
        data = f.read()
    h.pop("__metadata__", None)
    dt = {"F16": np.float16, "F32": np.float32}
    out = {}
    for k, e in h.items():
        if k.startswith(prefix):
            a, b = e["data_offsets"]
            arr = np.frombuffer(data[a:b], dtype=dt[e["dtype"]]).reshape(e["shape"]).astype(np.float32)
            out[k[len(prefix):]] = torch.from_numpy(arr)
    if not out:
        sys.exit("reeval.py: %s has no %s* tensors" % (path, prefix))
    return out


def data(tool, work, name, **kw):
    d = os.path.join(work, name)
    if not os.path.exists(os.path.join(d, "meta.json")):
        T.run_tool(tool, d, **kw)
    return T.SceneSet(d, "cpu", amodal=True)


def cached(work, name, fn):
    p = os.path.join(work, name + ".npz")
    if os.path.exists(p):
        z = np.load(p)
        return {k: z[k] for k in z.files}
    t = time.time()
    r = fn()
    np.savez(p, **r)
    log("%s computed in %.0fs" % (name, time.time() - t))
    return r


def e_pass(E, images):
    f, c, p = T.evaluate_images(E, images, torch.device("cpu"), bs=100)
    return {"feat": f, "count": c, "pred": p}


def pair_records(pred, inst, tokens, counts, amodal):
    """Occlusion pairs exactly as train.layout_metrics counts them, one row each:
    (scene, back index, front index, overlap pixels, hidden fraction of the back object, correct)."""
    rows = []
    for b in range(len(counts)):
        c = counts[b]
        shp, col = pred[b, 0], pred[b, 1]
        cls_pred = np.where((shp > 0) & (col > 0), 1 + (shp - 1) * T.NCO + (col - 1), 0)
        objcls = [1 + int(tokens[b, k, 0]) * T.NCO + int(tokens[b, k, 1]) for k in range(c)]
        for i in range(c):
            ai = amodal[b, i].astype(bool)
            for j in range(i + 1, c):
                if objcls[i] == objcls[j]:
                    continue
                region = ai & (inst[b] == j + 1)
                area = int(region.sum())
                if area < 4:
                    continue
                cp = cls_pred[region]
                ok = int((cp == objcls[j]).sum() > (cp == objcls[i]).sum())
                rows.append((b, i, j, area, area / max(1, ai.sum()), ok))
    return np.array(rows, dtype=np.float64).reshape(-1, 6)


BINS = [4, 8, 16, 32, 64, 128, 1 << 20]


def binned(rows):
    out = []
    for lo, hi in zip(BINS[:-1], BINS[1:]):
        sel = (rows[:, 3] >= lo) & (rows[:, 3] < hi)
        out.append({"overlap_px": "%d-%s" % (lo, hi - 1 if hi < (1 << 20) else "inf"), "pairs": int(sel.sum()),
                    "acc": float(rows[sel, 5].mean()) if sel.any() else None})
    return out


def standardised(rows, ref_rows):
    """Accuracy re-weighted to the overlap-size distribution of ref_rows (direct standardisation)."""
    acc, wsum = 0.0, 0.0
    for lo, hi in zip(BINS[:-1], BINS[1:]):
        w = ((ref_rows[:, 3] >= lo) & (ref_rows[:, 3] < hi)).mean()
        sel = (rows[:, 3] >= lo) & (rows[:, 3] < hi)
        if w > 0 and sel.any():
            acc += w * rows[sel, 5].mean()
            wsum += w
    return float(acc / wsum) if wsum else None


def boot_ci(rows, ref_rows, fn, n=400, seed=0):
    """95% interval by resampling scenes (pairs of one scene move together)."""
    rng = np.random.default_rng(seed)
    scenes = np.unique(rows[:, 0])
    by = {s: rows[rows[:, 0] == s] for s in scenes}
    vals = []
    for _ in range(n):
        pick = rng.choice(scenes, len(scenes))
        vals.append(fn(np.concatenate([by[s] for s in pick]), ref_rows))
    vals = [v for v in vals if v is not None]
    return [float(np.percentile(vals, 2.5)), float(np.percentile(vals, 97.5))]


def layout_stats(s):
    vis_frac, occluded, centres = [], [], []
    attrs = np.zeros((4, 8))
    for b in range(s.n):
        c = s.counts_np[b]
        pts = []
        for k in range(c):
            a = s.amodal_np[b, k].sum()
            v = (s.inst_np[b] == k + 1).sum()
            vis_frac.append(v / max(1, a))
            occluded.append(v < a)
            for f in range(4):
                attrs[f, s.tokens_np[b, k, f]] += 1
            pts.append(s.tokens_np[b, k, 4:6].astype(np.float64))
        for i in range(len(pts)):
            for j in range(i + 1, len(pts)):
                centres.append(np.linalg.norm(pts[i] - pts[j]))
    attrs /= np.maximum(attrs.sum(1, keepdims=True), 1)
    return {"vis_frac": np.array(vis_frac), "occluded": np.array(occluded, np.float64),
            "attrs": attrs, "centre_dist": np.array(centres)}


def w1(a, b):
    q = np.linspace(0, 1, 201)
    return float(np.abs(np.quantile(a, q) - np.quantile(b, q)).mean())


def fd_boot(fa, fb, n=60, seed=0):
    rng = np.random.default_rng(seed)
    v = [T.fd(fa[rng.integers(0, len(fa), len(fa))], fb[rng.integers(0, len(fb), len(fb))]) for _ in range(n)]
    return [float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tool", required=True)
    ap.add_argument("--evaluator", required=True)
    ap.add_argument("--model", default=os.path.join(ROOT, "assets/models/scene/model.safetensors"))
    ap.add_argument("--work", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    os.makedirs(args.work, exist_ok=True)
    n = args.n
    P = T.make_planner().eval()
    P.load_state_dict(load_st(args.model, "planner."))
    R = T.make_renderer(True).eval()
    R.load_state_dict(load_st(args.model, "renderer."))
    E = T.make_evaluator().eval()
    E.load_state_dict(load_st(args.evaluator, "evaluator."))
    dev = torch.device("cpu")

    test = data(args.tool, args.work, "test", seed_start=20000000, count=n, amodal=True)
    ref = data(args.tool, args.work, "ref", seed_start=30000000, count=n)
    extra = [data(args.tool, args.work, "real%d" % i, seed_start=40000000 + 10000000 * i, count=n) for i in range(2)]
    res = {"n": n, "note": "CPU, torch %s, F16-rounded weights evaluated in F32" % torch.__version__}

    # ---- features of real sets and of the renderer on the held-out layouts
    f_test = cached(args.work, "E_test", lambda: e_pass(E, test.images_np))
    f_ref = cached(args.work, "E_ref", lambda: e_pass(E, ref.images_np))
    f_extra = [cached(args.work, "E_real%d" % i, lambda i=i: e_pass(E, extra[i].images_np)) for i in range(2)]
    rend = cached(args.work, "render_test",
                  lambda: {"img": T.render_all(R, test.tokens_np, test.counts_np, test.inst_np, dev, bs=100)})
    f_rend = cached(args.work, "E_render_test", lambda: e_pass(E, rend["img"]))

    # ---- FD_E: noise floor, intervals, degradations, spectrum
    reals = {"test": f_test["feat"], "ref": f_ref["feat"], "real0": f_extra[0]["feat"], "real1": f_extra[1]["feat"]}
    names = list(reals)
    floor = {"%s_vs_%s" % (a, b): T.fd(reals[a], reals[b]) for i, a in enumerate(names) for b in names[i + 1:]}
    gen_vs = {k: T.fd(f_rend["feat"], v) for k, v in reals.items() if k != "test"}
    res["fd"] = {
        "real_vs_real_pairs": floor,
        "real_vs_real_range": [min(floor.values()), max(floor.values())],
        "renderer_vs_each_real_set": gen_vs,
        "renderer_vs_ref_ci95": fd_boot(f_rend["feat"], f_ref["feat"]),
        "test_vs_ref_ci95": fd_boot(f_test["feat"], f_ref["feat"]),
        "renderer_vs_its_own_gt_paired": T.fd(f_rend["feat"], f_test["feat"]),
        "renderer_psnr": float(10 * np.log10(255.0 ** 2 / ((rend["img"].astype(np.float64) - test.images_np) ** 2).mean())),
    }
    cov = np.cov(f_ref["feat"].astype(np.float64), rowvar=False)
    ev = np.sort(np.clip(np.linalg.eigvalsh(cov), 0, None))[::-1]
    res["fd"]["feature_space"] = {
        "dims": int(len(ev)), "trace_cov": float(ev.sum()),
        "participation_ratio": float(ev.sum() ** 2 / (ev ** 2).sum()),
        "top5_variance_share": float(ev[:5].sum() / ev.sum()),
        "dims_for_99pct": int(np.searchsorted(np.cumsum(ev) / ev.sum(), 0.99) + 1),
        "dead_dims": int((f_ref["feat"].std(0) < 1e-6).sum()),
        "mean_feature_norm": float(np.linalg.norm(f_ref["feat"], axis=1).mean()),
    }
    rng = np.random.default_rng(3)
    x = test.images_np.astype(np.float32)

    def degrade(kind, level):
        if kind == "noise":
            y = x + rng.normal(0, level, x.shape)
        elif kind == "blur":
            t = torch.from_numpy(x).permute(0, 3, 1, 2)
            r = int(np.ceil(3 * level))
            k = torch.exp(-torch.arange(-r, r + 1, dtype=torch.float32) ** 2 / (2 * level ** 2))
            k = k / k.sum()
            t = F.conv2d(F.pad(t, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1).repeat(3, 1, 1, 1), groups=3)
            t = F.conv2d(F.pad(t, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1).repeat(3, 1, 1, 1), groups=3)
            y = t.permute(0, 2, 3, 1).numpy()
        else:  # colour shift: add level to R, subtract from B
            y = x + np.array([level, 0, -level], np.float32)
        return np.clip(np.round(y), 0, 255).astype(np.uint8)

    deg = {}
    for kind, level in (("noise", 3.0), ("noise", 8.0), ("blur", 0.6), ("blur", 1.0), ("colour", 4.0), ("colour", 12.0)):
        key = "%s_%g" % (kind, level)
        d = cached(args.work, "E_deg_" + key, lambda: dict(e_pass(E, degrade(kind, level)),
                                                             img_psnr=np.array(0.0)))
        img = degrade(kind, level)
        psnr = float(10 * np.log10(255.0 ** 2 / max(1e-9, ((img.astype(np.float64) - x) ** 2).mean())))
        deg[key] = {"psnr_vs_real": psnr, "fd_vs_ref": T.fd(d["feat"], f_ref["feat"])}
    res["fd"]["degradations_of_real_test_images"] = deg
    log("FD: %s" % json.dumps(res["fd"], indent=1))

    # ---- occlusion order pair by pair: real test layouts (renderer), planner, random
    gen = torch.Generator().manual_seed(5)

    def plan_tokens():
        seqs = [T.sample_planner(P, min(500, n - i), dev, gen=gen) for i in range(0, n, 500)]
        width = max(s.shape[1] for s in seqs)
        seqs = torch.cat([F.pad(s, (0, width - s.shape[1]), value=T.STOP) for s in seqs])
        return {"tokens": T.seq_to_tokens(seqs)}

    sources = {}
    ptok = cached(args.work, "planner_tokens", plan_tokens)["tokens"]
    rtok = T.random_layouts(n, np.random.default_rng(7), 6)
    for name, tk in (("planner", ptok), ("random", rtok)):
        path = os.path.join(args.work, name + "_layouts.u8")
        tk.astype(np.uint8).tofile(path)
        s = data(args.tool, args.work, name, layouts=path, amodal=True)
        im = cached(args.work, "render_" + name,
                    lambda s=s: {"img": T.render_all(R, s.tokens_np, s.counts_np, s.inst_np, dev, bs=100)})
        fe = cached(args.work, "E_render_" + name, lambda im=im: e_pass(E, im["img"]))
        sources[name] = (s, fe)
    sources["real"] = (test, f_rend)
    rows = {k: pair_records(fe["pred"], s.inst_np, s.tokens_np, s.counts_np, s.amodal_np)
            for k, (s, fe) in sources.items()}
    ref_rows = rows["real"]
    occ = {}
    for k, r in rows.items():
        s = sources[k][0]
        occ[k] = {"pairs": int(len(r)), "pairs_per_scene": len(r) / s.n,
                  "acc_all_pairs": float(r[:, 5].mean()),
                  "acc_all_pairs_ci95": boot_ci(r, None, lambda rr, _: float(rr[:, 5].mean())),
                  "median_overlap_px": float(np.median(r[:, 3])),
                  "acc_standardised_to_real_overlaps": standardised(r, ref_rows),
                  "acc_standardised_ci95": boot_ci(r, ref_rows, standardised),
                  "by_overlap": binned(r)}
    res["occlusion_order"] = occ
    # planner - random, standardised, with a bootstrap over the scenes of both sources
    rng_d = np.random.default_rng(1)

    def resample(r):
        sc = np.unique(r[:, 0])
        pick = rng_d.choice(sc, len(sc))
        by = {x: r[r[:, 0] == x] for x in sc}
        return np.concatenate([by[x] for x in pick])
    diffs = [standardised(resample(rows["planner"]), resample(ref_rows)) -
             standardised(resample(rows["random"]), resample(ref_rows)) for _ in range(400)]
    res["occlusion_order"]["planner_minus_random_standardised_ci95"] = [
        float(np.percentile(diffs, 2.5)), float(np.percentile(diffs, 97.5))]
    # the four layout metrics for every source on CPU (train.layout_metrics), plus the
    # standardised occlusion accuracy
    lm = {}
    for k, (s, fe) in sources.items():
        lm[k] = T.layout_metrics(fe["count"], fe["pred"], s.inst_np, s.tokens_np, s.counts_np, s.amodal_np)
        lm[k]["occlusion_order_acc_standardised"] = occ[k]["acc_standardised_to_real_overlaps"]
    res["layout_metrics_cpu"] = lm
    res["planner_beats_random_cpu"] = {
        m: bool(lm["planner"][m] > lm["random"][m])
        for m in ("count_acc", "attribute_acc", "visible_miou", "occlusion_order_acc", "occlusion_order_acc_standardised")}
    log("occlusion: %s" % json.dumps(occ, indent=1))

    # ---- layout statistics against real layouts (well-defined layout-realism comparisons)
    st_real = layout_stats(test)
    lay = {}
    for k in ("planner", "random"):
        st = layout_stats(sources[k][0])
        lay[k] = {"occluded_object_rate": float(st["occluded"].mean()),
                  "mean_visible_fraction": float(st["vis_frac"].mean()),
                  "w1_visible_fraction_vs_real": w1(st["vis_frac"], st_real["vis_frac"]),
                  "attribute_marginal_tv_vs_real": [float(0.5 * np.abs(st["attrs"][f] - st_real["attrs"][f]).sum())
                                                    for f in range(4)],
                  "w1_centre_distance_bins_vs_real": w1(st["centre_dist"], st_real["centre_dist"])}
    lay["real"] = {"occluded_object_rate": float(st_real["occluded"].mean()),
                   "mean_visible_fraction": float(st_real["vis_frac"].mean())}
    res["layout_statistics"] = lay
    log("layout statistics: %s" % json.dumps(lay, indent=1))
    json.dump(res, open(args.out, "w"), indent=1)
    log("wrote %s" % args.out)


if __name__ == "__main__":
    main()
