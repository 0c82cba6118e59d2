r"""LSTM：画出带三个门的 LSTM 单元，并在“记住很久以前看到的符号”任务上比较 RNN、IRNN 与 LSTM。

记忆元的加法更新 $c^{(t)}=f^{(t)}\odot c^{(t-1)}+i^{(t)}\odot\tilde c^{(t)}$ 让梯度能沿时间传回很远。
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
# 任务：序列第一步给出 4 个符号之一（独热向量），之后什么也没有；读完整个序列后说出第一个符号
N_SYMBOLS = 4
NOISE = 0.0  # 之后各步的噪声强度；练习里可以调大
HIDDEN_SIZE = 32
BATCH_SIZE = 64
LR = 3e-3
MAX_NORM = 1.0  # 梯度裁剪的阈值
FORGET_BIAS = 4.0  # σ(4) ≈ 0.98：初始化时遗忘门几乎全开，记忆元每步只乘上约 0.98
LENGTHS = (5, 15, 50)  # 短、中、长：看要记住的信息离“现在”越远时，三种模型各怎样
STEPS = 400
N_SEEDS = 3  # 每个长度、每种模型训练 3 次（3 个种子），页面给出平均值和范围
TEST_SIZE = 500
GRAD_BATCH = 256  # 量初始化时第一步输入的梯度用的序列数
MODELS = ("RNN", "IRNN", "LSTM")
seed = 0  # 基础种子：第 k 次训练用种子 seed * 100 + k
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
# --8<-- [end:hyperparameters]

# 只给构建用的设置（页面上不显示）：快速模式只是预览，序列更短、步数更少、每个长度只用 1 个种子
QUICK_LENGTHS = (5, 40)
QUICK_STEPS = 80


# --8<-- [start:task]
def make_batch(n, length, generator, device):
    symbols = torch.randint(0, N_SYMBOLS, (n,), generator=generator)  # (n,)：要记住的答案
    x = NOISE * torch.randn(n, length, N_SYMBOLS, generator=generator)  # (n, length, 4)：之后各步只有噪声
    x[:, 0] = F.one_hot(symbols, N_SYMBOLS).float()  # 只有第一步带着信息
    return x.to(device), symbols.to(device)
# --8<-- [end:task]


# --8<-- [start:model]
class Recaller(nn.Module):
    """读完整个序列，用最后一个时间步的隐状态分类。三种模型只有循环层不同，隐状态都是 32 维。"""

    def __init__(self, kind):
        super().__init__()
        if kind == "LSTM":
            self.rnn = nn.LSTM(N_SYMBOLS, HIDDEN_SIZE, batch_first=True)
        else:  # IRNN 是 ReLU 激活的普通 RNN，只是初始化不同
            activation = "relu" if kind == "IRNN" else "tanh"
            self.rnn = nn.RNN(N_SYMBOLS, HIDDEN_SIZE, batch_first=True, nonlinearity=activation)
        self.out = nn.Linear(HIDDEN_SIZE, N_SYMBOLS)
        with torch.no_grad():  # 原地改参数，不记进计算图
            if kind == "LSTM":
                # 常用的技巧：遗忘门的偏置初始化为正数，一开始就倾向于“记住”
                # PyTorch 把四组参数按（输入门、遗忘门、候选记忆元、输出门）的顺序拼在一起
                for name, param in self.rnn.named_parameters():
                    if name.startswith("bias"):
                        param[HIDDEN_SIZE : 2 * HIDDEN_SIZE] = FORGET_BIAS / 2  # 两个偏置相加
            if kind == "IRNN":
                # Le、Jaitly、Hinton（2015）：W_hh 初始化为单位矩阵、偏置为 0，没有输入时 h 原样传下去
                self.rnn.weight_hh_l0.copy_(torch.eye(HIDDEN_SIZE))
                self.rnn.bias_hh_l0.zero_()
                self.rnn.bias_ih_l0.zero_()

    def forward(self, x):  # (N, length, 4)
        outputs, _ = self.rnn(x)  # (N, length, 32)
        return self.out(outputs[:, -1])  # (N, 4)：只看最后一步
# --8<-- [end:model]


# --8<-- [start:gradient]
def first_step_gradient(model, length, generator, device):
    """‖∂L/∂x⁽¹⁾‖：损失对第一步输入（唯一带信息的那一步）的梯度有多大，对 GRAD_BATCH 个序列取平均。"""
    x, y = make_batch(GRAD_BATCH, length, generator, device)
    x.requires_grad_(True)
    loss = F.cross_entropy(model(x), y, reduction="sum")  # 求和：每个序列的梯度就是它自己损失的梯度
    (grad,) = torch.autograd.grad(loss, x)  # (N, length, 4)
    return grad[:, 0].norm(dim=1).mean().item()
# --8<-- [end:gradient]


# --8<-- [start:train]
def train_and_test(model, length, steps, generator, device):
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    # 前一半步数学习率不变，后一半线性降到 0：收尾时步子变小，
    # 最后得到的参数不取决于最后某一步的大幅更新
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, 2 * (1 - step / steps)))
    for _ in range(steps):
        x, y = make_batch(BATCH_SIZE, length, generator, device)  # (64, length, 4)、(64,)
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), MAX_NORM)  # 三种模型都裁剪：比较的只是结构和初始化
        optimizer.step()
        scheduler.step()
    x, y = make_batch(TEST_SIZE, length, generator, device)  # 新的序列
    with torch.no_grad():
        return (model(x).argmax(dim=1) == y).float().mean().item()
# --8<-- [end:train]


# --8<-- [start:experiment]
def experiment(lengths, steps, seeds, device):
    """每个长度、每个种子、每种模型各训练一次；返回测试准确率和初始化时的梯度，都按 [模型][长度] 存成列表。"""
    accuracy = {name: {n: [] for n in lengths} for name in MODELS}
    gradient = {name: {n: [] for n in lengths} for name in MODELS}
    for length in lengths:
        for s in seeds:
            for name in MODELS:
                torch.manual_seed(s)
                model = Recaller(name).to(device)
                # 三种模型看到同样的数据：每个（种子，长度）组合一个数据生成器
                probe = torch.Generator().manual_seed(s)
                gradient[name][length].append(first_step_gradient(model, length, probe, device))
                data = torch.Generator().manual_seed(s * 1000 + length)
                accuracy[name][length].append(train_and_test(model, length, steps, data, device))
        means = (f"{name} {sum(accuracy[name][length]) / len(seeds):.1%}" for name in MODELS)
        print(f"长度 {length}，平均测试准确率：" + "，".join(means))
    return accuracy, gradient
# --8<-- [end:experiment]


def draw_lstm_cell():
    """LSTM 单元：上方是记忆元的“传送带”，下方是三个门和候选记忆元。"""
    from matplotlib.patches import Circle, FancyBboxPatch

    fig, ax = plt.subplots(figsize=(7, 4.1))  # 宽 7 英寸：页面上的字不小于 9 磅
    ax.add_patch(FancyBboxPatch((1.0, 0.6), 8.0, 4.4, boxstyle="round,pad=0.1", fc="#f6f6f6", ec="gray"))

    def box(x, text, color):
        ax.add_patch(FancyBboxPatch((x - 0.38, 1.55), 0.76, 0.6, boxstyle="round,pad=0.05", fc=color, ec="black"))
        ax.text(x, 1.85, text, ha="center", va="center", fontsize=10)

    def op(x, y, text):
        ax.add_patch(Circle((x, y), 0.25, fc="white", ec="black"))
        ax.text(x, y, text, ha="center", va="center", fontsize=11)

    def line(points, arrow=True):
        xs, ys = zip(*points, strict=True)
        ax.plot(xs[:-1] + (xs[-1],), ys, c="black", lw=1.4)
        if arrow:
            ax.annotate("", points[-1], points[-2], arrowprops={"arrowstyle": "-|>", "lw": 1.4})

    gates = {
        "f": (2.6, "σ", "#f4cccc"),
        "i": (4.0, "σ", "#d9ead3"),
        "c_tilde": (5.2, "tanh", "#fff2cc"),
        "o": (6.6, "σ", "#cfe2f3"),
    }
    for x, text, color in gates.values():
        box(x, text, color)
    # 记忆元：c(t-1) → ×f → +(i·c̃) → c(t)
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
    line([(5.2, 2.2), (5.2, 3.1), (4.85, 3.1)])  # 候选记忆元 → ×
    line([(4.6, 3.35), (4.6, 3.9), (4.95, 4.15)])  # i·c̃ → +
    # 输出：h(t) = o · tanh(c(t))
    box_y = 3.35
    ax.add_patch(FancyBboxPatch((7.5, box_y - 0.22), 0.8, 0.44, boxstyle="round,pad=0.04", fc="#fff2cc", ec="black"))
    ax.text(7.9, box_y, "tanh", ha="center", va="center", fontsize=10)
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
        ax.text(x, y, text, fontsize=10, style="italic")
    # 门的名字写在空处，不让箭头穿过文字：f、i 写在竖线左边，c̃ 写在竖线右边偏上，o 写在方框右边
    names = [(2.5, 2.6, "遗忘门 $f$", "right"), (3.9, 2.6, "输入门 $i$", "right"),
             (5.3, 2.7, r"候选记忆元 $\tilde{c}$", "left"), (7.1, 1.85, "输出门 $o$", "left")]
    for x, y, text, side in names:
        ax.text(x, y, text, fontsize=9, color="dimgray", ha=side, va="center")
    ax.set_xlim(-0.1, 10.2)
    ax.set_ylim(-0.2, 5.8)
    ax.set_aspect("equal")
    ax.set_axis_off()
    ax.set_title("LSTM 单元：记忆元 c 沿上方的直线传递，只经过逐元素的 × 和 +", fontsize=10)
    return fig


def spread(values):
    ordered = sorted(values)
    return {"mean": sum(values) / len(values), "median": ordered[len(values) // 2],
            "min": ordered[0], "max": ordered[-1]}


def main(argv=None):
    parser = chapter_kit.chapter_parser(__file__, __doc__)
    run = chapter_kit.start(parser, argv)
    seed, device = run.seed, run.device  # 命令行的 --seed、--device 代替页面上的默认值

    run.save_figure(draw_lstm_cell(), "lstm_cell")

    if run.quick:
        lengths, steps, seeds = QUICK_LENGTHS, QUICK_STEPS, [seed * 100]
        accuracy, gradient = experiment(lengths, steps, seeds, device)
    else:
        # --8<-- [start:run]
        seeds = [seed * 100 + k for k in range(N_SEEDS)]  # 本章自己的几个种子，由基础种子决定
        accuracy, gradient = experiment(LENGTHS, STEPS, seeds, device)
        # --8<-- [end:run]
        lengths, steps = LENGTHS, STEPS
    n_seeds = len(seeds)

    styles = {"RNN": ("o-", "tab:blue"), "IRNN": ("^-", "tab:green"), "LSTM": ("s-", "tab:orange")}
    shift = {"RNN": 0.0, "IRNN": -0.8, "LSTM": 0.8}  # 左图里三条线左右错开一点，免得重合的点互相挡住
    fig, (left, right) = plt.subplots(1, 2, figsize=(7, 3.4))
    for name in MODELS:
        marker, color = styles[name]
        acc = [spread(accuracy[name][n]) for n in lengths]
        means = [a["mean"] for a in acc]
        errors = [[a["mean"] - a["min"] for a in acc], [a["max"] - a["mean"] for a in acc]]
        left.errorbar([n + shift[name] for n in lengths], means, yerr=errors, fmt=marker, color=color, capsize=3,
                      label=name)
        # 梯度可能小到下溢成 0，画在对数轴上时记作 1e-30
        grads = [[max(g, 1e-30) for g in gradient[name][n]] for n in lengths]
        right.plot(lengths, [math.exp(sum(map(math.log, g)) / len(g)) for g in grads], marker, color=color, label=name)
        for n, g in zip(lengths, grads, strict=True):
            right.scatter([n] * len(g), g, s=10, color=color, alpha=0.5)
    left.axhline(1 / N_SYMBOLS, c="gray", ls="--", lw=1, label="随机猜测")
    left.set_xlabel("序列长度")
    left.set_ylabel("测试准确率")
    left.set_ylim(0, 1.08)
    left.set_title(f"训练 {steps} 步后（{n_seeds} 个种子）", fontsize=10)
    left.legend(fontsize=9)
    right.set_yscale("log")
    right.set_xlabel("序列长度")
    right.set_ylabel(r"$\Vert\partial L/\partial x^{(1)}\Vert$")
    right.set_title("初始化时，损失对第一步输入的梯度", fontsize=10)
    fig.tight_layout()
    run.save_figure(fig, "accuracy")

    short, longest = lengths[0], lengths[-1]
    acc = {name: {n: spread(accuracy[name][n]) for n in lengths} for name in MODELS}
    grad = {name: {n: spread(gradient[name][n]) for n in lengths} for name in MODELS}

    def cell(name, n):
        a = acc[name][n]
        return f"{a['mean']:.1%}（{a['min']:.1%}–{a['max']:.1%}）" if n_seeds > 1 else f"{a['mean']:.1%}"

    run.record(
        steps=steps,
        lr=LR,
        seeds=n_seeds,
        lengths=list(lengths),
        short=short,
        longest=longest,
        hidden_size=HIDDEN_SIZE,
        test_size=TEST_SIZE,
        grad_batch=GRAD_BATCH,
        accuracy={name: {str(n): accuracy[name][n] for n in lengths} for name in MODELS},
        gradient={name: {str(n): gradient[name][n] for n in lengths} for name in MODELS},
        rnn_accuracy=[acc["RNN"][n]["mean"] for n in lengths],
        lstm_accuracy=[acc["LSTM"][n]["mean"] for n in lengths],
        irnn_accuracy=[acc["IRNN"][n]["mean"] for n in lengths],
        rnn_longest=acc["RNN"][longest],
        lstm_longest=acc["LSTM"][longest],
        irnn_longest=acc["IRNN"][longest],
        rnn_short=acc["RNN"][short],
        lstm_short=acc["LSTM"][short],
        rnn_grad_short=grad["RNN"][short],
        rnn_grad_longest=grad["RNN"][longest],
        lstm_grad_longest=grad["LSTM"][longest],
        irnn_grad_longest=grad["IRNN"][longest],
        table=[{"序列长度": n, **{name: cell(name, n) for name in MODELS}} for n in lengths],
        rnn_parameters=sum(p.numel() for p in Recaller("RNN").parameters()),
        lstm_parameters=sum(p.numel() for p in Recaller("LSTM").parameters()),
        chance=1 / N_SYMBOLS,
    )
    r_short, m_short = acc["RNN"][short]["min"], acc["LSTM"][short]["min"]
    run.claim(
        "both_learn_short",
        r_short >= 0.9 and m_short >= 0.9,
        f"长度 {short}，{n_seeds} 个种子中最低的准确率：RNN {r_short:.1%}，LSTM {m_short:.1%}，都 ≥ 90%",
    )
    # 单次训练可能碰巧学会，所以这里核对的是“多数”：中位数在随机猜测（25%）附近
    r_long = acc["RNN"][longest]["median"]
    values = "、".join(f"{a:.1%}" for a in accuracy["RNN"][longest])
    run.claim(
        "rnn_fails_long",
        r_long <= 0.35,
        f"长度 {longest}，RNN {n_seeds} 个种子的准确率 {values}，中位数 {r_long:.1%} ≤ 35%"
        "（随机猜测 25%，学会是 100%）",
    )
    m_long, i_long = acc["LSTM"][longest]["min"], acc["IRNN"][longest]["min"]
    run.claim(
        "lstm_learns_long",
        m_long >= 0.9,
        f"长度 {longest}，LSTM 在 {n_seeds} 个种子中最低的准确率 {m_long:.1%} ≥ 90%",
    )
    run.claim(
        "irnn_learns_long",
        i_long >= 0.9,
        f"长度 {longest}，IRNN 在 {n_seeds} 个种子中最低的准确率 {i_long:.1%} ≥ 90%",
    )
    g_rnn_short, g_rnn_long = grad["RNN"][short]["min"], grad["RNN"][longest]["max"]
    run.claim(
        "rnn_gradient_vanishes",
        g_rnn_long < g_rnn_short * 1e-4,
        f"RNN 初始化时的 ‖∂L/∂x⁽¹⁾‖：长度 {longest} 时最大 {g_rnn_long:.1e}，"
        f"不到长度 {short} 时最小值 {g_rnn_short:.1e} 的万分之一",
    )
    g_lstm_long = min(grad["LSTM"][longest]["min"], grad["IRNN"][longest]["min"])
    run.claim(
        "gated_gradient_survives",
        g_lstm_long > g_rnn_long * 1e4,
        f"长度 {longest}，初始化时 LSTM 和 IRNN 的 ‖∂L/∂x⁽¹⁾‖ 最小 {g_lstm_long:.1e}，"
        f"是 RNN 最大值 {g_rnn_long:.1e} 的一万倍以上",
    )
    run.finish()


if __name__ == "__main__":
    main()
