"""MNIST 上的循环神经网络：把每张图按行读成 28 步的序列，比较 LSTM 与同样大小的普通 RNN。"""

# --8<-- [start:imports]
import time

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn
from torchvision import datasets  # noqa: F401  下面的 load_mnist 用它下载和读取 MNIST
# --8<-- [end:imports]

import chapter_kit  # 构建用的运行时：页面不展示它
from convolution import CNN
from mnist_cnn import load_mnist

# --8<-- [start:hyperparameters]
INPUT_SIZE = 28  # 每张图 28 行：28 个时间步，每个时间步读一行的 28 个像素
BATCH_SIZE = 64
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081  # 训练集像素的均值和标准差
# 三组设置：(循环层, 隐状态的维数, 学习率, 是否用 OneCycle 学习率调度)
SETUPS = {
    "LSTM（教程的设置）": (nn.LSTM, 64, 0.01, False),  # 莫烦教程 402 的设置：学习率固定
    "LSTM": (nn.LSTM, 128, 5e-3, True),  # 本章的设置：更大的隐状态，OneCycle 学习率调度（5e-3 是峰值）
    "RNN": (nn.RNN, 128, 5e-3, True),  # 与上一行只差循环层
}
MAX_NORM = 1.0  # 梯度裁剪：梯度的范数最大为 1
EVAL_POINTS = 10  # 训练中在测试集的前 EVAL_IMAGES 张上评估几次，画准确率曲线
EVAL_IMAGES = 2000
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
data_root = "data"  # MNIST 的四个文件放在 data/MNIST/raw/；不在就下载到那里
seed = 0  # 随机种子：三个模型从同一个种子开始初始化，打乱顺序也相同
# --8<-- [end:hyperparameters]

# 以下只供构建（页面不展示）
# 构建时的缓存要知道本章读了哪些数据文件（相对数据根目录）
DATA_FILES = (
    "MNIST/raw/train-images-idx3-ubyte.gz",
    "MNIST/raw/train-labels-idx1-ubyte.gz",
    "MNIST/raw/t10k-images-idx3-ubyte.gz",
    "MNIST/raw/t10k-labels-idx1-ubyte.gz",
)
QUICK_TRAIN, QUICK_TEST = 6000, 2000  # 快速模式只用一部分数据
# 结论的阈值
LSTM_MARGIN = 0.02  # 同样设置下，LSTM 的准确率至少比 RNN 高 2 个百分点
RNN_LEARNS = 0.80  # 普通 RNN 的准确率至少 80%（随机猜测是 10%）
TUNED_MARGIN = 0.005  # 本章设置的 LSTM 至少比教程设置高 0.5 个百分点（测试集上 50 张图），不只是舍入的差别


# --8<-- [start:model]
class RowReader(nn.Module):
    """逐行读图：cell 是 nn.LSTM 或 nn.RNN，读完 28 行后用最后一步的隐状态分类。"""

    def __init__(self, cell, hidden_size):
        super().__init__()
        self.rnn = cell(input_size=INPUT_SIZE, hidden_size=hidden_size, batch_first=True)
        self.out = nn.Linear(hidden_size, 10)

    def forward(self, x):  # (N, 28, 28)：(批量大小, 时间步, 每步的输入)
        outputs, _ = self.rnn(x)  # (N, 28, hidden_size)：每个时间步的输出
        return self.out(outputs[:, -1])  # (N, 10)：只用读完最后一行时的输出
# --8<-- [end:model]


# --8<-- [start:train]
@torch.no_grad()
def accuracy(model, x, y, batch_size=1000):
    """评估：不记录计算图，分几段算完，免得一次占用太多内存。"""
    model.eval()
    predictions = torch.cat([model(x[i : i + batch_size]).argmax(dim=1) for i in range(0, len(x), batch_size)])
    return (predictions == y).float().mean().item()


def train(model, x, y, lr, schedule, x_eval, y_eval):
    """按 x 的顺序训练 1 个迭代周期；每隔一段在 (x_eval, y_eval) 上评估，返回 [(步数, 准确率), ...]。"""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    steps = len(x) // BATCH_SIZE
    # OneCycle：学习率先升到峰值 lr 再降到接近 0；默认还把 Adam 的 β1 反着在 0.95 和 0.85 之间调
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps) if schedule else None
    every = max(1, steps // EVAL_POINTS)
    curve = []
    for step in range(1, steps + 1):
        model.train()
        batch = slice((step - 1) * BATCH_SIZE, step * BATCH_SIZE)  # 第 step 个小批量
        loss = F.cross_entropy(model(x[batch]), y[batch])
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), MAX_NORM)  # 梯度裁剪
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        if step % every == 0 or step == steps:
            curve.append((step, accuracy(model, x_eval, y_eval)))
    return curve
# --8<-- [end:train]


def main(argv=None):
    parser = chapter_kit.chapter_parser(__file__, __doc__)
    chapter_kit.add_data_argument(parser)
    run = chapter_kit.start(parser, argv)
    # 页面上的 device、data_root、seed 是默认值；构建用 --device、--data、--seed 选的
    device, data_root, seed = run.device, chapter_kit.data_root(run.args), run.seed
    with chapter_kit.mnist_files(data_root):
        # --8<-- [start:load_run]
        train_images, train_labels, test_images, test_labels = load_mnist(data_root)
        # --8<-- [end:load_run]
    if run.quick:  # 快速模式只用一部分数据
        train_images, train_labels = train_images[:QUICK_TRAIN], train_labels[:QUICK_TRAIN]
        test_images, test_labels = test_images[:QUICK_TEST], test_labels[:QUICK_TEST]

    # --8<-- [start:run]
    # uint8 (N, 28, 28) -> 标准化的 float (N, 28, 28)：整个数据集一次放到设备上，每个小批量只是一次切片
    x = ((train_images.to(device).float() / 255 - MNIST_MEAN) / MNIST_STD)
    x_test = ((test_images.to(device).float() / 255 - MNIST_MEAN) / MNIST_STD)
    y, y_test = train_labels.to(device), test_labels.to(device)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed)).to(device)
    x, y = x[order], y[order]  # 打乱一次：三个模型按同样的顺序读同样的小批量

    results = {}
    for name, (cell, hidden_size, lr, schedule) in SETUPS.items():
        torch.manual_seed(seed)  # 三个模型的初始化从同一个种子开始
        model = RowReader(cell, hidden_size).to(device)
        started = time.perf_counter()
        curve = train(model, x, y, lr, schedule, x_test[:EVAL_IMAGES], y_test[:EVAL_IMAGES])
        seconds = time.perf_counter() - started  # train 最后一次评估调用了 .item()，GPU 上的计算都已做完
        results[name] = dict(model=model, curve=curve, seconds=seconds, accuracy=accuracy(model, x_test, y_test))
        print(f"{name}：测试准确率 {results[name]['accuracy']:.2%}，训练用时 {seconds:.1f} s")
    # --8<-- [end:run]

    # --8<-- [start:plot]
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, result in results.items():
        steps, accuracies = zip(*result["curve"], strict=True)
        ax.plot(steps, accuracies, marker="o", ms=3, label=name)
    ax.set_xlabel(f"训练步数（每步一个小批量，{BATCH_SIZE} 张图）")
    ax.set_ylabel(f"测试集前 {EVAL_IMAGES} 张的准确率")
    ax.set_ylim(0, 1)
    ax.legend(loc="lower right")
    ax.set_title("逐行读图的 LSTM 与 RNN：1 个迭代周期内的准确率")
    plt.show()
    # --8<-- [end:plot]
    run.save_figure(fig, "accuracy_curve")

    def parameters(name):
        return sum(p.numel() for p in results[name]["model"].parameters())

    names = list(SETUPS)
    tutorial, lstm, rnn = (results[name]["accuracy"] for name in names)
    tutorial_name = names[0]
    cnn_parameters = sum(p.numel() for p in CNN().parameters())  # 卷积一章里笔记的网络
    run.record(
        train_images=len(x),
        test_images=len(x_test),
        table=[
            {"模型": name, "隐状态的维数": SETUPS[name][1], "参数个数": parameters(name),
             "测试准确率": f"{result['accuracy']:.2%}", "训练用时": f"{result['seconds']:.1f} s"}
            for name, result in results.items()
        ],
        tutorial_accuracy=tutorial,
        lstm_accuracy=lstm,
        rnn_accuracy=rnn,
        lstm_gain_points=100 * (lstm - rnn),  # 百分点
        tuned_gain_points=100 * (lstm - tutorial),
        tutorial_parameters=parameters(tutorial_name),
        lstm_parameters=parameters("LSTM"),
        rnn_parameters=parameters("RNN"),
        cnn_parameters=cnn_parameters,
        lstm_to_rnn_parameters=parameters("LSTM") / parameters("RNN"),
        steps=len(x) // BATCH_SIZE,
        batch_size=BATCH_SIZE,
        tutorial_hidden=SETUPS[tutorial_name][1],
        tutorial_lr=SETUPS[tutorial_name][2],
        hidden_size=SETUPS["LSTM"][1],
        max_lr=SETUPS["LSTM"][2],
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
        cnn_parameters > parameters(tutorial_name),
        f"参数个数：笔记的 CNN {cnn_parameters} > 教程设置的 LSTM {parameters(tutorial_name)}",
    )
    run.finish()


if __name__ == "__main__":
    main()
