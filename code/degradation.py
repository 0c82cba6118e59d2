"""局部极值与退化问题：不同宽度的网络从多个初始化出发各能训练到哪里；深的普通网络为什么训练得比浅的差，残差连接怎样解决。"""

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

import chapter_kit

# 数据：一个随机初始化的“教师网络”给 4096 个点打上 10 类标签，学生网络要拟合它
N_SAMPLES = 4096
N_INPUTS = 16
N_CLASSES = 10
BATCH_SIZE = 256
LR = 0.05
MOMENTUM = 0.9
WIDTH = 64
SHALLOW_BLOCKS = 2  # 1 + 2×2 + 1 = 6 个线性层
DEEP_BLOCKS = 20  # 1 + 2×20 + 1 = 42 个线性层
STEPS = 600
QUICK_DEEP_BLOCKS = 10
QUICK_STEPS = 250
# 局部极值：窄网络和宽网络，各从若干个随机初始化出发
WIDTHS = (4, 64)
SEEDS = 5
QUICK_SEEDS = 3


def make_data(generator):
    teacher = nn.Sequential(
        nn.Linear(N_INPUTS, 128), nn.Tanh(), nn.Linear(128, 128), nn.Tanh(), nn.Linear(128, N_CLASSES)
    )
    x = torch.randn(N_SAMPLES, N_INPUTS, generator=generator)
    with torch.no_grad():
        y = teacher(x).argmax(dim=1)
    return x, y


# --8<-- [start:block]
class Block(nn.Module):
    """两层 Linear + BN；residual=True 时把输入直接加到输出上：H(x) = F(x) + x。"""

    def __init__(self, width, residual):
        super().__init__()
        self.residual = residual
        self.f = nn.Sequential(
            nn.Linear(width, width), nn.BatchNorm1d(width), nn.ReLU(),
            nn.Linear(width, width), nn.BatchNorm1d(width),
        )

    def forward(self, x):  # (N, 64)
        out = self.f(x)  # (N, 64)
        if self.residual:
            out = out + x  # 恒等捷径（shortcut）：什么都不学，这一块就是恒等映射
        return F.relu(out)


def make_net(blocks, residual, width=WIDTH):
    return nn.Sequential(
        nn.Linear(N_INPUTS, width), nn.BatchNorm1d(width), nn.ReLU(),
        *[Block(width, residual) for _ in range(blocks)],
        nn.Linear(width, N_CLASSES),
    )
# --8<-- [end:block]


def train(model, x, y, steps, generator):
    """小批量 SGD（带动量），与 ResNet 论文一样；返回每一步的训练损失。"""
    optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    losses = []
    for _ in chapter_kit.progress(range(steps), desc="训练"):
        index = torch.randint(0, len(x), (BATCH_SIZE,), generator=generator).to(x.device)
        loss = F.cross_entropy(model(x[index]), y[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def evaluate(model, x, y):
    model.eval()
    with torch.no_grad():
        logits = model(x)
        result = F.cross_entropy(logits, y).item(), (logits.argmax(dim=1) == y).float().mean().item()
    model.train()
    return result


# --8<-- [start:gradients]
def linear_gradient_norms(model, x, y):
    """初始化时每个线性层权重的梯度范数：检查深的普通网络是不是梯度消失了。"""
    model.zero_grad()
    F.cross_entropy(model(x[:BATCH_SIZE]), y[:BATCH_SIZE]).backward()
    return [m.weight.grad.norm().item() for m in model.modules() if isinstance(m, nn.Linear)]
# --8<-- [end:gradients]


def smooth(values, window=25):
    kernel = torch.ones(window) / window
    return F.conv1d(torch.tensor(values)[None, None], kernel[None, None]).flatten()


def main(argv=None):
    parser = chapter_kit.chapter_parser(__file__, __doc__)
    run = chapter_kit.start(parser, argv)
    steps = QUICK_STEPS if run.quick else STEPS
    deep_blocks = QUICK_DEEP_BLOCKS if run.quick else DEEP_BLOCKS
    seeds = QUICK_SEEDS if run.quick else SEEDS
    x, y = (t.to(run.device) for t in make_data(torch.Generator().manual_seed(run.seed)))

    def layers(blocks):
        return 2 * blocks + 2

    nets = {
        f"普通网络，{layers(SHALLOW_BLOCKS)} 层": (SHALLOW_BLOCKS, False),
        f"普通网络，{layers(deep_blocks)} 层": (deep_blocks, False),
        f"残差网络，{layers(deep_blocks)} 层": (deep_blocks, True),
    }
    curves, final, gradient_norms = {}, {}, {}
    for name, (blocks, residual) in nets.items():
        torch.manual_seed(run.seed)
        model = make_net(blocks, residual).to(run.device)
        gradient_norms[name] = linear_gradient_norms(model, x, y)
        curves[name] = train(model, x, y, steps, torch.Generator().manual_seed(run.seed))
        final[name] = evaluate(model, x, y)

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for (name, losses), style in zip(curves.items(), ("-", "-", "--"), strict=True):
        ax.plot(range(25, len(losses) + 1), smooth(losses), style, lw=2, label=name)
    ax.set_yscale("log")
    ax.set_xlabel("训练步数")
    ax.set_ylabel("训练损失（25 步滑动平均，对数坐标）")
    ax.set_title("退化问题：更深的普通网络连训练集都拟合得更差")
    ax.legend()
    run.save_figure(fig, "training_curves")

    # --8<-- [start:minima]
    spread = {}
    for width in WIDTHS:
        losses = []
        for seed in range(seeds):
            torch.manual_seed(seed)  # 同样的数据，不同的初始化
            model = make_net(SHALLOW_BLOCKS, residual=False, width=width).to(run.device)
            train(model, x, y, steps, torch.Generator().manual_seed(seed))
            losses.append(evaluate(model, x, y)[0])
        spread[width] = torch.tensor(losses)
    # --8<-- [end:minima]

    fig, ax = plt.subplots(figsize=(6, 3.6))
    for i, (width, losses) in enumerate(spread.items()):
        ax.scatter([i] * len(losses), losses, s=40, label=f"宽度 {width}")
    ax.set_xticks(range(len(spread)), [f"宽度 {w}" for w in spread])
    ax.set_yscale("log")
    ax.set_ylabel("训练结束时的损失（对数坐标）")
    ax.set_title(f"{seeds} 个随机初始化各训练到哪里")
    run.save_figure(fig, "minima")

    names = list(nets)
    plain_deep = gradient_norms[names[1]]
    run.record(
        steps=steps,
        shallow_layers=layers(SHALLOW_BLOCKS),
        deep_layers=layers(deep_blocks),
        table=[{"网络": name, "训练集损失": f"{loss:.3f}", "训练集准确率": f"{acc:.1%}"}
               for name, (loss, acc) in final.items()],
        shallow_loss=final[names[0]][0],
        plain_loss=final[names[1]][0],
        residual_loss=final[names[2]][0],
        shallow_accuracy=final[names[0]][1],
        plain_accuracy=final[names[1]][1],
        residual_accuracy=final[names[2]][1],
        plain_first_gradient=plain_deep[0],
        plain_last_gradient=plain_deep[-1],
        plain_gradient_min=min(plain_deep),
        plain_gradient_max=max(plain_deep),
        seeds=seeds,
        minima=[{"宽度": w, "参数个数": sum(p.numel() for p in make_net(SHALLOW_BLOCKS, False, w).parameters()),
                 "最终损失：最小": f"{v.min():.3f}", "最大": f"{v.max():.3f}", "平均": f"{v.mean():.3f}"}
                for w, v in spread.items()],
        narrow_loss_range=spread[WIDTHS[0]].max() - spread[WIDTHS[0]].min(),
        wide_loss_range=spread[WIDTHS[-1]].max() - spread[WIDTHS[-1]].min(),
        narrow_loss_mean=spread[WIDTHS[0]].mean(),
        wide_loss_mean=spread[WIDTHS[-1]].mean(),
    )
    run.finish()


if __name__ == "__main__":
    main()
