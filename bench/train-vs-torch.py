"""PyTorch side of bench/train-vs-torch.sh: img/s of training steps (forward, backward, Adam) of the
seed network `basic-cnn` (src/model/basic-cnn.ts) or of `resnet-xs` (src/model/resnet.ts, the default
from-scratch network, with batch norm), layer for layer, on the CPU.

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


ARCHS = {"basic-cnn": BasicCnn, "resnet-xs": ResNetXs}


def time_steps(arch: str, size: int, batch: int, steps: int, channels_last: bool) -> float:
    torch.manual_seed(1)
    model = ARCHS[arch](size)
    x = torch.randn(batch, 3, size, size)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    age_t = torch.randint(0, 101, (batch,))
    gender_t = torch.randint(0, 2, (batch,))
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
    for size in [int(s) for s in args.sizes.split(",")]:
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
