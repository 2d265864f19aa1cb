#!/usr/bin/env python3
"""Builds a synthetic recording tree for bench/scan.sh: FILES files in one vendor layout, spread
evenly over DAYS days ending now and over CAMERAS cameras, with file and folder mtimes set as a
recorder would leave them (a day folder last written when its day ended; today's still open).

usage: scan_tree.py LAYOUT ROOT FILES [DAYS] [CAMERAS]
"""
import os
import sys
import time


def main():
    layout, root, total = sys.argv[1], sys.argv[2], int(sys.argv[3])
    days = int(sys.argv[4]) if len(sys.argv) > 4 else 35
    cams = int(sys.argv[5]) if len(sys.argv) > 5 else 8
    now = time.time()
    start = now - days * 86400
    step = (now - start) / total
    dir_mtime = {}
    for i in range(total):
        t = start + i * step
        lt = time.localtime(t)
        cam = "cam%02d" % (i % cams + 1)
        if layout == "intelbras":
            d = os.path.join(root, "%04d" % lt.tm_year, "%02d" % lt.tm_mon, "%02d" % lt.tm_mday)
            name = "ch%02d_%08d.dav" % (i % cams + 1, i)
        elif layout == "digifort":
            d = os.path.join(root, cam, "Dados")
            name = "%s_%08d.dar" % (time.strftime("%Y%m%d%H%M%S", lt), i)
        elif layout == "ivms":
            d = os.path.join(root, time.strftime("%Y-%m-%d", lt), cam)
            name = "%08d.mp4" % i
        else:
            raise SystemExit("unknown layout " + layout)
        if d not in dir_mtime:
            os.makedirs(d, exist_ok=True)
        p = os.path.join(d, name)
        with open(p, "wb"):
            pass
        os.utime(p, (t, t))
        dir_mtime[d] = t
    # Folders: last written when their last file was created; parents likewise.
    parents = {}
    for d, t in dir_mtime.items():
        os.utime(d, (t, t))
        p = os.path.dirname(d)
        while len(p) > len(root):
            parents[p] = max(parents.get(p, 0), t)
            p = os.path.dirname(p)
    for p, t in parents.items():
        os.utime(p, (t, t))
    os.utime(root, (start, start))


if __name__ == "__main__":
    main()
