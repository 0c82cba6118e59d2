r"""梯度消失与梯度爆炸：测量深层网络每一层的梯度（sigmoid、ReLU、加 BN、初始权重过大），并用梯度裁剪驯服爆炸。

深度为 $D$ 的网络里，第 $l$ 层收到的梯度要乘上它后面各层的雅可比矩阵
$\partial h_k/\partial h_{k-1}=\operatorname{diag}\bigl(\phi'(z_k)\bigr)W_k$（$k=l+1,\dots,D$）。
"""

# --8<-- [start:imports]
import math

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

# --8<-- [end:imports]
import chapter_kit

# --8<-- [start:hyperparameters]
DEPTH = 8  # 隐藏层数 D
WIDTH = 64
N_INPUTS = 64
N_CLASSES = 10
N_SAMPLES = 512
# 饱和的例子：隐藏层的偏置都设成 +4，sigmoid 的输入整体右移，落到导数很小的区域
SATURATION_BIAS = 4.0
# 梯度爆炸的例子：初始权重的标准差是 He 初始化的 1.6 倍，每过一层信号放大约 1.6 倍
EXPLODE_GAIN = 1.6
LR = 0.05
MAX_NORM = 5.0  # 梯度裁剪的阈值
STEPS = 500
N_INITS = 3  # 梯度裁剪的实验用几个不同的初始化各跑一遍
BN_SCALE = 10.0
seed = 0  # 随机种子：决定数据和初始参数
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
# --8<-- [end:hyperparameters]

# 只给构建用的设置（页面上不显示）
QUICK_STEPS = 60  # 快速模式：梯度裁剪的实验只训练这么多步、只用 1 个初始化
# 结论核对用的门槛
VANISH_RATIO = 1e3  # 最后一层 / 第一层的梯度比超过它，就说第一层“几乎收不到梯度”
SAME_ORDER = 10.0  # 比值在 [1/10, 10] 之内算“同一个数量级”
NEAR_MAX = 0.22  # 平均 σ′ 不低于它，算“贴着上限 1/4”
NOT_SATURATED = 0.15  # 平均 σ′ 不低于它（最大值 0.25 的六成）算没有饱和
SATURATED = 0.05  # 平均 σ′ 低于它（不到最大值的五分之一）算饱和
BN_GAIN = 4.0  # BN 反向传播乘上的 1/s_B 至少有这么大
CLIP_FIT = 20.0  # 裁剪后的损失要比“只预测均值”低这么多倍
DIVERGE_WITHIN = 10  # 不裁剪时，这么多步之内损失变成 NaN/inf


# --8<-- [start:mlp]
def deep_mlp(activation, batch_norm=False, init_gain=None, bias=None, n_outputs=N_CLASSES):
    """DEPTH 个隐藏层的全连接网络；init_gain 给定时按 He 初始化乘上这个倍数，bias 给定时隐藏层偏置都设为它。"""
    layers, width_in = [], N_INPUTS
    for _ in range(DEPTH):
        linear = nn.Linear(width_in, WIDTH)
        if init_gain is not None:
            nn.init.normal_(linear.weight, std=init_gain * math.sqrt(2 / width_in))
            nn.init.zeros_(linear.bias)
        if bias is not None:
            nn.init.constant_(linear.bias, bias)
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


# --8<-- [start:slopes]
def sigmoid_slopes(model, x):
    """每一层 sigmoid 在它的输入 z 处的平均导数 σ′(z)，以及每个 BN 层的 1/s_B（神经元平均）。

    反向传播经过 sigmoid 要乘上 σ′(z)；经过 BN 要乘上 γ/s_B（γ 初始为 1），s_B 是这个小批量里 z 的标准差。
    """
    slopes, gains, hooks = [], [], []

    def on_sigmoid(module, inputs, output):
        slopes.append((output * (1 - output)).mean().item())  # σ′(z) = σ(z)(1 − σ(z))

    def on_batch_norm(module, inputs, output):
        s_b = (inputs[0].var(dim=0, unbiased=False) + module.eps).sqrt()  # (WIDTH,)：每个神经元一个
        gains.append((1 / s_b).mean().item())

    for module in model:
        if isinstance(module, nn.Sigmoid):
            hooks.append(module.register_forward_hook(on_sigmoid))
        elif isinstance(module, nn.BatchNorm1d):
            hooks.append(module.register_forward_hook(on_batch_norm))
    with torch.no_grad():
        model(x)
    for hook in hooks:
        hook.remove()
    return slopes, gains
# --8<-- [end:slopes]


# --8<-- [start:clip]
def train(model, x, target, steps, max_norm=None):
    """回归任务上的 SGD；max_norm 给定时做梯度裁剪。损失变成 NaN/inf 就停下。"""
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    losses = []
    for _ in range(steps):
        loss = F.mse_loss(model(x), target)
        optimizer.zero_grad()
        loss.backward()
        if max_norm is not None:
            # 所有参数的梯度拼成一个向量，范数超过 max_norm 就整体按比例缩小
            nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        optimizer.step()
        losses.append(loss.item())
        if not math.isfinite(losses[-1]):
            break
    with torch.no_grad():
        final = F.mse_loss(model(x), target).item()  # 训练结束后的损失
    return losses, final


def compare_clipping(x, target, steps, seeds):
    """每个种子一个初始化：同一个初始权重过大的 ReLU 网络，不裁剪和裁剪各训练一遍。"""
    plain_runs, clipped_runs = [], []
    for s in seeds:
        torch.manual_seed(s)
        model = deep_mlp(nn.ReLU, init_gain=EXPLODE_GAIN, n_outputs=1).to(x.device)
        clipped = deep_mlp(nn.ReLU, init_gain=EXPLODE_GAIN, n_outputs=1).to(x.device)
        clipped.load_state_dict(model.state_dict())  # 两个网络从同样的参数出发
        plain_runs.append(train(model, x, target, steps))
        clipped_runs.append(train(clipped, x, target, steps, MAX_NORM))
        plain_losses, clipped_final = plain_runs[-1][0], clipped_runs[-1][1]
        print(f"种子 {s}：不裁剪，第 1 步损失 {plain_losses[0]:.0f}，第 {len(plain_losses)} 步（最后一步）"
              f"损失 {plain_losses[-1]:.3g}；裁剪，训练后损失 {clipped_final:.1e}")
    return plain_runs, clipped_runs
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
    seed, device = run.seed, run.device  # 命令行的 --seed、--device 代替页面上的默认值

    # --8<-- [start:measure]
    torch.manual_seed(seed)
    x = torch.randn(N_SAMPLES, N_INPUTS, device=device)  # (512, 64)：一个小批量的随机输入
    y = torch.randint(0, N_CLASSES, (N_SAMPLES,), device=device)  # (512,)：随机的类别
    variants = {
        "sigmoid（默认初始化）": dict(activation=nn.Sigmoid),
        f"sigmoid（偏置 +{SATURATION_BIAS:g}，饱和）": dict(activation=nn.Sigmoid, bias=SATURATION_BIAS),
        "ReLU（He 初始化）": dict(activation=nn.ReLU, init_gain=1.0),
        "sigmoid + BN": dict(activation=nn.Sigmoid, batch_norm=True),
        f"ReLU（初始权重 ×{EXPLODE_GAIN}）": dict(activation=nn.ReLU, init_gain=EXPLODE_GAIN),
        f"sigmoid（偏置 +{SATURATION_BIAS:g}）+ BN": dict(activation=nn.Sigmoid, batch_norm=True, bias=SATURATION_BIAS),
    }
    norms = {}
    for name, options in variants.items():
        torch.manual_seed(seed)  # 每个网络都从同一个种子开始初始化
        model = deep_mlp(**options).to(device)
        norms[name] = layer_gradient_norms(model, x, y)  # DEPTH 个数，第 1 个最靠近输入
        print(f"{name}：第 {DEPTH} 层 / 第 1 层的梯度之比 {norms[name][-1] / norms[name][0]:.3g}")
    # --8<-- [end:measure]
    plain, saturated, relu, bn, explode, bn_saturated = list(variants)
    # --8<-- [start:measure_slopes]
    slopes, gains = {}, {}
    for name, options in variants.items():
        torch.manual_seed(seed)  # 与上面同样的初始参数
        slopes[name], gains[name] = sigmoid_slopes(deep_mlp(**options).to(device), x)
        if slopes[name]:  # ReLU 网络没有 sigmoid
            print(f"{name}：各层平均 σ′ " + "、".join(f"{s:.3f}" for s in slopes[name]))
    # --8<-- [end:measure_slopes]

    layers = range(1, DEPTH + 1)
    fig, ax = plt.subplots(figsize=(7, 4.4))
    # 最后一个网络不画进梯度图：它与 sigmoid + BN 完全重合（BN 减去小批量的均值，偏置被抵消）
    for name, marker in zip(list(variants)[:5], "ovsD^", strict=True):
        ax.plot(layers, norms[name], marker=marker, label=name)
    ax.set_yscale("log")
    ax.set_xlabel("隐藏层（1 = 最靠近输入）")
    ax.set_ylabel("权重梯度的范数（对数坐标）")
    ax.set_title(f"{DEPTH} 个隐藏层的网络在初始化时各层的梯度")
    ax.legend(fontsize=9)
    ax.grid(True, which="major", alpha=0.3)
    run.save_figure(fig, "layer_gradients")

    fig, (left, right) = plt.subplots(1, 2, figsize=(7, 3.4), gridspec_kw={"width_ratios": [3, 2]})
    for name, style in [(plain, "o-"), (saturated, "v-"), (bn, "D-"), (bn_saturated, "x--")]:
        left.plot(layers, slopes[name], style, label=name)
    left.axhline(0.25, c="gray", ls=":", lw=1)
    left.set_ylim(0, 0.27)
    left.set_xlabel("隐藏层")
    left.set_ylabel("平均 σ′(z)（上限 1/4）")
    left.legend(fontsize=9, loc="center right")
    left.set_title("sigmoid 的平均导数", fontsize=10)
    right.plot(layers, gains[bn], "D-", c="tab:red")
    right.axhline(1, c="gray", ls=":", lw=1)
    right.set_ylim(bottom=0)
    right.set_xlabel("隐藏层")
    right.set_ylabel(r"$1/s_{\mathcal{B}}$（神经元平均）")
    right.set_title("BN 反向传播乘上的倍数", fontsize=10)
    fig.tight_layout()
    run.save_figure(fig, "sigmoid_slopes")

    # 梯度裁剪：同一个回归任务，几个不同的初始化，裁剪与不裁剪各训练一遍
    if run.quick:  # 快速模式只是预览：1 个初始化、更少的步数
        target = 2 * x[:, :1] + torch.sin(x[:, 1:2])
        steps, seeds = QUICK_STEPS, [seed * 100]
        plain_runs, clipped_runs = compare_clipping(x, target, steps, seeds)
    else:
        # --8<-- [start:clipping]
        target = 2 * x[:, :1] + torch.sin(x[:, 1:2])  # (512, 1)：一个简单的回归目标
        seeds = [seed * 100 + k for k in range(N_INITS)]  # N_INITS 个不同的初始化
        plain_runs, clipped_runs = compare_clipping(x, target, STEPS, seeds)
        # --8<-- [end:clipping]
        steps = STEPS
    n_seeds = len(seeds)
    baseline = F.mse_loss(target.mean().expand_as(target), target).item()  # 只预测均值的损失 = 目标的方差
    plain_nonfinite = [first_nonfinite(losses) for losses, _ in plain_runs]
    clipped_nonfinite = [first_nonfinite(losses) for losses, _ in clipped_runs]
    clipped_final = [final for _, final in clipped_runs]

    fig, ax = plt.subplots(figsize=(7, 3.8))
    for k, ((plain_losses, _), (clipped_losses, _)) in enumerate(zip(plain_runs, clipped_runs, strict=True)):
        finite = [loss for loss in plain_losses if math.isfinite(loss)]
        ax.plot(range(1, len(finite) + 1), finite, "o-", c="tab:red", alpha=0.8,
                label="不裁剪（之后溢出成 inf/NaN）" if k == 0 else None)
        ax.plot(range(1, len(clipped_losses) + 1), clipped_losses, c="tab:blue", lw=1, alpha=0.8,
                label=f"clip_grad_norm_(max_norm={MAX_NORM:g})" if k == 0 else None)
    ax.axhline(baseline, c="black", ls="--", lw=1, label=f"只预测均值（损失 = 目标的方差 {baseline:.2f}）")
    ax.set_yscale("log")
    ax.set_xscale("log")
    ax.set_xlabel("训练步数")
    ax.set_ylabel("均方误差（对数坐标）")
    ax.set_title(f"初始权重过大的 ReLU 网络，SGD 学习率 {LR}，{n_seeds} 个初始化")
    ax.legend(fontsize=9)
    run.save_figure(fig, "clipping")

    # --8<-- [start:bn_scale_run]
    before, after, change = bn_scale_invariance(x, y)
    print(f"第 1 层的梯度范数：放大前 {before:.4f}，放大后 {after:.5f}；输出最多变化 {change:.1e}")
    # --8<-- [end:bn_scale_run]
    bn_before, bn_after, bn_output_change = before, after, change

    def ratio(values):
        return values[-1] / values[0]  # 最靠近输出的隐藏层 / 最靠近输入的隐藏层

    def same_order(value):
        return 1 / SAME_ORDER <= value <= SAME_ORDER

    sigmoid_ratio = ratio(norms[plain])
    saturated_ratio = ratio(norms[saturated])
    bn_ratio = ratio(norms[bn])
    bn_inner_gain = min(gains[bn][1:])  # 第 2 层起：输入来自上一层 sigmoid
    run.record(
        depth=DEPTH,
        width=WIDTH,
        table=[
            {
                "网络": name,
                "第 1 层": f"{v[0]:.2e}",
                f"第 {DEPTH} 层": f"{v[-1]:.2e}",
                f"第 {DEPTH} 层 / 第 1 层": f"{ratio(v):.3g}",
                "平均 σ′": f"{sum(slopes[name]) / DEPTH:.3f}" if slopes[name] else "—",
            }
            for name, v in norms.items()
        ],
        sigmoid_ratio=sigmoid_ratio,
        sigmoid_orders=math.log10(sigmoid_ratio),
        sigmoid_per_layer=sigmoid_ratio ** (1 / (DEPTH - 1)),  # 每往输入方向一层平均缩小的倍数
        saturation_bias=SATURATION_BIAS,
        saturated_ratio=saturated_ratio,
        saturated_orders=math.log10(saturated_ratio),
        relu_ratio=ratio(norms[relu]),
        bn_ratio=bn_ratio,
        explode_ratio=ratio(norms[explode]),
        explode_vs_he=norms[explode][0] / norms[relu][0],
        explode_gain=EXPLODE_GAIN,
        plain_slope_min=min(slopes[plain]),
        plain_slope_max=max(slopes[plain]),
        saturated_slope_min=min(slopes[saturated]),
        saturated_slope_max=max(slopes[saturated]),
        slope_drop=sum(slopes[plain]) / sum(slopes[saturated]),  # 饱和让每层的 σ′ 平均小了多少倍
        bn_slope_min=min(slopes[bn]),
        bn_slope_max=max(slopes[bn]),
        bn_saturated_slope_min=min(slopes[bn_saturated]),
        bn_first_gain=gains[bn][0],
        bn_inner_gain_min=bn_inner_gain,
        bn_inner_gain_max=max(gains[bn][1:]),
        lr=LR,
        steps=steps,
        n_seeds=n_seeds,
        initial_loss_min=min(losses[0] for losses, _ in plain_runs),
        initial_loss_max=max(losses[0] for losses, _ in plain_runs),
        target_variance=baseline,
        plain_nonfinite_step_max=max((s or steps + 1) for s in plain_nonfinite),
        plain_max_loss=max(max(loss for loss in losses if math.isfinite(loss)) for losses, _ in plain_runs),
        clipped_final_mean=sum(clipped_final) / n_seeds,
        clipped_final_min=min(clipped_final),
        clipped_final_max=max(clipped_final),
        clipped_vs_baseline=baseline / max(clipped_final),
        max_norm=MAX_NORM,
        bn_scale=BN_SCALE,
        bn_grad_before=bn_before,
        bn_grad_after=bn_after,
        bn_grad_ratio=bn_before / bn_after,
        bn_output_change=bn_output_change,
    )
    run.claim(
        "sigmoid_vanishes",
        sigmoid_ratio > VANISH_RATIO,
        f"sigmoid 网络第 {DEPTH} 层与第 1 层的梯度之比 {sigmoid_ratio:.2e} > {VANISH_RATIO:.0e}",
    )
    run.claim(
        "plain_not_saturated",
        min(slopes[plain]) >= NEAR_MAX,
        f"默认初始化的 sigmoid 网络各层平均 σ′ 最小为 {min(slopes[plain]):.3f} ≥ {NEAR_MAX}（上限 0.25）",
    )
    run.claim(
        "saturated",
        max(slopes[saturated]) < SATURATED,
        f"偏置 +{SATURATION_BIAS:g} 的 sigmoid 网络各层平均 σ′ 最大为 {max(slopes[saturated]):.3f} < {SATURATED}",
    )
    run.claim(
        "saturation_worse",
        saturated_ratio > 100 * sigmoid_ratio,
        f"饱和网络的梯度之比 {saturated_ratio:.2e} > 100 × 默认初始化的 {sigmoid_ratio:.2e}",
    )
    run.claim(
        "relu_same_order",
        same_order(ratio(norms[relu])),
        f"ReLU（He 初始化）的梯度之比 {ratio(norms[relu]):.2f} 在 [{1 / SAME_ORDER:g}, {SAME_ORDER:g}] 之内",
    )
    run.claim(
        "bn_same_order",
        same_order(bn_ratio) and same_order(ratio(norms[bn_saturated])),
        f"sigmoid + BN 的梯度之比 {bn_ratio:.2f}、偏置 +{SATURATION_BIAS:g} 再加 BN 的 "
        f"{ratio(norms[bn_saturated]):.2f} 都在 [{1 / SAME_ORDER:g}, {SAME_ORDER:g}] 之内",
    )
    run.claim(
        "bn_smaller_slope",
        max(slopes[bn]) < min(slopes[plain]),
        f"BN 网络各层平均 σ′ 最大为 {max(slopes[bn]):.3f} < 默认 sigmoid 网络的最小值 {min(slopes[plain]):.3f}",
    )
    run.claim(
        "bn_gain",
        bn_inner_gain >= BN_GAIN,
        f"BN 第 2–{DEPTH} 层的 1/s_B（每层对神经元取平均）最小为 {bn_inner_gain:.2f} ≥ {BN_GAIN:g}",
    )
    run.claim(
        "bn_removes_saturation",
        min(slopes[bn_saturated]) >= NOT_SATURATED,
        f"偏置 +{SATURATION_BIAS:g} 再加 BN 后各层平均 σ′ 最小为 {min(slopes[bn_saturated]):.3f} ≥ {NOT_SATURATED}",
    )
    run.claim(
        "explode_large",
        norms[explode][0] / norms[relu][0] > SAME_ORDER,
        f"权重 ×{EXPLODE_GAIN} 时第 1 层的梯度是 He 初始化的 "
        f"{norms[explode][0] / norms[relu][0]:.1f} 倍 > {SAME_ORDER:g}",
    )
    run.claim(
        "explode_not_input_heavy",
        ratio(norms[explode]) > 1,
        f"权重 ×{EXPLODE_GAIN} 时第 {DEPTH} 层与第 1 层的梯度之比 {ratio(norms[explode]):.2f} > 1",
    )
    run.claim(
        "unclipped_diverges",
        all(s is not None and s <= DIVERGE_WITHIN for s in plain_nonfinite),
        f"不裁剪：{n_seeds} 个初始化的损失变成 NaN/inf 的步数 "
        f"{'、'.join(str(s) if s else '（没有发散）' for s in plain_nonfinite)}，都 ≤ {DIVERGE_WITHIN}",
    )
    run.claim(
        "clipped_fits",
        all(s is None for s in clipped_nonfinite) and baseline / max(clipped_final) > CLIP_FIT,
        f"裁剪：{n_seeds} 个初始化的最终损失最大为 {max(clipped_final):.4f}，"
        f"只预测均值的损失 {baseline:.2f} 是它的 {baseline / max(clipped_final):.0f} 倍 > {CLIP_FIT:g}",
    )
    run.claim(
        "bn_scale_invariant",
        abs(bn_before / bn_after / BN_SCALE - 1) < 1e-3 and bn_output_change < 1e-4,
        f"梯度缩小 {bn_before / bn_after:.4f} 倍（应为 {BN_SCALE:g}），输出最多变化 {bn_output_change:.1e} < 1e-4",
    )
    run.finish()


if __name__ == "__main__":
    main()
