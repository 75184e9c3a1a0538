"""PyTorch side of bench/train-vs-torch.sh: img/s of training steps (forward, backward, Adam) of the
seed network `basic-cnn` (src/model/basic-cnn.ts), of `resnet-xs` (src/model/resnet.ts, the default
from-scratch network, with batch norm), or of `dlib-resnet` (the default model's network as finetune's full phase
trains it at 150 px: src/model/backbones/dlib-resnet-layers.ts + the heads of src/model/agegender-net.ts), layer
for layer, on the CPU.

  /usr/bin/python3 bench/train-vs-torch.py --arch basic-cnn --sizes 64,128 --batch 32 --steps 6 --threads 2

Prints one JSON line per size: {"size", "batch", "img_s", "ms_step", "cpu_ms_img", "layout"}
(cpu_ms_img: CPU time of all threads per image, which moves less with other load than wall time). Both memory layouts
are timed (NCHW, torch's default, and channels_last) and the faster one is reported, so that the
comparison is against PyTorch at its best on this machine.
"""
import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class BasicCnn(nn.Module):
    def __init__(self, size: int):
        super().__init__()
        self.convs = nn.ModuleList(
            [nn.Conv2d(3, 32, 5, padding=2), nn.Conv2d(32, 64, 5, padding=2), nn.Conv2d(64, 128, 5, padding=2)]
        )
        self.rates = [0.2, 0.4, 0.7]
        self.fc = nn.Linear(128 * (size // 8) ** 2, 1024)
        self.age = nn.Linear(1024, 101)
        self.gender = nn.Linear(1024, 2)

    def forward(self, x):
        for conv, rate in zip(self.convs, self.rates):
            x = F.dropout(F.max_pool2d(F.relu(conv(x)), 2), rate, self.training)
        x = F.dropout(F.relu(self.fc(torch.flatten(x, 1))), 0.4, self.training)
        return self.age(x), self.gender(x)


class Block(nn.Module):
    """conv-BN-ReLU-conv-BN plus the shortcut (1x1 conv + BN when the shape changes), then ReLU."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout, eps=1e-3, momentum=0.1)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout, eps=1e-3, momentum=0.1)
        self.proj = None
        if stride != 1 or cin != cout:
            self.proj = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout, eps=1e-3))

    def forward(self, x):
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(y + (self.proj(x) if self.proj is not None else x))


class ResNetXs(nn.Module):
    """RESNET_XS of src/model/resnet.ts: strided 3x3 stem (16), stages 16/32/64/128 (strides 1, 2, 2, 2),
    global average pooling, dropout 0.2, linear age and gender heads (Keras's BN: eps 1e-3, momentum 0.9)."""

    def __init__(self, size: int):
        super().__init__()
        widths = [16, 16, 32, 64, 128]
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16, eps=1e-3), nn.ReLU())
        blocks, cin = [], widths[0]
        for i, w in enumerate(widths[1:]):
            blocks.append(Block(cin, w, 1 if i == 0 else 2))
            cin = w
        self.blocks = nn.Sequential(*blocks)
        self.age = nn.Linear(cin, 101)
        self.gender = nn.Linear(cin, 2)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        x = F.dropout(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1), 0.2, self.training)
        return self.age(x), self.gender(x)


class DlibBlock(nn.Module):
    """dlib's residual block: conv-ReLU-conv (biased: face-api's conv + affine scale, folded) plus the shortcut,
    then ReLU. A down block's first conv is 3x3 stride 2 'valid', its shortcut a 2x2 average pool widened to the
    block's channels by a frozen identity 1x1 conv (as our layers do), its conv branch zero-padded bottom/right
    where it comes out one pixel smaller than the pool."""

    def __init__(self, cin: int, cout: int, down: bool):
        super().__init__()
        self.down = down
        self.conv1 = nn.Conv2d(cin, cout, 3, 2 if down else 1, 0 if down else 1)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.widen = None
        if down and cin != cout:
            self.widen = nn.Conv2d(cin, cout, 1, bias=False)
            with torch.no_grad():
                self.widen.weight.zero_()
                self.widen.weight[:cin, :, 0, 0] = torch.eye(cin)
            self.widen.weight.requires_grad_(False)

    def forward(self, x):
        y = self.conv2(F.relu(self.conv1(x)))
        short = x
        if self.down:
            short = F.avg_pool2d(x, 2, 2)
            if y.shape[2] != short.shape[2]:
                y = F.pad(y, (0, 1, 0, 1))
            if self.widen is not None:
                short = self.widen(short)
        return F.relu(y + short)


class Heads(nn.Module):
    """One member of the heads ensemble (src/model/heads.ts): batch norm on the features (Keras: eps 1e-3,
    momentum 0.99), dropout, a 512-unit ReLU layer, dropout, linear age (101) and gender (2) outputs."""

    def __init__(self, n: int, hidden: int = 512, rate: float = 0.3):
        super().__init__()
        self.norm = nn.BatchNorm1d(n, eps=1e-3, momentum=0.01)
        self.rate = rate
        self.hidden = nn.Linear(n, hidden)
        self.age = nn.Linear(hidden, 101)
        self.gender = nn.Linear(hidden, 2)

    def forward(self, f):
        x = F.dropout(self.norm(f), self.rate, self.training)
        h = F.dropout(F.relu(self.hidden(x)), self.rate, self.training)
        return self.age(h), self.gender(h)


class DlibResNet(nn.Module):
    """The default model's image -> age/gender network: dlib's ResNet (7x7/2 stem, 3x3/2 max pool, blocks
    32x3, 64 down + 3, 128 down + 2, 256 down + 2, 256 down, global average pooling to 256), the 'fine'
    features (the 256 pooled + the 8x8x128 map after conv128_2 average-pooled to 4x4: 2,304 values), and 4
    heads members whose logits are averaged. `size` is ignored (150 px)."""

    BLOCKS = [(32, False)] * 3 + [(64, True)] + [(64, False)] * 3 + [(128, True)] + [(128, False)] * 2
    TAIL = [(256, True), (256, False), (256, False), (256, True)]

    def __init__(self, size: int):
        super().__init__()
        self.stem = nn.Conv2d(3, 32, 7, 2, 0)

        def blocks(spec, cin):
            out = []
            for w, down in spec:
                out.append(DlibBlock(cin, w, down))
                cin = w
            return nn.Sequential(*out), cin

        self.trunk, c = blocks(self.BLOCKS, 32)
        self.tail, c = blocks(self.TAIL, c)
        self.members = nn.ModuleList([Heads(256 + 128 * 16) for _ in range(4)])

    def forward(self, x):
        m = self.trunk(F.max_pool2d(F.relu(self.stem(x)), 3, 2))
        pooled = torch.flatten(F.adaptive_avg_pool2d(self.tail(m), 1), 1)
        # Our map is NHWC: flatten the 4x4 pool in (h, w, c) order, as tf.layers.flatten does.
        fine = torch.flatten(F.avg_pool2d(m, 2, 2).permute(0, 2, 3, 1), 1)
        f = torch.cat([pooled, fine], 1)
        outs = [h(f) for h in self.members]
        return sum(o[0] for o in outs) / len(outs), sum(o[1] for o in outs) / len(outs)


ARCHS = {"basic-cnn": BasicCnn, "resnet-xs": ResNetXs, "dlib-resnet": DlibResNet}


def soft_age_targets(ages: torch.Tensor, sigma: float) -> torch.Tensor:
    """src/model/losses.ts ageTargets: a discretised Gaussian on the true age, rows summing to 1."""
    c = torch.arange(101, dtype=torch.float32)
    t = torch.exp(-((c[None, :] - ages[:, None].float()) ** 2) / (2 * sigma * sigma))
    return t / t.sum(1, keepdim=True)


def time_steps(arch: str, size: int, batch: int, steps: int, channels_last: bool) -> float:
    torch.manual_seed(1)
    model = ARCHS[arch](size)
    x = torch.randn(batch, 3, size, size)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    age_t = torch.randint(0, 101, (batch,))
    gender_t = torch.randint(0, 2, (batch,))
    if arch == "dlib-resnet":  # the full phase's soft age targets (finetune's default sigma 2)
        age_t = soft_age_targets(age_t, 2.0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()

    def step():
        opt.zero_grad(set_to_none=True)
        a, g = model(x)
        loss = (F.cross_entropy(a, age_t) + F.cross_entropy(g, gender_t)) / 2
        loss.backward()
        opt.step()
        return loss.item()

    step()
    step()
    t0 = time.perf_counter()
    c0 = time.process_time()  # CPU time of all threads
    for _ in range(steps):
        step()
    return (time.perf_counter() - t0) / steps, (time.process_time() - c0) / steps


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--arch", default="basic-cnn", choices=sorted(ARCHS))
    p.add_argument("--sizes", default="64,128")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    sizes = [150] if args.arch == "dlib-resnet" else [int(s) for s in args.sizes.split(",")]
    for size in sizes:
        best = None
        for layout in ("nchw", "channels_last"):
            sec, cpu = time_steps(args.arch, size, args.batch, args.steps, layout == "channels_last")
            if best is None or sec < best[0]:
                best = (sec, layout, cpu)
        sec, layout, cpu = best
        print(
            json.dumps(
                {
                    "arch": args.arch,
                    "size": size,
                    "batch": args.batch,
                    "img_s": round(args.batch / sec, 2),
                    "ms_step": round(sec * 1000, 1),
                    "cpu_ms_img": round(cpu * 1000 / args.batch, 2),
                    "layout": layout,
                    "torch": torch.__version__,
                    "threads": torch.get_num_threads(),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
