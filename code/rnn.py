r"""循环神经网络：画出 RNN 的展开图，再训练一个用 sin 预测 cos 的 RNN（截断的时间反向传播）。

隐状态 $h^{(t)}=\phi\left(W_{xh}x^{(t)}+W_{hh}h^{(t-1)}+b_h\right)$，输出 $\hat y^{(t)}=W_{hq}h^{(t)}+b_q$；
本章的激活函数 $\phi$ 是 $\tanh$。
"""

# --8<-- [start:imports]
import math

import matplotlib.pyplot as plt
import torch
from torch import nn

# --8<-- [end:imports]
import chapter_kit

# --8<-- [start:hyperparameters]
# 超参数（与莫烦教程 403 相同；只多了学习率的线性衰减，见 train）
TIME_STEP = 10  # 每段序列 10 个时间步
INPUT_SIZE = 1  # 每个时间步输入一个数：sin(t)
HIDDEN_SIZE = 32
LR = 0.02
CHUNKS = 100  # 训练 100 段，每段覆盖 π 长的一截曲线
TEST_CHUNKS = 20  # 训练后参数固定，接着往下预测 20 段（sin 每两段重复一次，量的是同一个映射在更晚的时刻上还准不准）
seed = 0  # 随机种子：决定初始参数
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
# --8<-- [end:hyperparameters]

# 只给构建用的设置（页面上不显示）。本章训练很快，快速模式和完整模式训练同样多的段
SHOWN_CHUNKS = 8  # 图中画出前几段测试曲线
WINDOW = 10  # 训练损失取前、后各 10 段的平均


# --8<-- [start:model]
class RNN(nn.Module):
    def __init__(self):
        super().__init__()
        # nn.RNN 里 weight_ih_l0 是 W_xh，weight_hh_l0 是 W_hh，两个偏置之和是 b_h；激活函数默认是 tanh
        self.rnn = nn.RNN(input_size=INPUT_SIZE, hidden_size=HIDDEN_SIZE, num_layers=1, batch_first=True)
        self.out = nn.Linear(HIDDEN_SIZE, 1)  # W_hq 和 b_q：把每个时间步的隐状态变成输出

    def forward(self, x, h_state):  # x: (batch, time_step, input_size) = (1, 10, 1)
        r_out, h_state = self.rnn(x, h_state)  # r_out: (1, 10, 32)，每个时间步的 h(t)；h_state: (1, 1, 32)
        return self.out(r_out), h_state  # (1, 10, 1)：每个时间步都输出一个预测
# --8<-- [end:model]


# --8<-- [start:train]
def chunk_times(step, device):
    """第 step 段覆盖 [step·π, (step+1)·π)，取 TIME_STEP 个等距点，不含终点：终点是下一段的起点，不能取两次。"""
    start, end = step * math.pi, (step + 1) * math.pi
    return torch.linspace(start, end, TIME_STEP + 1, device=device)[:-1]  # (10,)


def train(model, chunks, device, carry_state=True):
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    # 学习率从 LR 线性降到 0（本站的选择，教程里学习率固定）：训练收尾时步子变小
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 - step / chunks)
    loss_func = nn.MSELoss()
    h_state = None  # 第一段没有上一段传来的隐状态
    losses = []
    for step in range(chunks):
        t = chunk_times(step, device)
        x = torch.sin(t)[None, :, None]  # (10,) -> (1, 10, 1)
        y = torch.cos(t)[None, :, None]  # (1, 10, 1)

        prediction, h_state = model(x, h_state if carry_state else None)
        # 下一段接着用这一段最后的隐状态，但不再往前反向传播：截断的时间反向传播（truncated BPTT）
        h_state = h_state.detach()

        loss = loss_func(prediction, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
    return losses, h_state
# --8<-- [end:train]


# --8<-- [start:test]
def test(model, h_state, first_chunk, chunks, device, carry_state=True):
    """接着训练过的曲线往后预测 chunks 段；返回每段的（t，目标，预测）和每个点的平方误差 (chunks, 10)。"""
    curves, errors = [], []
    with torch.no_grad():
        for step in range(first_chunk, first_chunk + chunks):
            t = chunk_times(step, device)
            x, y = torch.sin(t)[None, :, None], torch.cos(t)[None, :, None]  # (1, 10, 1)
            prediction, h_state = model(x, h_state if carry_state else None)
            errors.append(((prediction - y) ** 2).flatten())  # (10,)
            curves.append((t.cpu(), y.flatten().cpu(), prediction.flatten().cpu()))
    return curves, torch.stack(errors).cpu()  # errors: (chunks, 10)，第 k 列是各段第 k 步的误差
# --8<-- [end:test]


RADIUS = 0.45


def arrow(ax, start, end, text="", offset=(0, 0)):
    from matplotlib.patches import FancyArrowPatch

    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=14, lw=1.4, color="black",
                                 shrinkA=RADIUS * 36, shrinkB=RADIUS * 36))
    if text:
        middle = ((start[0] + end[0]) / 2 + offset[0], (start[1] + end[1]) / 2 + offset[1])
        ax.text(*middle, text, fontsize=11, ha="center", va="center", color="tab:red")


def node(ax, center, text, color):
    from matplotlib.patches import Circle

    ax.add_patch(Circle(center, RADIUS, facecolor=color, edgecolor="black", lw=1.2))
    ax.text(*center, text, ha="center", va="center", fontsize=10)


def draw_rnn_diagram():
    """笔记引用的“RNN 模型图”：左边是折叠的循环结构，右边是按时间展开的样子。记号与术语表相同。"""
    from matplotlib.patches import FancyArrowPatch

    fig, ax = plt.subplots(figsize=(7, 3.6))  # 宽 7 英寸：页面上的字不小于 9 磅
    colors = {"x": "#cfe2f3", "h": "#fce5cd", "y_hat": "#d9ead3", "L": "#f4cccc", "y": "#eeeeee"}
    labels = {"x": "$x$", "h": "$h$", "y_hat": r"$\hat{y}$", "L": "$L$", "y": "$y$"}
    rows = {"x": 0.0, "h": 1.6, "y_hat": 3.2, "L": 4.8}

    def column(x0, t):
        # 圆里只写字母，时间步写在整列下方：7 英寸宽的图里，圆装不下 “h(t−1)” 这样的长标签
        for key, level in rows.items():
            node(ax, (x0, level), labels[key], colors[key])
        node(ax, (x0 + 1.2, rows["L"]), labels["y"], colors["y"])
        arrow(ax, (x0, rows["x"]), (x0, rows["h"]), "$W_{xh}$", offset=(-0.5, 0))
        arrow(ax, (x0, rows["h"]), (x0, rows["y_hat"]), "$W_{hq}$", offset=(-0.5, 0))
        arrow(ax, (x0, rows["y_hat"]), (x0, rows["L"]))
        arrow(ax, (x0 + 1.2, rows["L"]), (x0, rows["L"]))
        if t:
            ax.text(x0, rows["x"] - 0.75, f"时间步 {t}", ha="center", va="center", fontsize=10)

    column(0.5, "")
    # 折叠图里 h 指向自己的环：W_hh
    ax.add_patch(FancyArrowPatch((0.5 + 0.38, 1.85), (0.5 + 0.38, 1.35), arrowstyle="-|>", mutation_scale=14,
                                 connectionstyle="arc3,rad=-2.2", lw=1.4, color="black"))
    ax.text(1.55, 1.6, "$W_{hh}$", fontsize=11, color="tab:red", va="center")
    ax.annotate("", (3.3, 3.2), (2.1, 3.2), arrowprops={"arrowstyle": "-|>", "lw": 2})
    ax.text(2.7, 3.35, "按时间展开", fontsize=10, ha="center", va="bottom")

    columns = (4.6, 7.4, 10.2)
    for x0, t in zip(columns, ("t−1", "t", "t+1"), strict=True):
        column(x0, t)
    ax.text(2.9, rows["h"], "…", fontsize=13, ha="center", va="center")
    ax.text(12.5, rows["h"], "…", fontsize=13, ha="center", va="center")
    for left, right in zip((2.9, *columns), (*columns, 12.5), strict=True):
        arrow(ax, (left, rows["h"]), (right, rows["h"]), "$W_{hh}$", offset=(0, 0.3))
    ax.set_xlim(-0.2, 12.9)
    ax.set_ylim(-1.1, 5.5)
    ax.set_aspect("equal")
    ax.set_axis_off()
    ax.set_title("RNN 模型：折叠的循环结构（左）与按时间展开（右）；\n"
                 "$W_{xh}$、$W_{hh}$、$W_{hq}$ 在所有时间步共享", fontsize=10)
    return fig


def main(argv=None):
    parser = chapter_kit.chapter_parser(__file__, __doc__)
    run = chapter_kit.start(parser, argv)
    seed, device = run.seed, run.device  # 命令行的 --seed、--device 代替页面上的默认值

    run.save_figure(draw_rnn_diagram(), "rnn_diagram")

    # --8<-- [start:compare]
    torch.manual_seed(seed)
    model = RNN().to(device)
    reset_model = RNN().to(device)
    reset_model.load_state_dict(model.state_dict())  # 同样的初始参数
    # 同样的初始参数、同样的数据，只差一处：每段开始时是否接过上一段的隐状态
    results = {}
    for carry_state, net in ((True, model), (False, reset_model)):
        losses, h_state = train(net, CHUNKS, device, carry_state)
        curves, errors = test(net, h_state, CHUNKS, TEST_CHUNKS, device, carry_state)  # errors: (20, 10)
        by_step = errors.mean(dim=0)  # (10,)：各段第 k 步的平均平方误差
        results[carry_state] = {"losses": losses, "curves": curves, "by_step": by_step}
        print(f"{'接过隐状态' if carry_state else '每段从零开始'}：测试均方误差 {errors.mean():.4f}，"
              f"段内第 1 步 {by_step[0]:.4f}，其余各步 {by_step[1:].mean():.4f}")
    # --8<-- [end:compare]
    carry, reset = results[True], results[False]
    for result in (carry, reset):
        by_step = result["by_step"]
        result.update(first=by_step[0].item(), rest=by_step[1:].mean().item(), test_loss=by_step.mean().item())

    fig = plt.figure(figsize=(7, 5.6))
    grid = fig.add_gridspec(2, 2, height_ratios=(3, 2))
    top = fig.add_subplot(grid[0, :])
    for i, ((t, target, predicted), (_, _, restarted)) in enumerate(
        zip(carry["curves"][:SHOWN_CHUNKS], reset["curves"][:SHOWN_CHUNKS], strict=True)
    ):
        first = i == 0
        top.plot(t, target, "r-", lw=1.5, label="目标 cos(t)" if first else None)
        top.plot(t, predicted, "b--", lw=1.5, label="预测（接过隐状态）" if first else None)
        top.plot(t, restarted, ":", c="gray", lw=1.5, label="预测（每段从零开始）" if first else None)
    top.set_xlabel("t")
    top.set_ylim(-1.2, 1.6)
    top.legend(loc="upper center", fontsize=9, ncols=3)
    top.set_title(f"训练后接着往下预测 {SHOWN_CHUNKS} 段：输入 sin(t)，预测 cos(t)", fontsize=11)
    left = fig.add_subplot(grid[1, 0])
    left.plot(range(1, len(carry["losses"]) + 1), carry["losses"], c="tab:blue")
    left.set_yscale("log")
    left.set_xlabel("训练的段数")
    left.set_ylabel("均方误差")
    left.set_title("训练损失（接过隐状态）", fontsize=10)
    right = fig.add_subplot(grid[1, 1])
    steps = range(1, TIME_STEP + 1)
    right.plot(steps, carry["by_step"], "o-", c="tab:blue", label="接过隐状态")
    right.plot(steps, reset["by_step"], "s:", c="gray", label="每段从零开始")
    right.set_yscale("log")
    right.set_xlabel("段内第几步")
    right.set_ylabel("平均平方误差")
    right.set_title(f"{TEST_CHUNKS} 段测试曲线上各步的误差", fontsize=10)
    right.legend(fontsize=9)
    fig.tight_layout()
    run.save_figure(fig, "prediction")

    first_loss = sum(carry["losses"][:WINDOW]) / WINDOW
    run.record(
        chunks=CHUNKS,
        lr=LR,
        time_step=TIME_STEP,
        hidden_size=HIDDEN_SIZE,
        parameters=sum(p.numel() for p in model.parameters()),
        first_loss=first_loss,
        last_loss=sum(carry["losses"][-WINDOW:]) / WINDOW,
        window=WINDOW,
        test_chunks=TEST_CHUNKS,
        test_loss=carry["test_loss"],
        carry_first=carry["first"],
        carry_rest=carry["rest"],
        reset_first=reset["first"],
        reset_rest=reset["rest"],
        reset_test_loss=reset["test_loss"],
        carry_by_step=carry["by_step"].tolist(),
        reset_by_step=reset["by_step"].tolist(),
    )
    run.claim(
        "loss_falls",
        carry["test_loss"] < first_loss / 10 and carry["test_loss"] < 0.05,
        f"测试均方误差 {carry['test_loss']:.4f} < 前 {WINDOW} 段平均损失 {first_loss:.4f} 的 1/10，且 < 0.05",
    )
    ratio = reset["first"] / carry["first"]
    run.claim(
        "carry_helps_start",
        ratio > 10,
        f"段内第 1 步的平均平方误差：每段从零开始 {reset['first']:.4f}，"
        f"接过隐状态 {carry['first']:.4f}，前者是后者的 {ratio:.0f} 倍 > 10 倍",
    )
    reset_ratio = reset["first"] / reset["rest"]
    run.claim(
        "reset_start_worse",
        reset_ratio > 10,
        f"每段从零开始时，段内第 1 步的平均平方误差 {reset['first']:.4f} 是其余各步 "
        f"{reset['rest']:.4f} 的 {reset_ratio:.0f} 倍 > 10 倍",
    )
    run.finish()


if __name__ == "__main__":
    main()
