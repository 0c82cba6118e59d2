r"""激活函数：画出笔记里的四种激活函数（sigmoid、ReLU、tanh、softplus）及其导数。

$\sigma(x)=\frac{1}{1+e^{-x}}$，$\mathrm{ReLU}(x)=\max(0,x)$，$\mathrm{softplus}(x)=\ln(1+e^x)$。

导数不是手推公式画的，而是用自动求导（autograd）对同一组点求出来的。
"""

# --8<-- [start:imports]
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
# --8<-- [end:imports]

import chapter_kit

# --8<-- [start:hyperparameters]
# 超参数（与笔记相同）：[-5, 5] 上 200 个等距的点
X_MIN, X_MAX = -5.0, 5.0
N_POINTS = 200
# 每个面板的纵轴范围（与莫烦教程一致）
Y_LIMITS = {
    "sigmoid": (-0.2, 1.2),
    "relu": (-1.0, 5.0),
    "tanh": (-1.2, 1.2),
    "softplus": (-0.2, 6.0),
}
# --8<-- [end:hyperparameters]

# 以下只在构建时核对结论用，页面不展示
SATURATION = 0.01  # 导数小于它就算“饱和”（与“Sigmoid 的缺点”一章相同）
LN2 = 0.6931471805599453  # ln 2 = softplus(0)：softplus 比 ReLU 高出的最大值


# --8<-- [start:functions]
def activations(x):
    """笔记中的四种激活函数，输入输出形状相同。"""
    return {
        "sigmoid": torch.sigmoid(x),
        "relu": F.relu(x),
        "tanh": torch.tanh(x),
        "softplus": F.softplus(x),
    }
# --8<-- [end:functions]


# --8<-- [start:derivatives]
def derivatives(x):
    """用自动求导得到每个激活函数在 x 处的导数。"""
    x = x.detach().clone().requires_grad_(True)
    grads = {}
    for name, y in activations(x).items():
        # 逐元素函数的雅可比矩阵是对角阵，对 y.sum() 求导就得到每个点的导数
        (grad,) = torch.autograd.grad(y.sum(), x)
        grads[name] = grad
    return grads
# --8<-- [end:derivatives]


# --8<-- [start:plot]
def plot_panels(x, curves, title, limits=None):
    """2×2 的四个面板，每个面板画一条曲线（笔记的激活函数图就是这样排的）。"""
    fig, axes = plt.subplots(2, 2, figsize=(8, 6))
    for ax, (name, y) in zip(axes.flat, curves.items(), strict=True):
        ax.plot(x.cpu(), y.detach().cpu(), c="tab:red", label=name)  # matplotlib 只认 CPU 上的数
        if limits:
            ax.set_ylim(limits[name])
        ax.axhline(0, c="gray", lw=0.5)
        ax.axvline(0, c="gray", lw=0.5)
        ax.legend(loc="best")
    fig.suptitle(title)
    fig.tight_layout()
    return fig
# --8<-- [end:plot]


def main(argv=None):
    parser = chapter_kit.chapter_parser(__file__, __doc__)
    run = chapter_kit.start(parser, argv)

    # --8<-- [start:data]
    x = torch.linspace(X_MIN, X_MAX, N_POINTS)  # (200,)
    # --8<-- [end:data]
    x = x.to(run.device)  # 构建时放到 --device 选定的设备上
    # --8<-- [start:draw]
    curves = activations(x)  # 四条曲线，形状都是 (200,)
    fig = plot_panels(x, curves, "激活函数", Y_LIMITS)
    plt.show()
    # --8<-- [end:draw]
    run.save_figure(fig, "activations")
    # --8<-- [start:draw_derivatives]
    grads = derivatives(x)
    fig = plot_panels(x, grads, "激活函数的导数（自动求导）")
    plt.show()
    # --8<-- [end:draw_derivatives]
    run.save_figure(fig, "derivatives")

    at_zero = activations(torch.zeros(1, device=run.device))
    positive, negative = x > 0, x < 0
    sigmoid, tanh, relu, softplus = (curves[name] for name in ("sigmoid", "tanh", "relu", "softplus"))
    # tanh 是奇函数：x 与 −x（linspace 关于 0 对称，倒过来就是 −x）处的值互为相反数
    tanh_odd_error = (tanh + tanh.flip(0)).abs().max().item()
    softplus_gap = softplus - relu  # softplus 比 ReLU 高出多少：在 0 处最大（ln 2），两端趋于 0
    sigmoid_grad_at_5 = grads["sigmoid"][-1].item()
    run.record(
        grad_max={name: g.max() for name, g in grads.items()},
        value_at_zero={name: y.item() for name, y in at_zero.items()},
        # x = 5 时 sigmoid 的导数：已经“饱和”，梯度几乎为零
        sigmoid_grad_at_5=sigmoid_grad_at_5,
        relu_dead_fraction=(grads["relu"] == 0).float().mean(),
        sigmoid_min=sigmoid.min(),
        sigmoid_max=sigmoid.max(),
        tanh_min=tanh.min(),
        tanh_max=tanh.max(),
        softplus_gap_max=softplus_gap.max(),
        softplus_gap_edge=softplus_gap[[0, -1]].max(),
    )
    run.claim(
        "sigmoid_in_unit_interval",
        bool(((sigmoid > 0) & (sigmoid < 1)).all()),
        f"{N_POINTS} 个点上 sigmoid 的取值在 [{sigmoid.min():.4f}, {sigmoid.max():.4f}] ⊂ (0, 1)",
    )
    run.claim(
        "tanh_zero_centred",
        bool(((tanh > -1) & (tanh < 1)).all()) and abs(at_zero["tanh"].item()) < 1e-6 and tanh_odd_error < 1e-6,
        f"tanh 的取值在 [{tanh.min():.4f}, {tanh.max():.4f}] ⊂ (−1, 1)，tanh(0) = {at_zero['tanh'].item():.1g}，"
        f"|tanh(x) + tanh(−x)| 最大 {tanh_odd_error:.1e} < 1e-6",
    )
    relu_zero = int((relu[negative] == 0).sum())
    relu_identity = int((relu[positive] == x[positive]).sum())
    n_negative, n_positive = int(negative.sum()), int(positive.sum())
    run.claim(
        "relu_pieces",
        relu_zero == n_negative and relu_identity == n_positive,
        f"{n_negative} 个负数点中 {relu_zero} 个 ReLU 为 0，{n_positive} 个正数点中 {relu_identity} 个 ReLU(x) = x",
    )
    run.claim(
        "softplus_smooth_relu",
        bool((softplus > 0).all()) and softplus_gap.max().item() <= LN2 + 1e-6
        and softplus_gap[[0, -1]].max().item() < SATURATION,
        f"softplus 最小为 {softplus.min():.4f} > 0；比 ReLU 高出的最大值 {softplus_gap.max():.4f} ≤ ln 2，"
        f"在 x = ±{X_MAX:g} 处只高出 {softplus_gap[[0, -1]].max():.4f} < {SATURATION}",
    )
    run.claim(
        "sigmoid_saturates",
        sigmoid_grad_at_5 < SATURATION,
        f"sigmoid 在 x = {X_MAX:g} 处的导数 {sigmoid_grad_at_5:.4f} < {SATURATION}"
        f"（最大值 {grads['sigmoid'].max():.4f}）",
    )
    grad_one = int((grads["relu"][positive] == 1).sum())
    grad_zero = int((grads["relu"][negative] == 0).sum())
    run.claim(
        "relu_grad_one",
        grad_one == n_positive and grad_zero == n_negative,
        f"{n_positive} 个正数点中 {grad_one} 个 ReLU 的导数为 1，{n_negative} 个负数点中 {grad_zero} 个为 0",
    )
    run.finish()


if __name__ == "__main__":
    main()
