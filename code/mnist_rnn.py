"""MNIST 上的循环神经网络：把每张图按行读成 28 步的序列，比较 LSTM 与同样大小的普通 RNN。"""

import matplotlib.pyplot as plt
import torch
from torch import nn

import chapter_kit
from convolution import CNN
from mnist_cnn import Stopwatch, load_mnist, predict, to_tensors, train_epoch

DATA_FILES = (
    "MNIST/raw/train-images-idx3-ubyte.gz",
    "MNIST/raw/train-labels-idx1-ubyte.gz",
    "MNIST/raw/t10k-images-idx3-ubyte.gz",
    "MNIST/raw/t10k-labels-idx1-ubyte.gz",
)

TIME_STEP = 28  # 每张图 28 行：28 个时间步
INPUT_SIZE = 28  # 每个时间步读一行的 28 个像素
BATCH_SIZE = 64
# 莫烦教程 402 的设置
TUTORIAL_HIDDEN = 64
TUTORIAL_LR = 0.01
# 本章的设置：更大的隐藏状态，OneCycle 学习率调度，梯度裁剪
HIDDEN_SIZE = 128
MAX_LR = 5e-3
MAX_NORM = 1.0
EVAL_EVERY = 100  # 每训练 100 步在测试集的前 2000 张上评估一次
EVAL_IMAGES = 2000
QUICK_TRAIN, QUICK_TEST = 6000, 2000
QUICK_EVAL_EVERY = 20
# 结论的阈值
LSTM_MARGIN = 0.02  # 同样设置下，LSTM 的准确率至少比 RNN 高 2 个百分点
RNN_LEARNS = 0.80  # 普通 RNN 的准确率至少 80%（随机猜测是 10%）
TUNED_MARGIN = 0.005  # 本章设置的 LSTM 至少比教程设置高 0.5 个百分点（测试集上 50 张图），不只是舍入的差别


# --8<-- [start:model]
class RowReader(nn.Module):
    """逐行读图：cell 是 nn.LSTM 或 nn.RNN，读完 28 行后用最后一步的隐藏状态分类。"""

    def __init__(self, cell, hidden_size):
        super().__init__()
        self.rnn = cell(input_size=INPUT_SIZE, hidden_size=hidden_size, batch_first=True)
        self.out = nn.Linear(hidden_size, 10)

    def forward(self, x):  # (N, 1, 28, 28)
        rows = x.squeeze(1)  # (N, 28, 28)：(批, 时间步, 每步的输入)
        outputs, _ = self.rnn(rows)  # (N, 28, hidden)
        return self.out(outputs[:, -1])  # (N, 10)：只用读完最后一行时的输出
# --8<-- [end:model]


def train(cell, hidden_size, lr, schedule, x, y, x_eval, y_eval, device, seed, every):
    torch.manual_seed(seed)
    model = RowReader(cell, hidden_size).to(device)
    # --8<-- [start:train]
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    steps = len(x) // BATCH_SIZE
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps) if schedule else None
    curve = []

    def evaluate(step):
        curve.append((step, (predict(model, x_eval, EVAL_IMAGES) == y_eval).float().mean().item()))

    losses = train_epoch(model, x, y, BATCH_SIZE, optimizer, torch.Generator().manual_seed(seed), scheduler,
                         max_norm=MAX_NORM, every=every, callback=evaluate)
    # --8<-- [end:train]
    return model, losses, curve


def main(argv=None):
    parser = chapter_kit.chapter_parser(__file__, __doc__)
    chapter_kit.add_data_argument(parser)
    run = chapter_kit.start(parser, argv)
    device = run.device
    with chapter_kit.mnist_files(chapter_kit.data_root(run.args)):
        train_images, train_labels, test_images, test_labels = load_mnist(chapter_kit.data_root(run.args))
    if run.quick:
        train_images, train_labels = train_images[:QUICK_TRAIN], train_labels[:QUICK_TRAIN]
        test_images, test_labels = test_images[:QUICK_TEST], test_labels[:QUICK_TEST]
    x, y = to_tensors(train_images, train_labels, device, normalize=True)
    x_test, y_test = to_tensors(test_images, test_labels, device, normalize=True)
    x_eval, y_eval = x_test[:EVAL_IMAGES], y_test[:EVAL_IMAGES]
    eval_batch = 10000 if device.type == "cuda" else 1000

    setups = {
        "LSTM（教程的设置）": (nn.LSTM, TUTORIAL_HIDDEN, TUTORIAL_LR, False),
        "LSTM": (nn.LSTM, HIDDEN_SIZE, MAX_LR, True),
        "RNN": (nn.RNN, HIDDEN_SIZE, MAX_LR, True),
    }
    results = {}
    for name, (cell, hidden, lr, schedule) in setups.items():
        every = QUICK_EVAL_EVERY if run.quick else EVAL_EVERY
        with Stopwatch(device) as clock:
            model, losses, curve = train(cell, hidden, lr, schedule, x, y, x_eval, y_eval, device, run.seed, every)
        accuracy = (predict(model, x_test, eval_batch) == y_test).float().mean().item()
        results[name] = dict(model=model, losses=losses, curve=curve, time=clock.seconds, accuracy=accuracy)

    fig, ax = plt.subplots(figsize=(7, 4))
    for name, result in results.items():
        steps, accuracy = zip(*result["curve"], strict=True)
        ax.plot(steps, accuracy, marker="o", ms=3, label=name)
    ax.set_xlabel(f"训练步数（每步 {BATCH_SIZE} 张图）")
    ax.set_ylabel(f"测试集前 {EVAL_IMAGES} 张的准确率")
    ax.set_ylim(0, 1)
    ax.legend(loc="lower right")
    ax.set_title("逐行读图的 LSTM 与 RNN：1 个 epoch 内的准确率")
    run.save_figure(fig, "accuracy_curve")

    def parameters(name):
        return sum(p.numel() for p in results[name]["model"].parameters())

    tutorial, lstm, rnn = (results[name]["accuracy"] for name in setups)
    cnn_parameters = sum(p.numel() for p in CNN().parameters())  # 卷积一章里笔记的网络
    run.record(
        train_images=len(x),
        test_images=len(x_test),
        table=[
            {"模型": name, "隐藏状态": setups[name][1], "参数个数": parameters(name),
             "测试准确率": f"{result['accuracy']:.2%}", "训练用时": f"{result['time']:.1f} s"}
            for name, result in results.items()
        ],
        tutorial_accuracy=tutorial,
        lstm_accuracy=lstm,
        rnn_accuracy=rnn,
        lstm_gain_points=100 * (lstm - rnn),  # 百分点
        tuned_gain_points=100 * (lstm - tutorial),
        tutorial_parameters=parameters("LSTM（教程的设置）"),
        lstm_parameters=parameters("LSTM"),
        rnn_parameters=parameters("RNN"),
        cnn_parameters=cnn_parameters,
        lstm_to_rnn_parameters=parameters("LSTM") / parameters("RNN"),
        steps=len(results["LSTM"]["losses"]),
        batch_size=BATCH_SIZE,
        tutorial_hidden=TUTORIAL_HIDDEN,
        tutorial_lr=TUTORIAL_LR,
        hidden_size=HIDDEN_SIZE,
        max_lr=MAX_LR,
        max_norm=MAX_NORM,
        eval_images=EVAL_IMAGES,
    )
    run.claim(
        "lstm_beats_rnn",
        lstm - rnn >= LSTM_MARGIN,
        f"LSTM {lstm:.2%} − RNN {rnn:.2%} = {100 * (lstm - rnn):.2f} 个百分点 ≥ {100 * LSTM_MARGIN:.0f}",
    )
    run.claim("rnn_learns", rnn >= RNN_LEARNS, f"RNN 的测试准确率 {rnn:.2%} ≥ {RNN_LEARNS:.0%}")
    run.claim(
        "tuned_beats_tutorial",
        lstm - tutorial >= TUNED_MARGIN,
        f"本章设置的 LSTM {lstm:.2%} − 教程设置的 LSTM {tutorial:.2%} = {100 * (lstm - tutorial):.2f} 个百分点 "
        f"≥ {100 * TUNED_MARGIN:.1f}",
    )
    run.claim(
        "cnn_not_fewer_parameters",
        cnn_parameters > parameters("LSTM（教程的设置）"),
        f"参数个数：笔记的 CNN {cnn_parameters} > 教程设置的 LSTM {parameters('LSTM（教程的设置）')}",
    )
    run.finish()


if __name__ == "__main__":
    main()
