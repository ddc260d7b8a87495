# Prints one line per kernel_bench row (used by device_s5_run7-2026-11-28.sh as summ.py).
import json, sys
for l in open(sys.argv[1]):
    try:
        r = json.loads(l)
    except Exception:
        print(l.strip()); continue
    s = r.get("section")
    f = lambda k: round(r.get(k, 0), 2)
    if s == "prefill_dense":
        print(r["tokens"], "cudnn", round(r.get("cudnn_tflops", 0)), "flash", round(r.get("flash_tflops", 0)))
    elif s == "prefill_sparse":
        print(r["tokens"], r["pattern"], round(r["density"], 3), "tf", round(r["actual_tflops"]), "mma", round(r["mma_actual_tflops"]),
              "eff", round(r.get("efficiency", 0), 3))
    elif s == "decode":
        print("dec", r["batch"], r["context"], round(r["kv_bytes"] / 1e6), "default", f("attnlab_tbs"), "cpasync", f("attnlab_cpasync_tbs"),
              "cudnn", f("cudnn_tbs"), "splits", r.get("splits"), "us", f("attnlab_us"), f("attnlab_us_again"), f("attnlab_cpasync_us"))
    elif s == "decode_kept":
        print("kept", r["mode"], r["cpasync"], r["batch"], r["context"], round(r["kept_bytes"] / 1e6), "ratio", f("ratio_to_floor"))
