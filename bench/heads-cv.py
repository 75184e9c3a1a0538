#!/usr/bin/env python3
"""5-fold cross-validation of age/gender heads on dumped dlib-ResNet features (bench/heads-cv-features.ts).

A PyTorch replica of the heads phase of `train --backbone` (batch norm, dropout 0.3, dense 512 ReLU, dropout,
age 101 + gender 2; Gaussian age target, sigma 2; Adam, warm-up then cosine decay; batch 64; 15 epochs), used to
compare feature sets and training choices with less noise than one validation split: UTKFace train + validation
(var/feat/utk-train, utk-val) are dealt into 5 folds and each face is scored once by heads that did not see it
(plain and mirrored views averaged); AAF train (var/feat/aaf-train) is always trained on and AAF validation
(var/feat/aaf-val) scored by each fold's heads. Needs Debian's python3-torch and numpy (run it with
/usr/bin/python3 there); MALLOC_MMAP_THRESHOLD_=2000000000 makes it several times faster.

  /usr/bin/python3 bench/heads-cv.py --feats gap+p8 --save var/cv/base.npz
  /usr/bin/python3 bench/heads-cv.py --feats gap+p8 --clean-from var/cv/base.npz --clean 0.05
  /usr/bin/python3 bench/heads-cv.py --feats gap+p8 --extra var/featmfn   # + another dump, same rows
"""
import json, sys, math, time, argparse
import numpy as np, torch, torch.nn as nn, torch.nn.functional as F
torch.set_num_threads(1)
EXTRA = []
SL = {'gap': (0, 256), 'p8': (256, 2304), 'p17': (2304, 3328), 'p35': (3328, 3840), 'f4': (3840, 7936), 'px': (7936, 8044)}

def load(base):
    meta = json.load(open(base + '.json'))
    n = len(meta['rows'])
    x = np.fromfile(base + '.f32', dtype=np.float32).reshape(n, 2, meta['per'])
    ages = np.array([r['age'] for r in meta['rows']]); g = np.array([r['gender'] for r in meta['rows']])
    return x, ages, g, [r['filename'] for r in meta['rows']]

def select(x, feats, setname=None):
    parts = []
    for f in feats.split('+'):
        if f == 'f4p2':  # 4x4x256 pooled to 2x2
            a = x[..., 3840:7936].reshape(*x.shape[:-1], 4, 4, 256)
            a = a.reshape(*x.shape[:-1], 2, 2, 2, 2, 256).mean(axis=(-4, -2)).reshape(*x.shape[:-1], -1)
            parts.append(a)
        elif f == 'p8p2':
            a = x[..., 256:2304].reshape(*x.shape[:-1], 4, 4, 128)
            a = a.reshape(*x.shape[:-1], 2, 2, 2, 2, 128).mean(axis=(-4, -2)).reshape(*x.shape[:-1], -1)
            parts.append(a)
        else:
            s, e = SL[f]; parts.append(x[..., s:e])
    for extra in EXTRA:  # other dumps of the same rows (same order), whole
        parts.append(load(f'{extra}/{setname}')[0])
    return np.ascontiguousarray(np.concatenate(parts, -1))

def deal(n, folds=5):
    """Fold of each of the n UTKFace train + validation rows: one seeded deal, shared by every cross-validation bench."""
    return np.random.default_rng(0).permutation(n) % folds

class Heads(nn.Module):
    def __init__(s, d, hidden=512, drop=0.3, sep=False):
        super().__init__()
        s.bn = nn.BatchNorm1d(d, momentum=0.01, eps=1e-3); s.drop = nn.Dropout(drop)
        s.h = nn.Linear(d, hidden); s.age = nn.Linear(hidden, 101); s.gender = nn.Linear(hidden, 2)
        s.sep = sep
        if sep: s.hg = nn.Linear(d, hidden)
    def forward(s, x):
        x = s.drop(s.bn(x)); h = s.drop(F.relu(s.h(x)))
        hg = s.drop(F.relu(s.hg(x))) if s.sep else h
        return s.age(h), s.gender(hg)

def age_targets(a, sigma=2.0):
    c = torch.arange(101).float()
    t = torch.exp(-(c[None] - a[:, None].float()) ** 2 / (2 * sigma * sigma))
    return t / t.sum(1, keepdim=True)

def train(X, A, G, args, seed, W=None):
    torch.manual_seed(seed); rng = np.random.default_rng(seed)
    n, V, d = X.shape
    members = [Heads(d, args.hidden, args.drop, args.sep) for _ in range(args.ens)]
    params = [p for m in members for p in m.parameters()]
    opt = torch.optim.Adam(params, lr=args.lr, eps=1e-7, foreach=True)
    steps = math.ceil(n / args.bs); total = steps * args.epochs; warm = min(500, int(total * 0.05)); k = 0
    Xt = torch.from_numpy(X); At = torch.from_numpy(A); Gt = torch.from_numpy(G).long()
    Wt = torch.from_numpy(W).float() if W is not None else None
    for m in members: m.train()
    for ep in range(args.epochs):
        order = torch.from_numpy(rng.permutation(n))
        for b in range(steps):
            lr = args.lr * (k + 1) / warm if k < warm else args.lr * (0.01 + 0.5 * 0.99 * (1 + math.cos(math.pi * min(1, (k - warm) / max(1, total - warm)))))
            for gp in opt.param_groups: gp['lr'] = lr
            idx = order[b * args.bs:(b + 1) * args.bs]
            if len(idx) < 2: continue
            v = torch.from_numpy(rng.integers(0, V, len(idx)))
            xb = Xt[idx, v]; at = age_targets(At[idx]); gb = Gt[idx]
            loss = 0
            for m in members:
                la, lg = m(xb)
                ageL = -(at * F.log_softmax(la, 1)).sum(1)
                gL = F.cross_entropy(lg, gb, reduction='none', label_smoothing=args.ls)
                if Wt is not None: gL = gL * Wt[idx]
                loss = loss + (ageL.mean() + args.gw * gL.mean()) / (1 + args.gw)
            opt.zero_grad(); (loss / len(members)).backward(); opt.step(); k += 1
    for m in members: m.eval()
    return members

@torch.no_grad()
def predict(members, X):
    Xt = torch.from_numpy(X); pa = 0; pg = 0
    for v in range(X.shape[1]):
        la = sum(m(Xt[:, v])[0] for m in members) / len(members)
        lg = sum(m(Xt[:, v])[1] for m in members) / len(members)
        pa = pa + F.softmax(la, 1) / X.shape[1]; pg = pg + F.softmax(lg, 1)[:, 1] / X.shape[1]
    age = (pa * torch.arange(101).float()).sum(1)
    return age.numpy(), pg.numpy()

def report(name, age, pm, A, G):
    err = np.abs(age - A); ok = (pm >= 0.5) == (G == 1)
    kid = A < 10
    return f"{name}: n {len(A)} MAE {err.mean():.3f} CS5 {(err <= 5).mean():.3f} gender {ok.mean()*100:.2f}% kids(0-9) {ok[kid].mean()*100:.1f}% (n {kid.sum()}) adults {ok[~kid].mean()*100:.2f}%"

if __name__ == '__main__':
    p = argparse.ArgumentParser()
    p.add_argument('--feats', default='gap+p8'); p.add_argument('--hidden', type=int, default=512)
    p.add_argument('--drop', type=float, default=0.3); p.add_argument('--ens', type=int, default=1)
    p.add_argument('--epochs', type=int, default=15); p.add_argument('--bs', type=int, default=64)
    p.add_argument('--lr', type=float, default=1e-3); p.add_argument('--gw', type=float, default=1.0)
    p.add_argument('--ls', type=float, default=0.0); p.add_argument('--sep', action='store_true')
    p.add_argument('--folds', type=int, default=5); p.add_argument('--seed', type=int, default=1)
    p.add_argument('--nfolds-run', type=int, default=5); p.add_argument('--noaaf', action='store_true'); p.add_argument('--clean', type=float, default=0); p.add_argument('--clean-from', default=''); p.add_argument('--extra', action='append', default=[]); p.add_argument('--save', default='')
    args = p.parse_args()
    t0 = time.time()
    EXTRA.extend(args.extra)
    ut, ua, ug, _ = load('var/feat/utk-train'); uv, uva, uvg, _ = load('var/feat/utk-val')
    at_, aa, ag, _ = load('var/feat/aaf-train'); av, ava, avg, _ = load('var/feat/aaf-val')
    U = np.concatenate([select(ut, args.feats, 'utk-train'), select(uv, args.feats, 'utk-val')]); UA = np.concatenate([ua, uva]); UG = np.concatenate([ug, uvg])
    AT = select(at_, args.feats, 'aaf-train'); AV = select(av, args.feats, 'aaf-val')
    if args.noaaf: AT = AT[:0]; aa = aa[:0]; ag = ag[:0]
    fold = deal(len(U), args.folds)
    if args.clean > 0:  # out-of-fold P(own gender label) from an earlier run's --save
        prev = np.load(args.clean_from); p_label = np.where(UG == 1, prev['pm'], 1 - prev['pm'])
    ages = np.zeros(len(U)); pm = np.zeros(len(U)); done = np.zeros(len(U), bool)
    aafs = []
    for f in range(args.nfolds_run):
        tr = fold != f
        if args.clean > 0: tr = tr & ~(p_label < args.clean)  # leave out the label suspects
        X = np.concatenate([U[tr], AT]); A = np.concatenate([UA[tr], aa]); G = np.concatenate([UG[tr], ag])
        m = train(X, A, G, args, args.seed + f)
        a, g = predict(m, U[fold == f]); ages[fold == f] = a; pm[fold == f] = g; done[fold == f] = True
        aafs.append(predict(m, AV))
    print(vars(args))
    print(report('UTK cv', ages[done], pm[done], UA[done], UG[done]))
    aa_age = np.mean([x[0] for x in aafs], 0); aa_pm = np.mean([x[1] for x in aafs], 0)
    print(report('AAF val (fold models avg)', aa_age, aa_pm, ava, avg))
    print(report('AAF val (fold 0 model)', aafs[0][0], aafs[0][1], ava, avg))
    if args.save: np.savez(args.save, ages=ages, pm=pm, done=done, UA=UA, UG=UG)
    print(f'{time.time()-t0:.0f}s')
