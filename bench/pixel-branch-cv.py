#!/usr/bin/env python3
"""Probe of the pixel branch (src/model/pixel-net.ts) on one fold of bench/heads-cv.py's 5-fold split.

A PyTorch replica of the branch (4 blocks of two 3x3 conv [+ batch norm] + ReLU and a 2x2 max-pool, 16-128
filters, global average pooling, dropout 0.3, age 101 + gender 2; at 64 px here) is trained from scratch on
the raw crops of UTKFace train + validation outside the fold, plus AAF train, then its gender answers on the
fold are mixed with the out-of-fold answers of the heads (heads-cv.py --save), at several weights.

Needs: bench/heads-cv-features.ts dumps (var/feat/*.json: which rows, in which order), the crops of
`preprocess` (var/utk150/crop, var/aaf150/crop), and `heads-cv.py --feats gap+p8 --save var/cv/gap+p8.npz`.
Debian's python3-torch, numpy and PIL (run it with /usr/bin/python3); about 13 min a fold on 2 cores.

  MALLOC_MMAP_THRESHOLD_=2000000000 /usr/bin/python3 bench/pixel-branch-cv.py --fold 0
  MALLOC_MMAP_THRESHOLD_=2000000000 /usr/bin/python3 bench/pixel-branch-cv.py --fold 1 --no-bn
"""
import argparse, json, math, os, sys, time
import numpy as np, torch, torch.nn as nn, torch.nn.functional as F
from PIL import Image
sys.path.insert(0, os.path.dirname(__file__))
hc = __import__('heads-cv')

p = argparse.ArgumentParser()
p.add_argument('--fold', type=int, default=0); p.add_argument('--size', type=int, default=64)
p.add_argument('--epochs', type=int, default=12); p.add_argument('--no-bn', action='store_true')
p.add_argument('--heads', default='var/cv/gap+p8.npz')
args = p.parse_args()
torch.set_num_threads(2); S = args.size

def images(base, folder):
    """The rows of a feature dump, as S x S RGB crops (cached beside the dump)."""
    rows = json.load(open(base + '.json'))['rows']; cache = f'{base}.px{S}.npy'
    try: x = np.load(cache)
    except FileNotFoundError:
        x = np.stack([np.asarray(Image.open(f'{folder}/{r["filename"]}').convert('RGB').resize((S, S), Image.BILINEAR)) for r in rows])
        np.save(cache, x)
    return x, np.array([r['age'] for r in rows]), np.array([r['gender'] for r in rows])

t0 = time.time()
ut = images('var/feat/utk-train', 'var/utk150/crop'); uv = images('var/feat/utk-val', 'var/utk150/crop')
at = images('var/feat/aaf-train', 'var/aaf150/crop')
U = np.concatenate([ut[0], uv[0]]); UA = np.concatenate([ut[1], uv[1]]); UG = np.concatenate([ut[2], uv[2]])
fold = hc.deal(len(U))
tr = fold != args.fold
X = np.concatenate([U[tr], at[0]]); A = np.concatenate([UA[tr], at[1]]); G = np.concatenate([UG[tr], at[2]])

def block(i, o):
    conv = lambda a, b: [nn.Conv2d(a, b, 3, padding=1, bias=args.no_bn)] + ([] if args.no_bn else [nn.BatchNorm2d(b)]) + [nn.ReLU()]
    return nn.Sequential(*conv(i, o), *conv(o, o), nn.MaxPool2d(2))
net = nn.Sequential(block(3, 16), block(16, 32), block(32, 64), block(64, 128), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                    nn.Dropout(0.3), nn.Linear(128, 103)).to(memory_format=torch.channels_last)
opt = torch.optim.AdamW(net.parameters(), 2e-3, weight_decay=1e-4)
Xt = torch.from_numpy(X).permute(0, 3, 1, 2).contiguous(); n = len(X); bs = 64; steps = n // bs; total = steps * args.epochs
classes = torch.arange(101).float(); rng = np.random.default_rng(1); k = 0
prep = lambda xb: ((xb.float() - 118) / 64).contiguous(memory_format=torch.channels_last)
for ep in range(args.epochs):
    net.train(); order = rng.permutation(n); t1 = time.time()
    for b in range(steps):
        for g in opt.param_groups: g['lr'] = 2e-3 * 0.5 * (1 + math.cos(math.pi * k / total))
        k += 1; idx = order[b * bs:(b + 1) * bs]; xb = prep(Xt[idx])
        flip = torch.rand(len(idx)) < 0.5; xb[flip] = xb[flip].flip(3)
        dx, dy = rng.integers(-4, 5, 2); xb = torch.roll(xb, (int(dy), int(dx)), (2, 3))  # shift up to 4 px
        out = net(xb); a = torch.from_numpy(A[idx]); g = torch.from_numpy(G[idx]).long()
        t = torch.exp(-(classes[None] - a[:, None].float()) ** 2 / 8); t = t / t.sum(1, keepdim=True)  # sigma 2
        loss = -(t * F.log_softmax(out[:, :101], 1)).sum(1).mean() + F.cross_entropy(out[:, 101:], g)
        opt.zero_grad(); loss.backward(); opt.step()
    print(f'epoch {ep + 1}: {time.time() - t1:.0f}s, loss {float(loss):.3f}', flush=True)

net.eval(); H = torch.from_numpy(U[fold == args.fold]).permute(0, 3, 1, 2); pm = []; pa = []
with torch.no_grad():
    for i in range(0, len(H), 256):
        xb = prep(H[i:i + 256]); o1 = net(xb); o2 = net(xb.flip(3))  # plain and mirrored, averaged
        pm.append(((F.softmax(o1[:, 101:], 1) + F.softmax(o2[:, 101:], 1))[:, 1] / 2).numpy())
        pa.append((((F.softmax(o1[:, :101], 1) + F.softmax(o2[:, :101], 1)) / 2) * classes).sum(1).numpy())
pm = np.concatenate(pm); pa = np.concatenate(pa)
heads = np.load(args.heads)['pm'][fold == args.fold]; truth = UG[fold == args.fold]; ages = UA[fold == args.fold]; kid = ages < 10
acc = lambda q, m=slice(None): ((q >= 0.5) == (truth == 1))[m].mean() * 100
logit = lambda q: np.log(np.clip(q, 1e-6, 1 - 1e-6) / np.clip(1 - q, 1e-6, 1))
print(f'fold {args.fold} ({len(truth)} faces, {kid.sum()} aged 0-9), batch norm {"off" if args.no_bn else "on"}')
print(f'branch alone: MAE {np.abs(pa - ages).mean():.2f}, gender {acc(pm):.2f}%, ages 0-9 {acc(pm, kid):.1f}%')
for w in (0, 0.1, 0.15, 0.2, 0.25, 0.3, 0.5):
    mixed = 1 / (1 + np.exp(-((1 - w) * logit(heads) + w * logit(pm))))
    print(f'mix {w}: gender {acc(mixed):.2f}%, ages 0-9 {acc(mixed, kid):.1f}%, 10+ {acc(mixed, ~kid):.2f}%')
print(f'{time.time() - t0:.0f}s')
