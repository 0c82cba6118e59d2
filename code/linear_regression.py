r"""线性模型：笔记的 15 个点、nn.Linear 和梯度下降，与最小二乘的闭式解对照。

模型 $f(x)=w^\top x+b$；把偏置并进权重后，闭式解是 $\hat w^*=(X^\top X)^{-1}X^\top y$。
"""

# --8<-- [start:imports]
import matplotlib.pyplot as plt
import torch
from torch import nn, optim
# --8<-- [end:imports]

import chapter_kit

# --8<-- [start:hyperparameters]
# 超参数（与笔记相同）
LR = 1e-3
EPOCHS = 1000
PRINT_EVERY = 200  # 笔记每 20 个迭代周期打印一次损失，这里少打印一些
# 标准化输入之后的训练：条件数变好，可以用大得多的学习率
STANDARDIZED_LR = 0.1
STANDARDIZED_EPOCHS = 300
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
# --8<-- [end:hyperparameters]

# 以下只在构建时核对结论用，页面不展示
MATCH_TOL = 1e-5  # 标准化训练与闭式解的 w、b 最多相差多少算“一致”（float32 的舍入误差约 1e-7）
EARLY_EPOCH = 100  # 从第 100 个迭代周期到最后，看笔记的训练还在以多快的速度靠近最优解


# --8<-- [start:data]
X_TRAIN = [[3.3], [4.4], [5.5], [6.71], [6.93], [4.168], [9.779], [6.182], [7.59], [2.167],
           [7.042], [10.791], [5.313], [7.997], [3.1]]
Y_TRAIN = [[1.7], [2.76], [2.09], [3.19], [1.694], [1.573], [3.366], [2.596], [2.53], [1.221],
           [2.827], [3.465], [1.65], [2.904], [1.3]]
# --8<-- [end:data]


# --8<-- [start:model]
class LinearRegression(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(1, 1)  # 输入 1 维，输出 1 维

    def forward(self, x):  # (15, 1)
        return self.linear(x)  # (15, 1)
# --8<-- [end:model]


# --8<-- [start:train]
def train(model, x, y, lr, epochs):
    """全批量梯度下降：每个迭代周期用全部样本算一次梯度、更新一次参数。返回每个迭代周期的损失。"""
    criterion = nn.MSELoss()  # 均方误差
    optimizer = optim.SGD(model.parameters(), lr=lr)  # 梯度下降
    losses = []
    for epoch in range(epochs):
        out = model(x)  # 前向传播：(15, 1)
        loss = criterion(out, y)

        # 反向传播之前先清零梯度，否则梯度会累加
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if (epoch + 1) % PRINT_EVERY == 0:
            print(f"Epoch [{epoch + 1}/{epochs}], loss: {loss.item():.6f}")
    return losses
# --8<-- [end:train]


# --8<-- [start:closed_form]
def least_squares(x, y):
    """把偏置并进权重：X = [x, 1]，解 min ||X w - y||²，即 w = (XᵀX)⁻¹Xᵀy。返回 w、b 两个数。"""
    X = torch.cat([x, torch.ones_like(x)], dim=1)  # (15, 1) -> (15, 2)
    solution = torch.linalg.lstsq(X, y).solution  # (2, 1)：[w, b]
    return solution[0, 0].item(), solution[1, 0].item()
# --8<-- [end:closed_form]


def mse_hessian(x):
    """均方误差对 (w, b) 的 Hessian：H = (2/m)·XᵀX，X = [x, 1]。它是常数矩阵，与 w、b 无关。"""
    X = torch.cat([x, torch.ones_like(x)], dim=1)  # (m, 2)
    return 2 / len(x) * X.T @ X  # (2, 2)


def weight_and_bias(model):
    return model.linear.weight.item(), model.linear.bias.item()


def main(argv=None):
    parser = chapter_kit.chapter_parser(__file__, __doc__)
    run = chapter_kit.start(parser, argv)
    device = run.device  # 命令行参数 --device 选定的设备

    # 笔记的训练：原始输入，学习率 1e-3
    # --8<-- [start:model_init]
    x_train = torch.tensor(X_TRAIN, device=device)  # (15, 1)
    y_train = torch.tensor(Y_TRAIN, device=device)  # (15, 1)
    model = LinearRegression().to(device)
    # --8<-- [end:model_init]
    w_init, b_init = weight_and_bias(model)
    # --8<-- [start:fit]
    losses = train(model, x_train, y_train, LR, EPOCHS)
    w_notes, b_notes = model.linear.weight.item(), model.linear.bias.item()
    # --8<-- [end:fit]

    # --8<-- [start:solve]
    # 闭式解在 float64 下求，作为“标准答案”
    w_star, b_star = least_squares(x_train.double(), y_train.double())
    print(f"梯度下降：w = {w_notes:.4f}，b = {b_notes:.4f}；闭式解：w = {w_star:.4f}，b = {b_star:.4f}")
    # --8<-- [end:solve]
    loss_star = ((w_star * x_train.double() + b_star - y_train.double()) ** 2).mean().item()

    # --8<-- [start:standardize]
    mean, std = x_train.mean(), x_train.std()
    standardized = LinearRegression().to(device)
    losses_std = train(standardized, (x_train - mean) / std, y_train, STANDARDIZED_LR, STANDARDIZED_EPOCHS)
    w_s, b_s = standardized.linear.weight.item(), standardized.linear.bias.item()
    w_std, b_std = w_s / std.item(), b_s - w_s * mean.item() / std.item()  # 换回原始输入的尺度
    print(f"标准化输入后训练：w = {w_std:.4f}，b = {b_std:.4f}")
    # --8<-- [end:standardize]

    xs = torch.linspace(0, 12, 50)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ax.scatter(x_train.cpu(), y_train.cpu(), c="tab:blue", label="笔记中的 15 个点", zorder=3)
    ax.plot(xs, w_notes * xs + b_notes, c="tab:red", lw=2, label=f"笔记的训练（{len(losses)} 个迭代周期，lr={LR:g}）")
    ax.plot(xs, w_std * xs + b_std, c="tab:green", lw=4, alpha=0.5, label="标准化输入后训练")
    ax.plot(xs, w_star * xs + b_star, "k--", lw=1.2, label="最小二乘闭式解")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.legend()
    run.save_figure(fig, "fit")

    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    ax.plot(range(1, len(losses) + 1), losses, c="tab:red", label="笔记的训练")
    ax.plot(range(1, len(losses_std) + 1), losses_std, c="tab:green", label="标准化输入后训练")
    ax.axhline(loss_star, c="k", ls="--", lw=1, label="闭式解的损失（下限）")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("迭代周期")
    ax.set_ylabel("均方误差")
    ax.legend()
    run.save_figure(fig, "loss")

    # 损失函数的曲率：Hessian 的两个特征值。梯度下降沿每个特征方向每个迭代周期把离最优解的距离乘以 (1 − lr·λ)，
    # lr > 2/λmax 时陡的方向发散；lr 合适时，收敛的快慢由最小的 λmin（平的方向）决定
    eigenvalues, eigenvectors = torch.linalg.eigh(mse_hessian(x_train.double()))  # 升序
    lam_min, lam_max = eigenvalues.tolist()
    slow = eigenvectors[:, 0]  # 平的方向（单位向量）
    eig_std = torch.linalg.eigvalsh(mse_hessian(((x_train - mean) / std).double())).tolist()
    theta_star = torch.tensor([w_star, b_star], dtype=torch.float64)
    start = torch.tensor([w_init, b_init], dtype=torch.float64) - theta_star  # 初始点与最优解之差
    gap = torch.tensor([w_notes, b_notes], dtype=torch.float64) - theta_star  # 训练结束时的差
    slow_remaining = (gap @ slow).abs().item() / (start @ slow).abs().item()  # 平的方向上还剩初始距离的多少
    gap_cos = (gap @ slow).abs().item() / gap.norm().item()  # 剩下的差与平的方向的夹角余弦

    # 离最优解还差多少：多出闭式解的那部分损失。快的方向早就收敛了，剩下的几乎全在平的方向上
    early = min(EARLY_EPOCH, len(losses)) - 1
    excess_early, excess_final = losses[early] - loss_star, losses[-1] - loss_star
    excess_ratio = excess_final / excess_early
    w_gap, b_gap = abs(w_notes - w_star), abs(b_notes - b_star)
    std_max_diff = max(abs(w_std - w_star), abs(b_std - b_star))

    run.record(
        epochs=EPOCHS,
        print_every=PRINT_EVERY,
        w_init=w_init,
        b_init=b_init,
        w_notes=w_notes,
        b_notes=b_notes,
        loss_notes=losses[-1],
        w_star=w_star,
        b_star=b_star,
        loss_star=loss_star,
        w_std=w_std,
        b_std=b_std,
        loss_std=losses_std[-1],
        standardized_epochs=STANDARDIZED_EPOCHS,
        x_mean=mean,
        x_std=std,
        w_gap=w_gap,
        b_gap=b_gap,
        early_epoch=early + 1,
        excess_early=excess_early,
        excess_final=excess_final,
        excess_ratio=excess_ratio,
        std_max_diff=std_max_diff,
        match_tol=MATCH_TOL,
        lam_max=lam_max,
        lam_min=lam_min,
        condition=lam_max / lam_min,
        lr_limit=2 / lam_max,
        lr=LR,
        lr_lam_max=LR * lam_max,
        slow_factor=1 - LR * lam_min,
        slow_epochs=1 / (LR * lam_min),
        slow_remaining=slow_remaining,
        gap_cos=gap_cos,
        condition_std=eig_std[1] / eig_std[0],
    )
    run.claim(
        "lr_well_below_limit",
        LR * lam_max < 0.5,
        f"lr = {LR:g}，lr·λmax = {LR * lam_max:.3f} < 0.5，即 lr 不到发散界限 2/λmax = {2 / lam_max:.4f} 的四分之一",
    )
    run.claim(
        "slow_direction_unconverged",
        slow_remaining > 0.5,
        f"沿平的方向，{len(losses)} 个迭代周期后离最优解的距离还剩初始的 {slow_remaining:.0%}（> 50%）",
    )
    run.claim(
        "gap_along_slow_direction",
        gap_cos > 0.99,
        f"训练结束时 (w − w*, b − b*) 与 Hessian 最小特征值方向的夹角余弦 {gap_cos:.4f} > 0.99",
    )
    run.claim(
        "notes_still_slow",
        excess_ratio > 0.3,
        f"多出闭式解的损失从第 {early + 1} 个迭代周期的 {excess_early:.2e} 降到第 {len(losses)} 个的 {excess_final:.2e}，"
        f"只降到原来的 {excess_ratio:.0%}（> 30%）",
    )
    run.claim(
        "standardized_matches_closed_form",
        std_max_diff < MATCH_TOL,
        f"标准化训练的 w、b 与闭式解最多相差 {std_max_diff:.1e} < {MATCH_TOL:.0e}",
    )
    run.finish()


if __name__ == "__main__":
    main()
