r"""循环神经网络：画出 RNN 的展开图，再训练一个用 sin 预测 cos 的 RNN（截断的时间反向传播）。

$h^{(t)}=\tanh\left(Ux^{(t)}+Wh^{(t-1)}+b\right)$，$o^{(t)}=Vh^{(t)}+c$。
"""

import math

import matplotlib.pyplot as plt
import torch
from matplotlib.patches import Circle, FancyArrowPatch
from torch import nn

import chapter_kit

# 超参数（与莫烦教程 403 相同）
TIME_STEP = 10  # 每段序列 10 个时间步
INPUT_SIZE = 1  # 每个时间步输入一个数：sin(t)
HIDDEN_SIZE = 32
LR = 0.02
CHUNKS = 100  # 训练 100 段，每段覆盖 π 长的一截曲线
QUICK_CHUNKS = 60
SHOWN_CHUNKS = 12  # 图中画出最后几段


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
def train(model, chunks, device):
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    loss_func = nn.MSELoss()
    h_state = None  # 第一段没有上一段传来的隐藏状态
    losses, curves = [], []
    for step in chapter_kit.progress(range(chunks), desc="训练"):
        start, end = step * math.pi, (step + 1) * math.pi  # 每段覆盖 π 长的区间
        t = torch.linspace(start, end, TIME_STEP, device=device)
        x = torch.sin(t)[None, :, None]  # (1, 10, 1)
        y = torch.cos(t)[None, :, None]  # (1, 10, 1)

        prediction, h_state = model(x, h_state)
        # 下一段接着用这一段最后的隐藏状态，但不再往前反向传播：截断的时间反向传播（truncated BPTT）
        h_state = h_state.detach()

        loss = loss_func(prediction, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        curves.append((t.cpu(), y.flatten().cpu(), prediction.detach().flatten().cpu()))
    return losses, curves
# --8<-- [end:train]


RADIUS = 0.45


def arrow(ax, start, end, text="", offset=(0, 0)):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=14, lw=1.4, color="black",
                                 shrinkA=RADIUS * 50, shrinkB=RADIUS * 50))
    if text:
        middle = ((start[0] + end[0]) / 2 + offset[0], (start[1] + end[1]) / 2 + offset[1])
        ax.text(*middle, text, fontsize=13, style="italic", ha="center", va="center", color="tab:red")


def node(ax, center, text, color):
    ax.add_patch(Circle(center, RADIUS, facecolor=color, edgecolor="black", lw=1.2))
    ax.text(*center, text, ha="center", va="center", fontsize=9.5)


def draw_rnn_diagram():
    """笔记引用的“RNN 模型图”：左边是折叠的循环结构，右边是按时间展开的样子。"""
    fig, ax = plt.subplots(figsize=(11, 5.6))
    colors = {"x": "#cfe2f3", "h": "#fce5cd", "o": "#d9ead3", "L": "#f4cccc", "y": "#eeeeee"}
    rows = {"x": 0.0, "h": 1.6, "o": 3.2, "L": 4.8}

    def column(x0, t):
        label = f"({t})" if t else ""
        for key, level in rows.items():
            node(ax, (x0, level), key + label, colors[key])
        node(ax, (x0 + 1.15, rows["L"]), "y" + label, colors["y"])
        arrow(ax, (x0, rows["x"]), (x0, rows["h"]), "U", offset=(-0.25, 0))
        arrow(ax, (x0, rows["h"]), (x0, rows["o"]), "V", offset=(-0.25, 0))
        arrow(ax, (x0, rows["o"]), (x0, rows["L"]))
        arrow(ax, (x0 + 1.15, rows["L"]), (x0, rows["L"]))

    column(0.5, "")
    # 折叠图里 h 指向自己的环：W
    ax.add_patch(FancyArrowPatch((0.5 + 0.38, 1.85), (0.5 + 0.38, 1.35), arrowstyle="-|>", mutation_scale=14,
                                 connectionstyle="arc3,rad=-2.2", lw=1.4, color="black"))
    ax.text(1.6, 1.6, "W", fontsize=13, style="italic", color="tab:red", va="center")
    ax.annotate("", (3.3, 3.2), (2.1, 3.2), arrowprops={"arrowstyle": "-|>", "lw": 2})
    ax.text(2.7, 3.35, "按时间展开", fontsize=11, ha="center", va="bottom")

    columns = (4.6, 7.4, 10.2)
    for x0, t in zip(columns, ("t−1", "t", "t+1"), strict=True):
        column(x0, t)
    ax.text(2.9, rows["h"], "…", fontsize=16, ha="center", va="center")
    ax.text(12.5, rows["h"], "…", fontsize=16, ha="center", va="center")
    for left, right in zip((2.9, *columns), (*columns, 12.5), strict=True):
        arrow(ax, (left, rows["h"]), (right, rows["h"]), "W", offset=(0, 0.28))
    ax.set_xlim(-0.2, 12.9)
    ax.set_ylim(-0.7, 5.5)
    ax.set_aspect("equal")
    ax.set_axis_off()
    ax.set_title("RNN 模型：折叠的循环结构（左）与按时间展开（右）；U、W、V 在所有时间步共享")
    return fig


def main(argv=None):
    parser = chapter_kit.chapter_parser(__file__, __doc__)
    parser.add_argument(
        "--chunks", type=chapter_kit.positive_int, default=None, help=f"训练多少段序列（默认 {CHUNKS}）"
    )
    run = chapter_kit.start(parser, argv)
    chunks = run.args.chunks or (QUICK_CHUNKS if run.quick else CHUNKS)

    run.save_figure(draw_rnn_diagram(), "rnn_diagram")

    model = RNN().to(run.device)
    losses, curves = train(model, chunks, run.device)

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 5.6), height_ratios=(3, 2))
    for i, (t, target, prediction) in enumerate(curves[-SHOWN_CHUNKS:]):
        top.plot(t, target, "r-", lw=1.5, label="目标 cos(t)" if i == 0 else None)
        top.plot(t, prediction, "b--", lw=1.5, label="RNN 的预测" if i == 0 else None)
    top.set_xlabel("t")
    top.legend(loc="upper right")
    top.set_title(f"最后 {SHOWN_CHUNKS} 段：输入 sin(t)，预测 cos(t)")
    bottom.plot(range(1, len(losses) + 1), losses)
    bottom.set_yscale("log")
    bottom.set_xlabel("训练的段数")
    bottom.set_ylabel("均方误差")
    fig.tight_layout()
    run.save_figure(fig, "prediction")

    window = 10
    run.record(
        chunks=chunks,
        time_step=TIME_STEP,
        hidden_size=HIDDEN_SIZE,
        parameters=sum(p.numel() for p in model.parameters()),
        first_loss=sum(losses[:window]) / window,
        last_loss=sum(losses[-window:]) / window,
        window=window,
    )
    run.finish()


if __name__ == "__main__":
    main()
