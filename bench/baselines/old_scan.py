#!/usr/bin/env python3
"""What the old tool did, as the baseline of bench/scan.sh: os.listdir at each level of the
layout, os.path.getmtime for every file into a list, then min, max and a set of local dates.

usage: old_scan.py LAYOUT ROOT   (LAYOUT: intelbras | digifort | ivms)
"""
import os
import sys
from datetime import datetime


def files(layout, root):
    if layout == "intelbras":
        for y in os.listdir(root):
            py = os.path.join(root, y)
            if not os.path.isdir(py):
                continue
            for m in os.listdir(py):
                pm = os.path.join(py, m)
                if not os.path.isdir(pm):
                    continue
                for d in os.listdir(pm):
                    pd = os.path.join(pm, d)
                    if not os.path.isdir(pd):
                        continue
                    for f in os.listdir(pd):
                        yield os.path.join(pd, f)
    elif layout == "digifort":
        for cam in os.listdir(root):
            dados = os.path.join(root, cam, "Dados")
            if not os.path.isdir(dados):
                continue
            for f in os.listdir(dados):
                if f.lower().endswith(".dar"):
                    yield os.path.join(dados, f)
    elif layout == "ivms":
        for date in os.listdir(root):
            pd = os.path.join(root, date)
            if not os.path.isdir(pd):
                continue
            for cam in os.listdir(pd):
                pc = os.path.join(pd, cam)
                if not os.path.isdir(pc):
                    continue
                for f in os.listdir(pc):
                    yield os.path.join(pc, f)
    else:
        raise SystemExit("unknown layout " + layout)


def main():
    layout, root = sys.argv[1], sys.argv[2]
    mtimes = []
    for p in files(layout, root):
        mtimes.append(os.path.getmtime(p))
    if not mtimes:
        print("Nenhuma")
        return
    oldest = datetime.fromtimestamp(min(mtimes))
    newest = datetime.fromtimestamp(max(mtimes))
    days = len(set(datetime.fromtimestamp(t).date() for t in mtimes))
    print(oldest.strftime("%d/%m/%Y %H:%M"), newest.strftime("%d/%m/%Y %H:%M"), days, len(mtimes))


if __name__ == "__main__":
    main()
