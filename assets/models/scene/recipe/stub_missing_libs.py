#!/usr/bin/env python3
"""Last-resort stubs for shared libraries that Debian's OpenCV pulls in but the data tool never calls.

Debian's libopencv_core links liblapack (-> libgfortran.so.5) and libGLX (-> libX11.so.6). The scene
data tool uses only core/imgproc drawing and resizing, so when a machine lacks one of those
transitive libraries, a stub that defines the referenced symbols (each aborts if ever called) lets
the loader finish. Used by train_gpu.sh only when `ldd` reports "not found".

usage: stub_missing_libs.py STUB_DIR LIBDIR_WITH_CARRIED_LIBS MISSING_SONAME...
"""
import os
import re
import subprocess
import sys


def run(cmd):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout


def main():
    stub_dir, lib_root, missing = sys.argv[1], sys.argv[2], sys.argv[3:]
    os.makedirs(stub_dir, exist_ok=True)
    libs = []
    for d, _, files in os.walk(lib_root):
        libs += [os.path.join(d, f) for f in files if ".so" in f and not os.path.islink(os.path.join(d, f))]
    for soname in missing:
        versions, referrers = set(), []
        for lib in libs:
            out = run(["readelf", "-V", lib])
            cur = None
            for line in out.splitlines():
                m = re.search(r"File: (\S+)", line)
                if m:
                    cur = m.group(1)
                    continue
                m = re.search(r"Name: (\S+)", line)
                if m and cur == soname:
                    versions.add(m.group(1))
            needed = run(["readelf", "-d", lib])
            if "[%s]" % soname in needed:
                referrers.append(lib)
        syms = {}  # name -> version or None
        for lib in referrers:
            for line in run(["nm", "-D", "--undefined-only", lib]).splitlines():
                parts = line.split()
                if len(parts) < 2 or parts[0] not in ("U", "w"):
                    continue
                name, _, ver = parts[1].partition("@")
                ver = ver.lstrip("@")
                if ver and ver not in versions:
                    continue  # provided by another library (glibc, libgcc, ...)
                if not ver and (name.startswith("_ITM") or name.startswith("__gmon")):
                    continue
                syms[name] = ver or None
        base = os.path.join(stub_dir, soname)
        with open(base + ".c", "w") as f:
            f.write("#include <stdlib.h>\n")
            for name in sorted(syms):
                f.write("void %s(void) { abort(); }\n" % name)
        cmd = ["gcc", "-shared", "-fPIC", "-o", base, base + ".c", "-Wl,-soname," + soname]
        if versions:
            with open(base + ".map", "w") as f:
                vs = sorted(versions)
                for i, v in enumerate(vs):
                    mine = [n for n, sv in syms.items() if sv == v or (sv is None and i == 0)]
                    f.write("%s { global: %s };\n" % (v, " ".join(n + ";" for n in sorted(mine)) or "*;"))
            cmd.append("-Wl,--version-script," + base + ".map")
        subprocess.run(cmd, check=True)
        print("stub %s: %d symbols, versions %s" % (soname, len(syms), sorted(versions) or "-"))


if __name__ == "__main__":
    main()
