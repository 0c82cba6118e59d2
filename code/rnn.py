r"""循环神经网络：画出 RNN 的展开图，再训练一个用 sin 预测 cos 的 RNN（截断的时间反向传播）。

$h^{(t)}=\tanh\left(Ux^{(t)}+Wh^{(t-1)}+b\right)$，$o^{(t)}=Vh^{(t)}+c$。
"""

import math

import matplotlib.pyplot as plt
import torch
from matplotlib.patches import Circle, FancyArrowPatch
from torch import nn

import chapter_kit

# 超参数（与莫烦教程 403 相同；只多了学习率的线性衰减，见 train）
TIME_STEP = 10  # 每段序列 10 个时间步
INPUT_SIZE = 1  # 每个时间步输入一个数：sin(t)
HIDDEN_SIZE = 32
LR = 0.02
CHUNKS = 100  # 训练 100 段，每段覆盖 π 长的一截曲线
QUICK_CHUNKS = 60
TEST_CHUNKS = 20  # 训练后参数固定，接着往下预测 20 段；sin 每两段重复一次，这些段的输入和目标与训练段相同，
# 量的是同一个映射在更晚的时刻上还准不准，不是对新曲线的泛化
SHOWN_CHUNKS = 8  # 图中画出前几段测试曲线


# --8<-- [start:model]
class RNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.RNN(input_size=INPUT_SIZE, hidden_size=HIDDEN_SIZE, num_layers=1, batch_first=True)
        self.out = nn.Linear(HIDDEN_SIZE, 1)  # 即 V：把每个时间步的隐藏状态变成输出

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
    h_state = None  # 第一段没有上一段传来的隐藏状态
    losses = []
    for step in chapter_kit.progress(range(chunks), desc="训练"):
        t = chunk_times(step, device)
        x = torch.sin(t)[None, :, None]  # (1, 10, 1)
        y = torch.cos(t)[None, :, None]  # (1, 10, 1)

        prediction, h_state = model(x, h_state if carry_state else None)
        # 下一段接着用这一段最后的隐藏状态，但不再往前反向传播：截断的时间反向传播（truncated BPTT）
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
    """接着训练过的曲线往后预测 chunks 段；返回每段的 (t, 目标, 预测) 和每个点的平方误差 (chunks, 10)。"""
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
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=14, lw=1.4, color="black",
                                 shrinkA=RADIUS * 36, shrinkB=RADIUS * 36))
    if text:
        middle = ((start[0] + end[0]) / 2 + offset[0], (start[1] + end[1]) / 2 + offset[1])
        ax.text(*middle, text, fontsize=11, style="italic", ha="center", va="center", color="tab:red")


def node(ax, center, text, color):
    ax.add_patch(Circle(center, RADIUS, facecolor=color, edgecolor="black", lw=1.2))
    ax.text(*center, text, ha="center", va="center", fontsize=9)


def draw_rnn_diagram():
    """笔记引用的“RNN 模型图”：左边是折叠的循环结构，右边是按时间展开的样子。"""
    fig, ax = plt.subplots(figsize=(7, 3.6))  # 宽 7 英寸：页面上的字不小于 9 磅
    colors = {"x": "#cfe2f3", "h": "#fce5cd", "o": "#d9ead3", "L": "#f4cccc", "y": "#eeeeee"}
    rows = {"x": 0.0, "h": 1.6, "o": 3.2, "L": 4.8}

    def column(x0, t):
        # 圆里只写字母，时间步写在整列下方：7 英寸宽的图里，圆装不下 “h(t−1)” 这样的长标签
        for key, level in rows.items():
            node(ax, (x0, level), key, colors[key])
        node(ax, (x0 + 1.2, rows["L"]), "y", colors["y"])
        arrow(ax, (x0, rows["x"]), (x0, rows["h"]), "U", offset=(-0.25, 0))
        arrow(ax, (x0, rows["h"]), (x0, rows["o"]), "V", offset=(-0.25, 0))
        arrow(ax, (x0, rows["o"]), (x0, rows["L"]))
        arrow(ax, (x0 + 1.2, rows["L"]), (x0, rows["L"]))
        if t:
            ax.text(x0, rows["x"] - 0.75, f"时间步 {t}", ha="center", va="center", fontsize=10)

    column(0.5, "")
    # 折叠图里 h 指向自己的环：W
    ax.add_patch(FancyArrowPatch((0.5 + 0.38, 1.85), (0.5 + 0.38, 1.35), arrowstyle="-|>", mutation_scale=14,
                                 connectionstyle="arc3,rad=-2.2", lw=1.4, color="black"))
    ax.text(1.6, 1.6, "W", fontsize=11, style="italic", color="tab:red", va="center")
    ax.annotate("", (3.3, 3.2), (2.1, 3.2), arrowprops={"arrowstyle": "-|>", "lw": 2})
    ax.text(2.7, 3.35, "按时间展开", fontsize=10, ha="center", va="bottom")

    columns = (4.6, 7.4, 10.2)
    for x0, t in zip(columns, ("t−1", "t", "t+1"), strict=True):
        column(x0, t)
    ax.text(2.9, rows["h"], "…", fontsize=13, ha="center", va="center")
    ax.text(12.5, rows["h"], "…", fontsize=13, ha="center", va="center")
    for left, right in zip((2.9, *columns), (*columns, 12.5), strict=True):
        arrow(ax, (left, rows["h"]), (right, rows["h"]), "W", offset=(0, 0.28))
    ax.set_xlim(-0.2, 12.9)
    ax.set_ylim(-1.1, 5.5)
    ax.set_aspect("equal")
    ax.set_axis_off()
    ax.set_title("RNN 模型：折叠的循环结构（左）与按时间展开（右）；\nU、W、V 在所有时间步共享", fontsize=10)
    return fig


def main(argv=None):
    parser = chapter_kit.chapter_parser(__file__, __doc__)
    parser.add_argument(
        "--chunks", type=chapter_kit.positive_int, default=None, help=f"训练多少段序列（默认 {CHUNKS}）"
    )
    run = chapter_kit.start(parser, argv)
    chunks = run.args.chunks or (QUICK_CHUNKS if run.quick else CHUNKS)

    run.save_figure(draw_rnn_diagram(), "rnn_diagram")

    # 同样的初始化、同样的数据，只差一处：每段开始时是否接过上一段的隐藏状态
    results = {}
    for name, carry in (("carry", True), ("reset", False)):
        torch.manual_seed(run.seed)
        model = RNN().to(run.device)
        losses, h_state = train(model, chunks, run.device, carry_state=carry)
        curves, errors = test(model, h_state, chunks, TEST_CHUNKS, run.device, carry_state=carry)
        by_step = errors.mean(dim=0)  # (10,)：各段第 k 步的平均平方误差
        results[name] = {
            "model": model, "losses": losses, "curves": curves, "by_step": by_step,
            "first": by_step[0].item(), "rest": by_step[1:].mean().item(),  # 段内第 1 步 vs 其余各步
            "test_loss": errors.mean().item(),
        }
    carry, reset = results["carry"], results["reset"]

    fig = plt.figure(figsize=(7, 5.6))
    grid = fig.add_gridspec(2, 2, height_ratios=(3, 2))
    top = fig.add_subplot(grid[0, :])
    for i, ((t, target, predicted), (_, _, restarted)) in enumerate(
        zip(carry["curves"][:SHOWN_CHUNKS], reset["curves"][:SHOWN_CHUNKS], strict=True)
    ):
        first = i == 0
        top.plot(t, target, "r-", lw=1.5, label="目标 cos(t)" if first else None)
        top.plot(t, predicted, "b--", lw=1.5, label="预测（接过隐藏状态）" if first else None)
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
    left.set_title("训练损失（接过隐藏状态）", fontsize=10)
    right = fig.add_subplot(grid[1, 1])
    steps = range(1, TIME_STEP + 1)
    right.plot(steps, carry["by_step"], "o-", c="tab:blue", label="接过隐藏状态")
    right.plot(steps, reset["by_step"], "s:", c="gray", label="每段从零开始")
    right.set_yscale("log")
    right.set_xlabel("段内第几步")
    right.set_ylabel("平均平方误差")
    right.set_title(f"{TEST_CHUNKS} 段测试曲线上各步的误差", fontsize=10)
    right.legend(fontsize=9)
    fig.tight_layout()
    run.save_figure(fig, "prediction")

    window = 10
    first_loss = sum(carry["losses"][:window]) / window
    run.record(
        chunks=chunks,
        lr=LR,
        time_step=TIME_STEP,
        hidden_size=HIDDEN_SIZE,
        parameters=sum(p.numel() for p in carry["model"].parameters()),
        first_loss=first_loss,
        last_loss=sum(carry["losses"][-window:]) / window,
        window=window,
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
        f"测试均方误差 {carry['test_loss']:.4f} < 前 {window} 段平均损失 {first_loss:.4f} 的 1/10，且 < 0.05",
    )
    ratio = reset["first"] / carry["first"]
    run.claim(
        "carry_helps_start",
        ratio > 10,
        f"段内第 1 步的平均平方误差：每段从零开始 {reset['first']:.4f}，"
        f"接过隐藏状态 {carry['first']:.4f}，前者是后者的 {ratio:.0f} 倍 > 10 倍",
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
