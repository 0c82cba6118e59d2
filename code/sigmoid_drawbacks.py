"""Sigmoid 的缺点：导数最大只有 1/4、两端饱和，以及输出不以 0 为中心让梯度的符号被锁在一起。"""

# --8<-- [start:imports]
import matplotlib.pyplot as plt
import torch
# --8<-- [end:imports]

import chapter_kit

# --8<-- [start:hyperparameters]
SATURATION = 0.01  # 导数小于它就算“饱和”
MAX_DEPTH = 10  # 最多叠多少层 sigmoid
N_INPUTS = 8  # 下一层神经元的输入个数
N_SAMPLES = 4096
BATCH_SIZE = 32
# 二维权重的“之字形”演示：逐样本训练的步数和学习率，以及要逼近的目标权重
PATH_STEPS = 60
PATH_LR = 0.6
TARGET_W = (1.0, -1.0)
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
# --8<-- [end:hyperparameters]

# 以下只在构建时核对结论用，页面不展示
FEW_SAME_SIGN = 0.05  # tanh 输入时同号的样本比例低于它，算“极少”
BATCH_PARTIAL = 0.9  # 按小批量求和后同号的比例低于它，算“缓解了一部分”
FAR_ABOVE = 10  # “远高于”：至少是 tanh 一行的这么多倍
CLOSER = 10  # tanh 的路径离目标的距离至少比 sigmoid 的近这么多倍
REACHED = 1e-3  # 离目标的距离小于它（不到起点距离 √2 的 0.1%）算“到达了目标”


# --8<-- [start:derivative]
def sigmoid_and_derivative(x):
    x = x.detach().clone().requires_grad_(True)
    y = torch.sigmoid(x)
    (dy,) = torch.autograd.grad(y.sum(), x)  # 等于 σ(x)(1 - σ(x))
    return y.detach(), dy
# --8<-- [end:derivative]


# --8<-- [start:depth]
def gradient_through_sigmoids(depth, device):
    """d/dx σ(σ(...σ(x)))，在 x = 0 处：每过一层就乘上一个不超过 1/4 的导数。"""
    x = torch.zeros((), device=device, requires_grad=True)
    y = x
    for _ in range(depth):
        y = torch.sigmoid(y)
    y.backward()
    return x.grad.item()
# --8<-- [end:depth]


# --8<-- [start:signs]
def same_sign_fraction(inputs, deltas):
    """一个线性神经元 z = w·h + b 的权重梯度是 δ·h：h 全为正时，各分量与 δ 同号。

    返回“梯度的所有分量符号相同”的样本比例。
    """
    gradients = deltas[:, None] * inputs  # (N, 8)：每个样本对 w 的梯度
    positive = (gradients > 0).all(dim=1)
    negative = (gradients < 0).all(dim=1)
    return (positive | negative).float().mean().item()
# --8<-- [end:signs]


# --8<-- [start:path]
def sgd_path(inputs, target, lr):
    """每步用一个样本训练二维权重 w，使 w·h 逼近 target·h；返回 w 走过的路径。"""
    w = torch.zeros(2, device=inputs.device)
    path = [w.clone()]
    for h in inputs:  # 每个 h 的形状是 (2,)
        delta = (w - target) @ h  # 损失 ½(w·h − target·h)² 对 w·h 的导数
        w = w - lr * delta * h  # 更新方向总是 ±h
        path.append(w.clone())
    return torch.stack(path).cpu()  # (步数 + 1, 2)
# --8<-- [end:path]


def main(argv=None):
    parser = chapter_kit.chapter_parser(__file__, __doc__)
    run = chapter_kit.start(parser, argv)
    device = run.device  # 命令行参数 --device 选定的设备

    # --8<-- [start:saturation]
    x = torch.linspace(-8, 8, 801, device=device)  # (801,)
    y, dy = sigmoid_and_derivative(x)
    saturated = dy < SATURATION
    edge = x[~saturated].abs().max().item()  # |x| 超过它，导数就小于 0.01
    print(f"σ′ 的最大值 {dy.max():.4f}；|x| > {edge:.2f} 时 σ′ < {SATURATION}")
    # --8<-- [end:saturation]

    # --8<-- [start:depth_run]
    depths = list(range(1, MAX_DEPTH + 1))
    through_depth = [gradient_through_sigmoids(d, device) for d in depths]
    for d, g in zip(depths, through_depth, strict=True):
        print(f"{d} 层：导数 {g:.2e}，上界 (1/4)^{d} = {0.25**d:.2e}")
    # --8<-- [end:depth_run]

    # --8<-- [start:signs_run]
    pre_activation = torch.randn(N_SAMPLES, N_INPUTS, device=device)  # (4096, 8)
    # 误差信号 δ：不是从真实网络反传来的，而是与 h 独立的标准正态随机数，模拟各样本的 δ 有正有负
    deltas = torch.randn(N_SAMPLES, device=device)  # (4096,)
    sigmoid_fraction = same_sign_fraction(torch.sigmoid(pre_activation), deltas)
    tanh_fraction = same_sign_fraction(torch.tanh(pre_activation), deltas)
    # 一个小批量的梯度是其中各样本梯度之和，各样本的 δ 有正有负，符号就不再锁死
    batch_inputs = torch.sigmoid(pre_activation).reshape(-1, BATCH_SIZE, N_INPUTS)  # (128, 32, 8)
    batch_gradients = (deltas.reshape(-1, BATCH_SIZE, 1) * batch_inputs).sum(dim=1)  # (128, 8)
    batch_fraction = ((batch_gradients > 0).all(1) | (batch_gradients < 0).all(1)).float().mean().item()
    print(f"同号的比例：sigmoid {sigmoid_fraction:.1%}，tanh {tanh_fraction:.1%}，"
          f"sigmoid 按小批量求和后 {batch_fraction:.1%}")
    # --8<-- [end:signs_run]

    # --8<-- [start:path_run]
    raw = torch.randn(PATH_STEPS, 2, device=device)  # (60, 2)
    target = torch.tensor(TARGET_W, device=device)
    path_sigmoid = sgd_path(torch.sigmoid(raw), target, PATH_LR)  # 输入全为正
    path_tanh = sgd_path(torch.tanh(raw), target, PATH_LR)  # 输入以 0 为中心
    print(f"{PATH_STEPS} 步后的 w：sigmoid 输入 {[round(v, 3) for v in path_sigmoid[-1].tolist()]}，"
          f"tanh 输入 {[round(v, 3) for v in path_tanh[-1].tolist()]}")
    # --8<-- [end:path_run]

    fig, ax = plt.subplots(figsize=(7, 3.8))
    xs = x.cpu()
    ax.plot(xs, y.cpu(), label="σ(x)")
    ax.plot(xs, dy.cpu(), label="σ′(x) = σ(x)(1 − σ(x))")
    ax.fill_between(xs, 0, 1, where=saturated.cpu(), color="gray", alpha=0.2, label=f"饱和区：σ′(x) < {SATURATION}")
    ax.axhline(0.25, c="tab:orange", ls=":", lw=1)
    ax.annotate("最大值 1/4", (0, 0.25), xytext=(1.2, 0.38), arrowprops={"arrowstyle": "->"})
    ax.set_ylim(-0.05, 1.05)
    ax.legend(loc="upper left", fontsize=9)
    ax.set_title("Sigmoid 与它的导数")
    run.save_figure(fig, "saturation")

    fig, ax = plt.subplots(figsize=(5.6, 5))
    ax.plot(*path_sigmoid.T, "-o", ms=3, c="tab:red", label="输入全为正（sigmoid 输出）")
    ax.plot(*path_tanh.T, "-o", ms=3, c="tab:blue", label="输入以 0 为中心（tanh 输出）")
    ax.plot(*TARGET_W, "k*", ms=14, label="目标权重")
    ax.plot(0, 0, "ks", ms=6, label="起点")
    ax.set_xlabel(r"$w_1$")
    ax.set_ylabel(r"$w_2$")
    ax.set_aspect("equal")
    ax.legend(fontsize=9)
    ax.set_title(f"逐样本 SGD 的 {PATH_STEPS} 步：权重走过的路径")
    run.save_figure(fig, "zigzag")

    def distance(path):
        return (path[-1] - torch.tensor(TARGET_W)).norm().item()

    def steps_in_first_third_quadrant(path):
        """每一步的位移 Δw 两个分量同号（或为 0）的步数：这样的一步沿第一、三象限的方向。"""
        moves = path[1:] - path[:-1]  # (steps, 2)
        return int((moves[:, 0] * moves[:, 1] >= 0).sum())

    bound_ok = all(g <= 0.25**d for d, g in zip(depths, through_depth, strict=True))
    sigmoid_quadrant = steps_in_first_third_quadrant(path_sigmoid)
    tanh_quadrant = steps_in_first_third_quadrant(path_tanh)

    run.record(
        derivative_max=dy.max(),
        saturation_edge=edge,
        through_depth=[{"层数": d, "dy/dx": f"{g:.2e}", "上界 (1/4)^层数": f"{0.25**d:.2e}"}
                       for d, g in zip(depths, through_depth, strict=True)],
        gradient_depth_1=through_depth[0],
        gradient_depth_max=through_depth[-1],
        max_depth=MAX_DEPTH,
        n_inputs=N_INPUTS,
        n_samples=N_SAMPLES,
        reached=REACHED,
        sigmoid_same_sign=sigmoid_fraction,
        tanh_same_sign=tanh_fraction,
        batch_same_sign=batch_fraction,
        batch_size=BATCH_SIZE,
        path_steps=PATH_STEPS,
        distance_sigmoid=distance(path_sigmoid),
        distance_tanh=distance(path_tanh),
        sigmoid_quadrant_steps=sigmoid_quadrant,
        tanh_quadrant_steps=tanh_quadrant,
    )
    run.claim(
        "depth_below_bound",
        bound_ok,
        f"1 到 {MAX_DEPTH} 层的导数都 ≤ (1/4)^层数（{MAX_DEPTH} 层：{through_depth[-1]:.2e} ≤ {0.25**MAX_DEPTH:.2e}）",
    )
    run.claim(
        "sigmoid_all_same_sign",
        sigmoid_fraction == 1.0,
        f"输入来自 sigmoid 时，梯度各分量同号的样本比例 {sigmoid_fraction:.1%} = 100%",
    )
    run.claim(
        "tanh_few_same_sign",
        tanh_fraction < FEW_SAME_SIGN,
        f"输入来自 tanh 时，同号的样本比例 {tanh_fraction:.2%} < {FEW_SAME_SIGN:.0%}",
    )
    run.claim(
        "batch_partial",
        batch_fraction < BATCH_PARTIAL and batch_fraction > FAR_ABOVE * tanh_fraction,
        f"按小批量求和后同号的比例 {batch_fraction:.1%} < {BATCH_PARTIAL:.0%}，"
        f"且 > {FAR_ABOVE} × tanh 的 {tanh_fraction:.2%}",
    )
    run.claim(
        "sigmoid_path_quadrants",
        sigmoid_quadrant == PATH_STEPS,
        f"sigmoid 输入的 {PATH_STEPS} 步中有 {sigmoid_quadrant} 步沿第一、三象限方向"
        f"（tanh 输入：{tanh_quadrant} 步）",
    )
    run.claim(
        "tanh_path_closer",
        distance(path_tanh) < REACHED and distance(path_tanh) * CLOSER < distance(path_sigmoid),
        f"{PATH_STEPS} 步后离目标的距离：tanh 输入 {distance(path_tanh):.1e} < {REACHED:.0e}，"
        f"且 × {CLOSER} 仍 < sigmoid 输入的 {distance(path_sigmoid):.3f}",
    )
    run.finish()


if __name__ == "__main__":
    main()
