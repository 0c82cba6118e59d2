"""梯度消失与梯度爆炸：测量深层网络每一层的梯度（sigmoid、ReLU、加 BN、初始权重过大），并用梯度裁剪驯服爆炸。"""

import math

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

import chapter_kit

DEPTH = 8  # 隐藏层数
WIDTH = 64
N_INPUTS = 64
N_CLASSES = 10
N_SAMPLES = 512
# 梯度爆炸的例子：初始权重的标准差是 He 初始化的 1.6 倍，每过一层信号放大约 1.6 倍
EXPLODE_GAIN = 1.6
LR = 0.01
MAX_NORM = 1.0  # 梯度裁剪的阈值
STEPS = 300
QUICK_STEPS = 100
BN_SCALE = 10.0


# --8<-- [start:mlp]
def deep_mlp(activation, batch_norm=False, init_gain=None, n_outputs=N_CLASSES):
    """DEPTH 个隐藏层的全连接网络；init_gain 给定时按 He 初始化乘上这个倍数。"""
    layers, width_in = [], N_INPUTS
    for _ in range(DEPTH):
        linear = nn.Linear(width_in, WIDTH)
        if init_gain is not None:
            nn.init.normal_(linear.weight, std=init_gain * math.sqrt(2 / width_in))
            nn.init.zeros_(linear.bias)
        layers.append(linear)
        if batch_norm:
            layers.append(nn.BatchNorm1d(WIDTH))  # 放在激活函数之前，把每个神经元的输入拉回均值 0、方差 1
        layers.append(activation())
        width_in = WIDTH
    layers.append(nn.Linear(width_in, n_outputs))
    return nn.Sequential(*layers)


def layer_gradient_norms(model, x, y):
    """一次前向和反向传播之后，每个隐藏层权重的梯度范数（从靠近输入的第 1 层数起）。"""
    model.zero_grad()
    F.cross_entropy(model(x), y).backward()
    linears = [m for m in model if isinstance(m, nn.Linear)][:-1]  # 不含输出层
    return [layer.weight.grad.norm().item() for layer in linears]
# --8<-- [end:mlp]


# --8<-- [start:clip]
def train(model, x, target, steps, max_norm=None):
    """回归任务上的 SGD；max_norm 给定时做梯度裁剪。"""
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    losses = []
    for _ in chapter_kit.progress(range(steps), desc="训练"):
        loss = F.mse_loss(model(x), target)
        optimizer.zero_grad()
        loss.backward()
        if max_norm is not None:
            # 所有参数的梯度拼成一个向量，范数超过 max_norm 就整体按比例缩小
            nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        optimizer.step()
        losses.append(loss.item())
    return losses
# --8<-- [end:clip]


# --8<-- [start:bn_scale]
def bn_scale_invariance(x, y):
    """把 BN 前面那一层的权重放大 a 倍：输出不变，这一层的梯度缩小为 1/a。"""
    torch.manual_seed(0)
    model = deep_mlp(nn.Sigmoid, batch_norm=True).to(x.device)
    first = model[0]
    before = layer_gradient_norms(model, x, y)[0]
    output = model(x)
    with torch.no_grad():
        first.weight *= BN_SCALE
        first.bias *= BN_SCALE
    after = layer_gradient_norms(model, x, y)[0]
    change = (model(x) - output).abs().max().item()
    return before, after, change
# --8<-- [end:bn_scale]


def first_nonfinite(losses):
    return next((i + 1 for i, loss in enumerate(losses) if not math.isfinite(loss)), None)


def main(argv=None):
    parser = chapter_kit.chapter_parser(__file__, __doc__)
    run = chapter_kit.start(parser, argv)
    steps = QUICK_STEPS if run.quick else STEPS
    x = torch.randn(N_SAMPLES, N_INPUTS, device=run.device)
    y = torch.randint(0, N_CLASSES, (N_SAMPLES,), device=run.device)

    variants = {
        "sigmoid（默认初始化）": dict(activation=nn.Sigmoid),
        "ReLU（He 初始化）": dict(activation=nn.ReLU, init_gain=1.0),
        "sigmoid + BatchNorm": dict(activation=nn.Sigmoid, batch_norm=True),
        f"ReLU（初始权重 ×{EXPLODE_GAIN}）": dict(activation=nn.ReLU, init_gain=EXPLODE_GAIN),
    }
    norms = {}
    for name, options in variants.items():
        torch.manual_seed(run.seed)
        norms[name] = layer_gradient_norms(deep_mlp(**options).to(run.device), x, y)

    layers = range(1, DEPTH + 1)
    fig, ax = plt.subplots(figsize=(7.2, 4.4))
    for (name, values), marker in zip(norms.items(), "osD^", strict=True):
        ax.plot(layers, values, marker=marker, label=name)
    ax.set_yscale("log")
    ax.set_xlabel("隐藏层（1 = 最靠近输入）")
    ax.set_ylabel("权重梯度的范数（对数坐标）")
    ax.set_title(f"{DEPTH} 个隐藏层的网络在初始化时各层的梯度")
    ax.legend(fontsize=9)
    ax.grid(True, which="major", alpha=0.3)
    run.save_figure(fig, "layer_gradients")

    explode = dict(variants[f"ReLU（初始权重 ×{EXPLODE_GAIN}）"], n_outputs=1)
    target = 2 * x[:, :1] + torch.sin(x[:, 1:2])  # (512, 1)：一个简单的回归目标
    torch.manual_seed(run.seed)
    plain_losses = train(deep_mlp(**explode).to(run.device), x, target, steps)
    torch.manual_seed(run.seed)
    clipped_losses = train(deep_mlp(**explode).to(run.device), x, target, steps, max_norm=MAX_NORM)

    fig, ax = plt.subplots(figsize=(7.2, 3.8))
    finite = [loss for loss in plain_losses if math.isfinite(loss)]
    ax.plot(range(1, len(finite) + 1), finite, "o-", c="tab:red", label="不裁剪（之后变成 NaN）")
    ax.plot(range(1, steps + 1), clipped_losses, c="tab:blue", label=f"clip_grad_norm_(max_norm={MAX_NORM})")
    ax.set_yscale("log")
    ax.set_xscale("log")
    ax.set_xlabel("训练步数")
    ax.set_ylabel("均方误差（对数坐标）")
    ax.set_title(f"初始权重过大的 ReLU 网络，SGD 学习率 {LR}")
    ax.legend()
    run.save_figure(fig, "clipping")

    bn_before, bn_after, bn_output_change = bn_scale_invariance(x, y)

    def ratio(values):
        return values[-1] / values[0]  # 最靠近输出的隐藏层 / 最靠近输入的隐藏层

    names = list(norms)
    run.record(
        depth=DEPTH,
        table=[
            {
                "网络": name,
                "第 1 层": f"{v[0]:.2e}",
                f"第 {DEPTH} 层": f"{v[-1]:.2e}",
                f"第 {DEPTH} 层 / 第 1 层": f"{ratio(v):.3g}",
            }
            for name, v in norms.items()
        ],
        sigmoid_ratio=ratio(norms[names[0]]),
        relu_ratio=ratio(norms[names[1]]),
        bn_ratio=ratio(norms[names[2]]),
        explode_ratio=ratio(norms[names[3]]),
        explode_vs_he=norms[names[3]][0] / norms[names[1]][0],
        explode_gain=EXPLODE_GAIN,
        lr=LR,
        steps=steps,
        initial_loss=plain_losses[0],
        target_variance=target.var(),
        plain_nonfinite_step=first_nonfinite(plain_losses),
        plain_max_loss=max(finite),
        clipped_final_loss=clipped_losses[-1],
        clipped_nonfinite_step=first_nonfinite(clipped_losses),
        max_norm=MAX_NORM,
        bn_scale=BN_SCALE,
        bn_grad_before=bn_before,
        bn_grad_after=bn_after,
        bn_grad_ratio=bn_before / bn_after,
        bn_output_change=bn_output_change,
    )
    run.finish()


if __name__ == "__main__":
    main()
