r"""激活函数：画出笔记里的四种激活函数（sigmoid、ReLU、tanh、softplus）及其导数。

$\sigma(x)=\frac{1}{1+e^{-x}}$，$\mathrm{ReLU}(x)=\max(0,x)$，$\mathrm{softplus}(x)=\ln(1+e^x)$。

导数不是手推公式画的，而是用自动求导（autograd）对同一组点求出来的。
"""

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

import chapter_kit

# 超参数（与笔记相同）
X_MIN, X_MAX = -5.0, 5.0
N_POINTS = 200

# 每个面板的纵轴范围（与莫烦教程一致）
Y_LIMITS = {
    "sigmoid": (-0.2, 1.2),
    "relu": (-1.0, 5.0),
    "tanh": (-1.2, 1.2),
    "softplus": (-0.2, 6.0),
}


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


def plot_panels(x, curves, title, limits=None):
    fig, axes = plt.subplots(2, 2, figsize=(8, 6))
    for ax, (name, y) in zip(axes.flat, curves.items(), strict=True):
        ax.plot(x.cpu(), y.detach().cpu(), c="tab:red", label=name)
        if limits:
            ax.set_ylim(limits[name])
        ax.axhline(0, c="gray", lw=0.5)
        ax.axvline(0, c="gray", lw=0.5)
        ax.legend(loc="best")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def main(argv=None):
    parser = chapter_kit.chapter_parser(__file__, __doc__)
    run = chapter_kit.start(parser, argv)

    # --8<-- [start:data]
    x = torch.linspace(X_MIN, X_MAX, N_POINTS, device=run.device)  # (200,)
    # --8<-- [end:data]
    curves = activations(x)
    grads = derivatives(x)

    run.save_figure(plot_panels(x, curves, "激活函数", Y_LIMITS), "activations")
    run.save_figure(plot_panels(x, grads, "激活函数的导数（自动求导）"), "derivatives")

    at_zero = activations(torch.zeros(1, device=run.device))
    run.record(
        grad_max={name: g.max() for name, g in grads.items()},
        value_at_zero={name: y.item() for name, y in at_zero.items()},
        # x = 5 时 sigmoid 的导数：已经“饱和”，梯度几乎为零
        sigmoid_grad_at_5=grads["sigmoid"][-1],
        relu_dead_fraction=(grads["relu"] == 0).float().mean(),
    )
    run.finish()


if __name__ == "__main__":
    main()
