#!/usr/bin/python3
"""Independent check of `agegender preprocess imdb-wiki` rule counts, with scipy + python datetime.

    /usr/bin/python3 bench/preprocess-wiki-rules-check.py ../shared/data/imdb-wiki/wiki.mat 1.0 [var/wiki/summary.json]

Prints rows read, rows dropped by each rule (first failing rule, order: face score, second face, age,
gender), rows failing each rule (overlapping), kept and the gender split; with a summary.json from the
TypeScript run it compares the two and exits 1 on any difference.
"""
import json
import math
import sys
from datetime import datetime

import numpy as np
import scipy.io as sio


def main():
    mat_path = sys.argv[1]
    min_score = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
    mat = sio.loadmat(mat_path)
    key = "imdb" if "imdb" in mat else "wiki"
    db = mat[key][0, 0]
    dob = db["dob"][0]
    taken = db["photo_taken"][0]
    gender = db["gender"][0]
    score = db["face_score"][0]
    second = db["second_face_score"][0]

    def age_of(d, t):
        # MATLAB datenum 367 is 0001-01-01 (python ordinal 1); the seed uses fromordinal(dob - 366).
        if not math.isfinite(d) or int(d) - 366 < 1:
            return math.nan
        b = datetime.fromordinal(int(d) - 366)
        return t - b.year - (1 if b.month >= 7 else 0)

    rules = ["faceScore", "secondFace", "age", "gender"]
    dropped = dict.fromkeys(rules, 0)
    failing = dict.fromkeys(rules, 0)
    kept = male = 0
    for i in range(len(dob)):
        a = age_of(dob[i], taken[i])
        fails = {
            "faceScore": not (score[i] >= min_score),
            "secondFace": (not np.isnan(second[i])) and second[i] > 0,
            "age": not (0 <= a <= 100),
            "gender": np.isnan(gender[i]),
        }
        first = next((r for r in rules if fails[r]), None)
        for r in rules:
            failing[r] += int(bool(fails[r]))
        if first:
            dropped[first] += 1
        else:
            kept += 1
            male += int(gender[i] == 1)
    ours = {"read": len(dob), "dropped": dropped, "failing": failing, "kept": kept, "male": male, "female": kept - male}
    print("scipy:", json.dumps(ours))
    if len(sys.argv) > 3:
        s = json.load(open(sys.argv[3]))
        c = s["counts"]
        theirs = {
            "read": c["read"],
            "dropped": {r: c["dropped" + r[0].upper() + r[1:]] for r in rules},
            "failing": s["input"]["rowsFailingEachRule"],
            "kept": c["kept"],
            "male": s["gender"]["male"],
            "female": s["gender"]["female"],
        }
        print("agegender:", json.dumps(theirs))
        if theirs != ours:
            print("DIFFERENT")
            sys.exit(1)
        print("identical")


if __name__ == "__main__":
    main()
