#!/usr/bin/python3
"""The seed's preprocessing loop (cv2.imread + cv2.resize + cv2.imwrite), timed; used by preprocess-vs-opencv.ts.

    /usr/bin/python3 bench/preprocess-vs-opencv.py LIST_FILE SRC_DIR OUT_DIR SIZE [PROCESSES]

Prints one JSON line {"images": n, "seconds": s, "imagesPerSecond": r, "cpuSeconds": c}. PROCESSES > 1 runs
the same loop in a multiprocessing pool (the seed ran one process). cpuSeconds is the CPU time of the loop's
process and its pool workers (it moves less than the wall time when the machine is shared).
"""
import json
import os
import resource
import sys
import time
from multiprocessing import Pool

import cv2

cv2.setNumThreads(1)


def work(args):
    src, dst, size = args
    img = cv2.imread(src)
    if img is None:
        return 0
    img = cv2.resize(img, (size, size))
    cv2.imwrite(dst, img)
    return 1


def main():
    names = open(sys.argv[1]).read().split("\n")
    names = [n for n in names if n]
    src_dir, out_dir, size = sys.argv[2], sys.argv[3], int(sys.argv[4])
    procs = int(sys.argv[5]) if len(sys.argv) > 5 else 1
    os.makedirs(out_dir, exist_ok=True)
    jobs = [(os.path.join(src_dir, n), os.path.join(out_dir, n), size) for n in names]
    t = time.perf_counter()
    c = time.process_time()
    if procs > 1:
        with Pool(procs) as pool:
            done = sum(pool.imap_unordered(work, jobs, chunksize=64))
    else:
        done = sum(map(work, jobs))
    s = time.perf_counter() - t
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = time.process_time() - c + children.ru_utime + children.ru_stime
    print(json.dumps({"images": done, "seconds": round(s, 2), "imagesPerSecond": round(done / s, 1),
                      "cpuSeconds": round(cpu, 2)}))


if __name__ == "__main__":
    main()
