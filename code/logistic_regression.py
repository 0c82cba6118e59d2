r"""Logistic 回归：笔记的 Sigmoid + BCELoss 与数值更稳定的 logits + BCEWithLogitsLoss 并排训练，画出决策边界。

$P(Y=1\mid x)=\sigma(w\cdot x+b)=\frac{1}{1+e^{-(w\cdot x+b)}}$，决策边界是 $w\cdot x+b=0$。
"""

# --8<-- [start:imports]
import matplotlib.pyplot as plt
import torch
from torch import nn
# --8<-- [end:imports]

import chapter_kit

# --8<-- [start:hyperparameters]
# 超参数（与笔记所依据的书的代码相同：全批量梯度下降，学习率 1.0，1000 步）
N_POINTS = 100
LR = 1.0
STEPS = 1000
# 生成数据：两门成绩之和超过 PASS_LINE（再加一点噪声）就算“通过”
PASS_LINE = 130.0
LABEL_NOISE = 8.0
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
# --8<-- [end:hyperparameters]

# 以下只在构建时核对结论用，页面不展示
SAME_TOL = 1e-4  # 两种写法训练后的参数最多相差多少算“同一个模型”（参数的大小在 10 左右）


# --8<-- [start:data]
def make_data(n_points):
    """仿照书中的例子：两门考试成绩（30–100 分），标签表示是否通过；特征除以各自的最大值。"""
    scores = 30 + 70 * torch.rand(n_points, 2)  # (100, 2)
    noise = LABEL_NOISE * torch.randn(n_points)  # (100,)
    labels = (scores.sum(dim=1) + noise > PASS_LINE).float().unsqueeze(1)  # (100,) -> (100, 1)，取 0 或 1
    features = scores / scores.max(dim=0).values  # (100, 2)，缩放到 (0, 1]
    return features, labels
# --8<-- [end:data]


# --8<-- [start:notes_model]
class LogisticRegression(nn.Module):
    """笔记的写法：线性层 + Sigmoid，输出概率，配合 nn.BCELoss。"""

    def __init__(self):
        super().__init__()
        self.lr = nn.Linear(2, 1)
        self.sm = nn.Sigmoid()

    def forward(self, x):  # (N, 2)
        x = self.lr(x)  # (N, 1)：logit
        return self.sm(x)  # (N, 1)：P(Y=1|x)
# --8<-- [end:notes_model]


# --8<-- [start:logit_model]
class LogisticRegressionLogits(nn.Module):
    """推荐的写法：只输出 logit，Sigmoid 交给 nn.BCEWithLogitsLoss 在内部用稳定的公式计算。"""

    def __init__(self):
        super().__init__()
        self.lr = nn.Linear(2, 1)

    def forward(self, x):  # (N, 2)
        return self.lr(x)  # (N, 1)：logit
# --8<-- [end:logit_model]


# --8<-- [start:train]
def train(model, criterion, x, y, steps):
    """全批量梯度下降：每一步都用全部样本算损失和梯度。返回每一步的损失。"""
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    losses = []
    for _ in range(steps):
        loss = criterion(model(x), y)  # model(x)：(100, 1)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses
# --8<-- [end:train]


def main(argv=None):
    parser = chapter_kit.chapter_parser(__file__, __doc__)
    run = chapter_kit.start(parser, argv)
    device = run.device  # 命令行参数 --device 选定的设备

    # --8<-- [start:dataset]
    x, y = make_data(N_POINTS)
    x, y = x.to(device), y.to(device)
    # --8<-- [end:dataset]

    # --8<-- [start:fit]
    notes_model = LogisticRegression().to(device)
    logit_model = LogisticRegressionLogits().to(device)
    logit_model.lr.load_state_dict(notes_model.lr.state_dict())  # 同样的初始参数，方便比较

    notes_losses = train(notes_model, nn.BCELoss(), x, y, STEPS)
    logit_losses = train(logit_model, nn.BCEWithLogitsLoss(), x, y, STEPS)
    # --8<-- [end:fit]

    # --8<-- [start:evaluate]
    with torch.no_grad():  # 只做预测：不需要记录计算图
        notes_accuracy = ((notes_model(x) > 0.5).float() == y).float().mean().item()  # 概率与 0.5 比较
        logit_accuracy = ((logit_model(x) > 0).float() == y).float().mean().item()  # logit 与 0 比较
    print(f"训练集准确率：Sigmoid + BCELoss {notes_accuracy:.1%}，logits + BCEWithLogitsLoss {logit_accuracy:.1%}")
    # --8<-- [end:evaluate]

    # --8<-- [start:stability]
    logits = torch.tensor([[40.0], [-120.0]])  # 两个“非常自信”的预测
    targets = torch.tensor([[0.0], [1.0]])  # 而且都错了
    probabilities = torch.sigmoid(logits)  # float32 下是 [1.0, 0.0]：已经舍入成了 0 和 1
    bce = nn.BCELoss(reduction="none")(probabilities, targets)  # log(0) 被截断在 -100
    bce_logits = nn.BCEWithLogitsLoss(reduction="none")(logits, targets)  # 精确值：40 和 120
    print("BCELoss:", bce[:, 0].tolist(), "BCEWithLogitsLoss:", bce_logits[:, 0].tolist())
    # --8<-- [end:stability]

    # 损失对 logit 的梯度：经过饱和的 Sigmoid 后是 0；BCEWithLogitsLoss 的梯度是 σ(z) − y
    z = logits.clone().requires_grad_()
    nn.BCELoss(reduction="sum")(torch.sigmoid(z), targets).backward()
    grad_sigmoid_bce = z.grad[:, 0].clone()
    z.grad = None
    nn.BCEWithLogitsLoss(reduction="sum")(z, targets).backward()
    grad_logits = z.grad[:, 0].clone()

    with torch.no_grad():
        # 书的配套笔记本（chapter3_NN 的 logistic-regression.ipynb）用 logits 训练后仍写 out.ge(0.5)：
        # logit 落在 (0, 0.5) 的样本会被判成 0（书中脚本用 Sigmoid 输出概率，那里 ge(0.5) 是对的）
        logit_out = logit_model(x)
        between = int(((logit_out > 0) & (logit_out < 0.5)).sum().item())
        wrong_threshold_accuracy = ((logit_out >= 0.5).float() == y).float().mean()
    parameter_difference = max(
        (a - b).abs().max().item() for a, b in zip(notes_model.parameters(), logit_model.parameters(), strict=True)
    )

    # --8<-- [start:plot]
    w, b = logit_model.lr.weight[0].tolist(), logit_model.lr.bias.item()
    points, classes = x.cpu(), y.cpu()[:, 0]  # (100, 2)、(100,)
    fig, ax = plt.subplots(figsize=(5.6, 5))
    ax.scatter(*points[classes == 1].T, c="tab:red", marker="o", label="y = 1（通过）")
    ax.scatter(*points[classes == 0].T, c="tab:blue", marker="x", label="y = 0（未通过）")
    xs = torch.linspace(points[:, 0].min(), points[:, 0].max(), 10)
    ax.plot(xs, -(w[0] * xs + b) / w[1], "k-", lw=2, label="决策边界 w·x + b = 0")  # 由 w·x + b = 0 解出 x₂
    ax.set_xlabel(r"$x_1$（第一门成绩 / 最高分）")
    ax.set_ylabel(r"$x_2$（第二门成绩 / 最高分）")
    ax.legend(loc="lower left", fontsize=9)
    ax.set_title(f"Logistic 回归：训练集准确率 {logit_accuracy:.0%}")
    plt.show()
    # --8<-- [end:plot]
    run.save_figure(fig, "boundary")

    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    ax.plot(notes_losses, lw=4, alpha=0.5, label="Sigmoid + BCELoss（笔记）")
    ax.plot(logit_losses, "k--", lw=1, label="logits + BCEWithLogitsLoss")
    ax.set_xlabel("训练步数")
    ax.set_ylabel("交叉熵损失")
    ax.legend()
    run.save_figure(fig, "loss")

    run.record(
        steps=STEPS,
        positives=int(y.sum().item()),
        notes_loss=notes_losses[-1],
        logit_loss=logit_losses[-1],
        notes_accuracy=notes_accuracy,
        logit_accuracy=logit_accuracy,
        parameter_difference=parameter_difference,
        same_tol=SAME_TOL,
        logits_between=between,
        wrong_threshold_accuracy=wrong_threshold_accuracy,
        weight=w,
        bias=b,
        probabilities=probabilities[:, 0],
        bce=bce[:, 0],
        bce_logits=bce_logits[:, 0],
        grad_sigmoid_bce=grad_sigmoid_bce.abs(),  # abs：−0.0 显示成 0
        grad_logits=grad_logits,
    )
    run.claim(
        "same_model",
        parameter_difference < SAME_TOL,
        f"两种写法训练后的参数最多相差 {parameter_difference:.1e} < {SAME_TOL:.0e}",
    )
    saturated = bce.flatten().tolist() == [100.0, 100.0]
    exact = torch.allclose(bce_logits.flatten(), torch.tensor([40.0, 120.0]), atol=1e-4)
    run.claim(
        "bce_clamped_logits_exact",
        saturated and exact,
        f"BCELoss = {bce.flatten().tolist()}（都等于 100），"
        f"BCEWithLogitsLoss = {bce_logits.flatten().tolist()}（与 40、120 相差 < 1e-4）",
    )
    lost = bool((grad_sigmoid_bce == 0).all())
    kept = torch.allclose(grad_logits, torch.tensor([1.0, -1.0]), atol=1e-4)
    run.claim(
        "saturated_gradient_lost",
        lost and kept,
        f"对 logit 的梯度：Sigmoid + BCELoss = {grad_sigmoid_bce.abs().tolist()}（全为 0），"
        f"BCEWithLogitsLoss = {grad_logits.tolist()}（= σ(z) − y = 1、−1）",
    )
    run.finish()


if __name__ == "__main__":
    main()
