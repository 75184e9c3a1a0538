#!/usr/bin/env python3
"""Two more gender learners on the frozen dlib-ResNet features, mixed with the heads' cross-validated answers.

Asks whether a learner of another kind, averaged with the MLP heads, lifts UTKFace gender in the 5-fold
cross-validation of bench/heads-cv.py (same folds, same training rows: the other four folds + AAF train):
  - k nearest neighbours (k 5, 10, 20) by the dlib face descriptor (the backbone's fc applied to the 256 pooled
    features, weights read from @vladmandic/face-api's face_recognition_model.bin), voting the neighbours' labels;
  - logistic regression (L2, LBFGS) on the standardised heads features (gap+p8), plain and mirrored views.
Each is mixed as (1-w) * heads + w * learner. Needs the dumps of bench/heads-cv-features.ts and the heads'
out-of-fold answers:
  /usr/bin/python3 bench/heads-cv.py --feats gap+p8 --save var/cv/gap+p8.npz
  MALLOC_MMAP_THRESHOLD_=2000000000 /usr/bin/python3 bench/gender-mix-probes.py     # ~6 min on 2 cores
"""
import json, sys, os
import numpy as np, torch
sys.path.insert(0, os.path.dirname(__file__))
hc = __import__('heads-cv')
torch.set_num_threads(2)


def dlib_fc():
    """The backbone's final 256 -> 128 matrix (the last weight in face-api's manifest, uint8-quantized)."""
    d = 'node_modules/@vladmandic/face-api/model/'
    ws = json.load(open(d + 'face_recognition_model-weights_manifest.json'))[0]['weights']
    raw = np.fromfile(d + 'face_recognition_model.bin', dtype=np.uint8)
    assert ws[-1]['name'] == 'fc' and ws[-1]['shape'] == [256, 128]
    off = sum(int(np.prod(w['shape'])) for w in ws[:-1]); q = ws[-1]['quantization']
    return (raw[off:off + 256 * 128].astype(np.float32) * q['scale'] + q['min']).reshape(256, 128)


def knn_vote(query, ref, labels, ks):
    """Mean label of the k nearest reference rows (Euclidean), for each k; in blocks to bound memory."""
    out = {k: np.zeros(len(query)) for k in ks}
    for s in range(0, len(query), 1000):
        q = query[s:s + 1000]
        d = (q ** 2).sum(1)[:, None] + (ref ** 2).sum(1)[None] - 2 * q @ ref.T
        order = np.argsort(d, 1)[:, :max(ks)]
        for k in ks: out[k][s:s + 1000] = labels[order[:, :k]].mean(1)
    return out


def logistic(X, G, Q, l2):
    """P(male) of Q's rows (views averaged) from an L2-regularised logistic regression fitted on X's."""
    w = torch.zeros(X.shape[1], requires_grad=True); b = torch.zeros(1, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=200, line_search_fn='strong_wolfe')
    Xt = torch.from_numpy(X); Gt = torch.from_numpy(G).float()
    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(Xt @ w + b, Gt) + l2 * (w * w).sum()
        loss.backward(); return loss
    opt.step(closure)
    with torch.no_grad(): return torch.sigmoid(torch.from_numpy(Q) @ w + b).mean(1).numpy()


def need(*paths):
    """One line naming the first missing input and how to make it, instead of a traceback."""
    for f in paths:
        if not os.path.exists(f):
            sys.exit(f'gender-mix-probes: {f}: not found (make the dumps with bench/heads-cv-features.ts and the heads\' '
                     f'answers with heads-cv.py --feats gap+p8 --save var/cv/gap+p8.npz; see this file\'s docstring)')


if __name__ == '__main__':
    need(*[f'var/feat/{s}.{e}' for s in ('utk-train', 'utk-val', 'aaf-train') for e in ('json', 'f32')], 'var/cv/gap+p8.npz',
         'node_modules/@vladmandic/face-api/model/face_recognition_model.bin')
    ut, ua, ug, _ = hc.load('var/feat/utk-train'); uv, uva, uvg, _ = hc.load('var/feat/utk-val')
    at, aa, ag, _ = hc.load('var/feat/aaf-train')
    U = np.concatenate([hc.select(ut, 'gap+p8'), hc.select(uv, 'gap+p8')]); AT = hc.select(at, 'gap+p8')
    UA = np.concatenate([ua, uva]); UG = np.concatenate([ug, uvg])
    heads = np.load('var/cv/gap+p8.npz'); assert (heads['UG'] == UG).all(), 'var/cv/gap+p8.npz is of other rows'
    pm = heads['pm']
    fold = hc.deal(len(U))
    fc = dlib_fc(); DU = U[:, 0, :256] @ fc; DA = AT[:, 0, :256] @ fc
    learners = {}
    for f in range(5):
        tr = fold != f; te = fold == f
        for k, p in knn_vote(DU[te], np.concatenate([DU[tr], DA]), np.concatenate([UG[tr], ag]), [5, 10, 20]).items():
            learners.setdefault(f'knn k={k}', np.zeros(len(U)))[te] = p
        X = np.concatenate([U[tr], AT]).reshape(-1, U.shape[-1]); G = np.repeat(np.concatenate([UG[tr], ag]), 2)
        mu = X.mean(0); sd = X.std(0) + 1e-3
        for l2 in [1e-4, 1e-3, 1e-2]:
            learners.setdefault(f'logistic l2={l2}', np.zeros(len(U)))[te] = logistic((X - mu) / sd, G, (U[te] - mu) / sd, l2)
        print(f'fold {f} done', flush=True)
    ok = lambda p: (p >= 0.5) == (UG == 1); kid = UA < 10
    show = lambda p: f'gender {ok(p).mean() * 100:.2f}% (ages 0-9 {ok(p)[kid].mean() * 100:.1f}%)'
    print(f'heads (gap+p8, out of fold): {show(pm)}')
    for name, p in learners.items():
        print(f'{name}: alone {show(p)}; ' + '; '.join(f'mixed w={w}: {show((1 - w) * pm + w * p)}' for w in [0.1, 0.2, 0.35, 0.5]))
