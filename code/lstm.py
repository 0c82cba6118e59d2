r"""LSTM：画出带三个门的 LSTM 单元，并在“记住很久以前看到的符号”任务上比较 RNN 与 LSTM。

细胞状态的加法更新 $c^{(t)}=f^{(t)}\odot c^{(t-1)}+i^{(t)}\odot g^{(t)}$ 让梯度能沿时间传回很远。
"""

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from matplotlib.patches import Circle, FancyBboxPatch
from torch import nn

import chapter_kit

# 任务：序列第一步给出 4 个符号之一（独热向量），之后什么也没有；读完整个序列后说出第一个符号
N_SYMBOLS = 4
NOISE = 0.0  # 之后各步的噪声强度；练习里可以调大
HIDDEN_SIZE = 32
BATCH_SIZE = 64
LR = 3e-3
MAX_NORM = 1.0
FORGET_BIAS = 4.0  # σ(4) ≈ 0.98：初始化时遗忘门几乎全开，记忆能保留上百步
LENGTHS = (10, 25, 50, 75, 100)
STEPS = 800
QUICK_LENGTHS = (10, 40)
QUICK_STEPS = 300
TEST_SIZE = 1000


# --8<-- [start:task]
def make_batch(n, length, generator, device):
    symbols = torch.randint(0, N_SYMBOLS, (n,), generator=generator)  # (n,)：要记住的答案
    x = NOISE * torch.randn(n, length, N_SYMBOLS, generator=generator)  # (n, length, 4)：之后各步只有噪声
    x[:, 0] = F.one_hot(symbols, N_SYMBOLS).float()  # 只有第一步带着信息
    return x.to(device), symbols.to(device)
# --8<-- [end:task]


# --8<-- [start:model]
class Recaller(nn.Module):
    """读完整个序列，用最后一个时间步的隐藏状态分类。cell 是 nn.RNN 或 nn.LSTM，其余完全相同。"""

    def __init__(self, cell):
        super().__init__()
        self.rnn = cell(N_SYMBOLS, HIDDEN_SIZE, batch_first=True)
        self.out = nn.Linear(HIDDEN_SIZE, N_SYMBOLS)
        if cell is nn.LSTM:
            # 常用的技巧：遗忘门的偏置初始化为正数，一开始就倾向于“记住”
            # PyTorch 把四个门的参数按 (输入门, 遗忘门, 候选值, 输出门) 的顺序拼在一起
            for name, param in self.rnn.named_parameters():
                if name.startswith("bias"):
                    param.data[HIDDEN_SIZE : 2 * HIDDEN_SIZE] = FORGET_BIAS / 2  # 两个偏置相加

    def forward(self, x):  # (N, length, 4)
        outputs, _ = self.rnn(x)  # (N, length, 32)
        return self.out(outputs[:, -1])  # (N, 4)：只看最后一步
# --8<-- [end:model]


def train_and_test(cell, length, steps, generator, device):
    model = Recaller(cell).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    for _ in chapter_kit.progress(range(steps), desc=f"{cell.__name__} 长度 {length}"):
        x, y = make_batch(BATCH_SIZE, length, generator, device)
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), MAX_NORM)  # 两种模型都裁剪：比较的只是结构
        optimizer.step()
    x, y = make_batch(TEST_SIZE, length, generator, device)
    with torch.no_grad():
        return (model(x).argmax(dim=1) == y).float().mean().item()


def draw_lstm_cell():
    """LSTM 单元：上方是细胞状态的“传送带”，下方是三个门和候选值。"""
    fig, ax = plt.subplots(figsize=(9.5, 5.4))
    ax.add_patch(FancyBboxPatch((1.0, 0.6), 8.0, 4.4, boxstyle="round,pad=0.1", fc="#f6f6f6", ec="gray"))

    def box(x, text, color):
        ax.add_patch(FancyBboxPatch((x - 0.38, 1.55), 0.76, 0.6, boxstyle="round,pad=0.05", fc=color, ec="black"))
        ax.text(x, 1.85, text, ha="center", va="center", fontsize=12)

    def op(x, y, text):
        ax.add_patch(Circle((x, y), 0.25, fc="white", ec="black"))
        ax.text(x, y, text, ha="center", va="center", fontsize=13)

    def line(points, arrow=True):
        xs, ys = zip(*points, strict=True)
        ax.plot(xs[:-1] + (xs[-1],), ys, c="black", lw=1.4)
        if arrow:
            ax.annotate("", points[-1], points[-2], arrowprops={"arrowstyle": "-|>", "lw": 1.4})

    gates = {
        "f": (2.6, "σ", "#f4cccc"),
        "i": (4.0, "σ", "#d9ead3"),
        "g": (5.2, "tanh", "#fff2cc"),
        "o": (6.6, "σ", "#cfe2f3"),
    }
    for x, text, color in gates.values():
        box(x, text, color)
    # 细胞状态：c(t-1) → ×f → +(i·g) → c(t)
    line([(0.3, 4.3), (2.35, 4.3)])
    op(2.6, 4.3, "×")
    line([(2.85, 4.3), (4.95, 4.3)])
    op(5.2, 4.3, "+")
    line([(5.45, 4.3), (9.7, 4.3)])
    # 输入 [h(t-1), x(t)] 送进四个门
    line([(0.3, 1.0), (6.6, 1.0)], arrow=False)
    line([(1.6, 0.0), (1.6, 1.0)], arrow=False)
    for x, *_ in gates.values():
        line([(x, 1.0), (x, 1.5)])
    line([(2.6, 2.2), (2.6, 4.05)])  # 遗忘门 → ×
    op(4.6, 3.1, "×")
    line([(4.0, 2.2), (4.0, 3.1), (4.35, 3.1)])  # 输入门 → ×
    line([(5.2, 2.2), (5.2, 3.1), (4.85, 3.1)])  # 候选值 → ×
    line([(4.6, 3.35), (4.6, 3.9), (4.95, 4.15)])  # i·g → +
    # 输出：h(t) = o · tanh(c(t))
    box_y = 3.35
    ax.add_patch(FancyBboxPatch((7.5, box_y - 0.22), 0.8, 0.44, boxstyle="round,pad=0.04", fc="#fff2cc", ec="black"))
    ax.text(7.9, box_y, "tanh", ha="center", va="center", fontsize=11)
    line([(7.9, 4.3), (7.9, box_y + 0.27)])
    op(7.9, 2.4, "×")
    line([(7.9, box_y - 0.27), (7.9, 2.65)])
    line([(6.6, 2.2), (6.6, 2.4), (7.65, 2.4)])
    line([(8.15, 2.4), (8.6, 2.4), (8.6, 1.0), (9.7, 1.0)])
    line([(8.6, 2.4), (8.6, 5.5)])
    labels = {
        (0.1, 4.55): "c(t−1)", (9.5, 4.55): "c(t)", (0.1, 1.25): "h(t−1)", (1.95, 0.1): "x(t)",
        (9.5, 1.25): "h(t)", (8.75, 5.35): "h(t)",
    }
    for (x, y), text in labels.items():
        ax.text(x, y, text, fontsize=11, style="italic")
    names = {2.6: "遗忘门 f", 4.0: "输入门 i", 5.2: "候选值 g", 6.6: "输出门 o"}
    for x, text in names.items():
        ax.text(x + 0.1, 2.75 if x in (2.6, 6.6) else 2.5, text, fontsize=9.5, color="dimgray",
                ha="left" if x in (2.6, 6.6) else "center")
    ax.set_xlim(-0.1, 10.2)
    ax.set_ylim(-0.2, 5.8)
    ax.set_aspect("equal")
    ax.set_axis_off()
    ax.set_title("LSTM 单元：细胞状态 c 沿上方的直线传递，只经过逐元素的 × 和 +")
    return fig


def main(argv=None):
    parser = chapter_kit.chapter_parser(__file__, __doc__)
    run = chapter_kit.start(parser, argv)
    lengths, steps = (QUICK_LENGTHS, QUICK_STEPS) if run.quick else (LENGTHS, STEPS)

    run.save_figure(draw_lstm_cell(), "lstm_cell")

    accuracy = {"RNN": [], "LSTM": []}
    for length in lengths:
        for name, cell in (("RNN", nn.RNN), ("LSTM", nn.LSTM)):
            torch.manual_seed(run.seed)
            generator = torch.Generator().manual_seed(run.seed + length)  # 两种模型看到同样的数据
            accuracy[name].append(train_and_test(cell, length, steps, generator, run.device))

    fig, ax = plt.subplots(figsize=(6.4, 4))
    ax.plot(lengths, accuracy["RNN"], "o-", label="nn.RNN")
    ax.plot(lengths, accuracy["LSTM"], "s-", label="nn.LSTM")
    ax.axhline(1 / N_SYMBOLS, c="gray", ls="--", lw=1, label="随机猜测")
    ax.set_xlabel("序列长度（要记住的符号在多少步之前）")
    ax.set_ylabel("测试准确率")
    ax.set_ylim(0, 1.05)
    ax.legend()
    ax.set_title(f"各训练 {steps} 步后的准确率")
    run.save_figure(fig, "accuracy")

    run.record(
        steps=steps,
        lengths=list(lengths),
        longest=lengths[-1],
        rnn_accuracy=accuracy["RNN"],
        lstm_accuracy=accuracy["LSTM"],
        rnn_longest=accuracy["RNN"][-1],
        lstm_longest=accuracy["LSTM"][-1],
        table=[{"序列长度": n, "RNN": f"{r:.1%}", "LSTM": f"{m:.1%}"}
               for n, r, m in zip(lengths, accuracy["RNN"], accuracy["LSTM"], strict=True)],
        rnn_parameters=sum(p.numel() for p in Recaller(nn.RNN).parameters()),
        lstm_parameters=sum(p.numel() for p in Recaller(nn.LSTM).parameters()),
        chance=1 / N_SYMBOLS,
    )
    run.finish()


if __name__ == "__main__":
    main()
