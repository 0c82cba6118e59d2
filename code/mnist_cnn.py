"""MNIST 上的卷积神经网络：笔记的网络训练 1 个迭代周期，再看一个细心的工程师会怎样改进它，以及批量规范化的两种模式。"""

# --8<-- [start:imports]
import time

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn
from torchvision import datasets
# --8<-- [end:imports]

import chapter_kit
from convolution import CNN

# --8<-- [start:hyperparameters]
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
data_root = "data"  # MNIST 的四个文件放在 data/MNIST/raw/；不在就下载到那里
generator = torch.Generator().manual_seed(0)  # 打乱训练集顺序用的随机数生成器：固定种子，结果可以复现
# 笔记的超参数
EPOCH = 1
BATCH_SIZE = 50
LR = 0.001
# 改进后的网络
IMPROVED_BATCH_SIZE = 32
IMPROVED_MAX_LR = 5e-3  # OneCycle 学习率调度的峰值
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081  # 训练集像素的均值和标准差
# --8<-- [end:hyperparameters]

# 以下只供构建（页面不展示）
# 构建时的缓存要知道本章读了哪些数据文件（相对数据根目录）
DATA_FILES = (
    "MNIST/raw/train-images-idx3-ubyte.gz",
    "MNIST/raw/train-labels-idx1-ubyte.gz",
    "MNIST/raw/t10k-images-idx3-ubyte.gz",
    "MNIST/raw/t10k-labels-idx1-ubyte.gz",
)
# 快速模式只用一部分数据
QUICK_TRAIN, QUICK_TEST = 6000, 2000
GRID = (4, 6)  # 预测结果图：4 行 6 列，前一半是预测错的
CURVE_WINDOW = 3200  # 训练曲线的滑动平均窗口：按图片数算，两个网络的批量大小不同也可比
# 结论的阈值
ERROR_RATIO_MAX = 0.65  # 改进后的错误数至多是笔记网络的 0.65 倍：“明显更少”，而不只是随机波动
LOSS_RATIO_MAX = 0.75  # 最后 CURVE_WINDOW 张图上的训练损失也至多是 3/4
RUNNING_MEAN_TOLERANCE = 0.05  # running_mean 与训练集上的均值之差，以标准差为单位
RUNNING_VAR_TOLERANCE = 0.1  # running_var 与训练集上的方差之比偏离 1 不超过 10%
MIXED_TOLERANCE = 0.005  # 忘了 .eval() 但小批量里数字混在一起：准确率与评估模式相差不超过 0.5 个百分点
FORGOT_ERROR_RATIO = 1.5  # 忘了 .eval() 且小批量“不寻常”：错误数至少是评估模式的 1.5 倍


# --8<-- [start:load]
def load_mnist(root):
    """取得 MNIST：四个文件不在 <root>/MNIST/raw/ 就下载，核对校验和后解压。

    返回 (训练图像, 训练标签, 测试图像, 测试标签)：图像是 uint8 张量 (N, 28, 28)，标签是 int64 张量 (N,)。
    """
    train_set = datasets.MNIST(root, train=True, download=True)
    test_set = datasets.MNIST(root, train=False, download=True)
    return train_set.data, train_set.targets, test_set.data, test_set.targets
# --8<-- [end:load]


# --8<-- [start:tensors]
def to_tensors(images, labels, device, normalize):
    """把整个数据集一次性变成张量放到设备上：(N, 28, 28) uint8 -> (N, 1, 28, 28) float。

    笔记的写法每取一个样本都要经过 PIL 图像和 ToTensor。训练集 60000×28×28 个像素，
    uint8 占 47 MB，变成 float32 后是 4 倍；整个放进内存（或显存）后，每个小批量只是一次下标索引。
    """
    x = images.to(device, non_blocking=True).unsqueeze(1).float().div(255)  # ToTensor 同样缩放到 [0, 1]
    if normalize:
        x = (x - MNIST_MEAN) / MNIST_STD  # 均值 0、标准差 1
    return x, labels.to(device, non_blocking=True)
# --8<-- [end:tensors]


# --8<-- [start:train]
def train_epoch(model, x, y, batch_size, optimizer, generator=None, scheduler=None, max_norm=None, every=None,
                callback=None):
    """训练一个迭代周期，每个迭代周期重新打乱顺序（CPU 和 GPU 上都一样）；返回每一步的损失。

    后几个参数可以不给：generator 决定打乱的顺序；scheduler 每步之后调整学习率；max_norm 给定时做梯度裁剪，
    每 every 步调用一次 callback(步数)（循环神经网络一章用这两项裁剪梯度、在测试集上评估）。
    """
    model.train()  # BatchNorm 用小批量的统计量（见下文）
    order = torch.randperm(len(x), generator=generator).to(x.device)
    losses = []
    for step, start in enumerate(range(0, len(x) - batch_size + 1, batch_size), 1):
        index = order[start : start + batch_size]
        loss = F.cross_entropy(model(x[index]), y[index])  # model(x[index]) 的形状：(批量大小, 10)
        optimizer.zero_grad()
        loss.backward()
        if max_norm is not None:
            nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        losses.append(loss.detach())  # 不在每一步调用 .item()：那会让 GPU 等 CPU
        if callback is not None and step % every == 0:
            callback(step)
            model.train()
    return torch.stack(losses).cpu().tolist()


@torch.no_grad()
def predict(model, x, batch_size=1000):
    model.eval()  # 评估模式：BatchNorm 改用训练时积累的 running_mean、running_var
    return torch.cat([model(x[i : i + batch_size]).argmax(dim=1) for i in range(0, len(x), batch_size)])
# --8<-- [end:train]


# --8<-- [start:improved]
class ImprovedCNN(nn.Module):
    """同样的两层卷积结构，每个卷积后加 BatchNorm（卷积的偏置因此多余，去掉）。"""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Sequential(
            nn.Conv2d(1, 16, 5, 1, 2, bias=False),  # (N, 16, 28, 28)
            nn.BatchNorm2d(16),
            nn.ReLU(),
            nn.MaxPool2d(2),  # (N, 16, 14, 14)
        )
        self.conv2 = nn.Sequential(
            nn.Conv2d(16, 32, 5, 1, 2, bias=False),  # (N, 32, 14, 14)
            nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.MaxPool2d(2),  # (N, 32, 7, 7)
        )
        self.out = nn.Linear(32 * 7 * 7, 10)

    def forward(self, x):
        return self.out(self.conv2(self.conv1(x)).flatten(1))
# --8<-- [end:improved]


class Stopwatch:
    """训练用时。CUDA 是异步的：读时钟前后都先等 GPU 做完已排队的计算。"""

    def __init__(self, device):
        self.device = device

    def _synchronize(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def __enter__(self):
        self._synchronize()
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self._synchronize()
        self.seconds = time.perf_counter() - self.started


def train_notes_model(x, y, device, generator):
    # --8<-- [start:notes]
    cnn = CNN().to(device)
    optimizer = torch.optim.Adam(cnn.parameters(), lr=LR)
    for _ in range(EPOCH):  # 每次循环是一个迭代周期
        losses = train_epoch(cnn, x, y, BATCH_SIZE, optimizer, generator)
    # --8<-- [end:notes]
    return cnn, losses


def train_improved_model(x, y, device, generator):
    # --8<-- [start:improved_training]
    model = ImprovedCNN().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=IMPROVED_MAX_LR)
    steps = len(x) // IMPROVED_BATCH_SIZE
    # OneCycle：学习率先升到峰值再降到接近 0，一个迭代周期内既走得快又收得稳；
    # 默认 cycle_momentum=True，同时把 Adam 的 β1 反着在 0.95 和 0.85 之间调
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=IMPROVED_MAX_LR, total_steps=steps)
    losses = train_epoch(model, x, y, IMPROVED_BATCH_SIZE, optimizer, generator, scheduler)
    # --8<-- [end:improved_training]
    return model, losses


# --8<-- [start:bn_stats]
def batch_norm(z, mean, var, bn):
    """BatchNorm 的公式：每个通道减去均值、除以标准差，再乘 weight（γ）、加 bias（β）。"""
    shape = (1, -1, 1, 1)  # 每个通道一个数，沿 N、H、W 广播
    return (z - mean.view(shape)) / torch.sqrt(var.view(shape) + bn.eps) * bn.weight.view(shape) + bn.bias.view(shape)


@torch.no_grad()
def channel_stats(layer, x, batch_size=1000):
    """layer 的输出在整个数据集上每个通道的均值和方差：分小批量累加，不必一次放下全部输出。"""
    total = total_sq = count = 0
    for i in range(0, len(x), batch_size):
        z = layer(x[i : i + batch_size]).double()  # (B, C, H, W)
        total = total + z.sum(dim=(0, 2, 3))  # (C,)
        total_sq = total_sq + (z**2).sum(dim=(0, 2, 3))
        count += z.numel() // z.shape[1]  # 每个通道累加了 B·H·W 个数
    mean = total / count
    return mean, total_sq / count - mean**2


@torch.no_grad()
def accuracy(model, x, y, batch_size):
    """按给定的批量大小依次送入，不改变模型的模式（训练还是评估由调用者决定）。"""
    predictions = torch.cat([model(x[i : i + batch_size]).argmax(dim=1) for i in range(0, len(x), batch_size)])
    return (predictions == y).float().mean().item()
# --8<-- [end:bn_stats]


def smooth(values, window):
    values = torch.tensor(values)
    window = min(window, len(values))
    return F.avg_pool1d(values[None, None], window, stride=1).flatten()


def main(argv=None):
    parser = chapter_kit.chapter_parser(__file__, __doc__)
    chapter_kit.add_data_argument(parser)
    run = chapter_kit.start(parser, argv)
    device = run.device
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # 输入尺寸固定：让 cuDNN 挑最快的卷积算法

    data_root = chapter_kit.data_root(run.args)
    with chapter_kit.mnist_files(data_root):
        # --8<-- [start:load_run]
        train_images, train_labels, test_images, test_labels = load_mnist(data_root)
        # --8<-- [end:load_run]
    if run.quick:
        train_images, train_labels = train_images[:QUICK_TRAIN], train_labels[:QUICK_TRAIN]
        test_images, test_labels = test_images[:QUICK_TEST], test_labels[:QUICK_TEST]

    # --8<-- [start:tensors_run]
    x, y = to_tensors(train_images, train_labels, device, normalize=False)  # 笔记只用 ToTensor，不标准化
    x_test, y_test = to_tensors(test_images, test_labels, device, normalize=False)
    # --8<-- [end:tensors_run]
    # 两个网络各用一个以 --seed 为种子的生成器打乱顺序；笔记的网络的初始权重来自 chapter_kit.start 设好的全局种子
    with Stopwatch(device) as notes_clock:
        cnn, notes_losses = train_notes_model(x, y, device, torch.Generator().manual_seed(run.seed))
    notes_time = notes_clock.seconds
    # --8<-- [start:notes_eval]
    notes_pred = predict(cnn, x_test)  # (测试图片数,)：每张图预测的数字
    print(f"笔记的网络：测试准确率 {(notes_pred == y_test).float().mean():.2%}")
    # --8<-- [end:notes_eval]

    # --8<-- [start:improved_data]
    x, y = to_tensors(train_images, train_labels, device, normalize=True)
    x_test_norm, _ = to_tensors(test_images, test_labels, device, normalize=True)
    # --8<-- [end:improved_data]
    torch.manual_seed(run.seed)
    with Stopwatch(device) as improved_clock:
        model, improved_losses = train_improved_model(x, y, device, torch.Generator().manual_seed(run.seed))
    improved_time = improved_clock.seconds
    # --8<-- [start:improved_eval]
    improved_pred = predict(model, x_test_norm)
    print(f"改进后的网络：测试准确率 {(improved_pred == y_test).float().mean():.2%}")
    # --8<-- [end:improved_eval]

    # --8<-- [start:bn_modes]
    bn = nn.BatchNorm2d(16).to(device)
    bn.load_state_dict(model.conv1[1].state_dict())  # 第一个 BatchNorm2d 的一份拷贝：训练模式会改动它的统计量
    batch = x_test_norm[:IMPROVED_BATCH_SIZE]  # (32, 1, 28, 28)：一个小批量
    with torch.no_grad():
        z = model.conv1[0](batch)  # (32, 16, 28, 28)：进入 BatchNorm 的值
        by_running = batch_norm(z, bn.running_mean, bn.running_var, bn)  # 用训练时积累的统计量
        by_batch = batch_norm(z, z.mean(dim=(0, 2, 3)), z.var(dim=(0, 2, 3), correction=0), bn)  # 用这个小批量的
        bn.eval()
        in_eval = bn(z)
        bn.train()
        in_train = bn(z)
    print("评估模式与 running 统计量的公式相差", (in_eval - by_running).abs().max().item())
    print("训练模式与小批量统计量的公式相差", (in_train - by_batch).abs().max().item())
    print("同一个小批量，两种模式的输出相差", (in_train - in_eval).abs().max().item())
    # --8<-- [end:bn_modes]

    # --8<-- [start:bn_running]
    data_mean, data_var = channel_stats(model.conv1[0], x)  # 第一个卷积在整个训练集上的输出：每个通道的均值、方差
    running = model.conv1[1]
    for c in range(4):  # 前 4 个通道
        print(f"通道 {c}：running_mean {running.running_mean[c]:.4f}，训练集上的均值 {data_mean[c]:.4f}；"
              f"running_var {running.running_var[c]:.4f}，训练集上的方差 {data_var[c]:.4f}")
    # --8<-- [end:bn_running]

    # --8<-- [start:bn_forget]
    forgot = ImprovedCNN().to(device)
    forgot.load_state_dict(model.state_dict())  # 一份拷贝：训练模式的前向传播会改动 running 统计量
    forgot.train()  # 评估前忘了调用 .eval()
    model.eval()  # 正确的做法
    correct = accuracy(model, x_test_norm, y_test, IMPROVED_BATCH_SIZE)
    mixed = accuracy(forgot, x_test_norm, y_test, IMPROVED_BATCH_SIZE)  # 测试集原来的顺序：小批量里各种数字都有
    single = accuracy(forgot, x_test_norm, y_test, 1)  # 一次只送一张图
    digits = y_test.unique().tolist()
    one_digit = [accuracy(forgot, x_test_norm[y_test == d], y_test[y_test == d], IMPROVED_BATCH_SIZE)
                 for d in digits]  # 每个小批量里只有一个数字
    print(f"评估模式 {correct:.2%}；忘了 .eval()：数字混在一起 {mixed:.2%}，批量大小为 1 {single:.2%}")
    print("忘了 .eval()，每个小批量只有一个数字：", [f"{a:.1%}" for a in one_digit])
    # --8<-- [end:bn_forget]

    # 图 1：训练曲线。两条都是普通交叉熵，按已训练的图片数对齐，滑动窗口也按图片数算
    fig, ax = plt.subplots(figsize=(7, 4))
    curves = ((notes_losses, "笔记的网络", BATCH_SIZE), (improved_losses, "改进后的网络", IMPROVED_BATCH_SIZE))
    final_losses = []
    for losses, label, size in curves:
        window = max(1, CURVE_WINDOW // size)
        seen = torch.arange(1, len(losses) + 1) * size
        smoothed = smooth(losses, window)
        ax.plot(seen[len(seen) - len(smoothed) :], smoothed, label=label)
        final_losses.append(sum(losses[-window:]) / len(losses[-window:]))  # 最后约 CURVE_WINDOW 张图
    notes_final_loss, improved_final_loss = final_losses
    ax.set_yscale("log")
    ax.set_xlabel("已训练的图片数")
    ax.set_ylabel(f"训练集交叉熵（{CURVE_WINDOW} 张图的滑动平均）")
    ax.legend()
    ax.set_title("1 个迭代周期的训练曲线")
    run.save_figure(fig, "training_curve")

    # 图 2：测试集上的预测。前一半是预测错的（红色），后一半是预测对的，都按测试集里的顺序
    rows, cols = GRID
    wrong = (notes_pred != y_test).nonzero().flatten().tolist()
    right = (notes_pred == y_test).nonzero().flatten().tolist()
    shown_wrong = wrong[: rows * cols // 2]
    shown = (shown_wrong + right)[: rows * cols]
    fig, axes = plt.subplots(rows, cols, figsize=(7, rows * 1.35))
    for ax, i in zip(axes.flat, shown, strict=True):
        ax.imshow(test_images[i].numpy(), cmap="gray_r")
        mistaken = notes_pred[i] != y_test[i]
        title = f"{notes_pred[i].item()}（应为 {y_test[i].item()}）" if mistaken else str(notes_pred[i].item())
        ax.set_title(title, fontsize=10, color="tab:red" if mistaken else "black")
        if mistaken:
            for spine in ax.spines.values():
                spine.set(color="tab:red", linewidth=2)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("笔记的网络在测试集上的预测（红色：预测错误）")
    fig.tight_layout()
    run.save_figure(fig, "predictions")

    # 图 3：第一层的 16 个卷积核；图 4：一个数字经过第一层后的 16 张特征图
    kernels = cnn.conv1[0].weight.detach().cpu()[:, 0]  # (16, 5, 5)
    fig, axes = plt.subplots(2, 8, figsize=(7, 2.4))
    for k, ax in enumerate(axes.flat):
        ax.imshow(kernels[k].numpy(), cmap="RdBu_r", vmin=-kernels.abs().max(), vmax=kernels.abs().max())
        ax.set_title(str(k), fontsize=10)
        ax.set_axis_off()
    fig.suptitle("笔记的网络第一层学到的 16 个 5×5 卷积核（红正蓝负）")
    fig.tight_layout()
    run.save_figure(fig, "kernels")

    digit = right[0]
    with torch.no_grad():
        maps = cnn.conv1[1](cnn.conv1[0](x_test[digit : digit + 1]))[0].cpu()  # (16, 28, 28)：卷积 + ReLU
    fig, axes = plt.subplots(2, 9, figsize=(7, 2.3))
    axes[0, 0].imshow(test_images[digit].numpy(), cmap="gray_r")
    axes[0, 0].set_title("输入", fontsize=10)
    for k, ax in enumerate(list(axes[0, 1:]) + list(axes[1, 1:])):
        ax.imshow(maps[k].numpy(), cmap="viridis")
        ax.set_title(str(k), fontsize=10)
    for ax in axes.flat:
        ax.set_axis_off()
    fig.suptitle(f"一个“{y_test[digit].item()}”经过第一层卷积和 ReLU 后的 16 张特征图")
    fig.tight_layout()
    run.save_figure(fig, "feature_maps")

    # 图 5：忘了 .eval()、每个小批量只有一个数字时，各个数字的准确率
    counts = [int((y_test == d).sum()) for d in digits]
    eval_digit = [accuracy(model, x_test_norm[y_test == d], y_test[y_test == d], IMPROVED_BATCH_SIZE) for d in digits]
    fig, ax = plt.subplots(figsize=(7, 3.4))
    positions = torch.arange(len(digits)).float()
    ax.bar(positions - 0.2, [100 * a for a in eval_digit], 0.4, label="评估模式（调用了 .eval()）")
    ax.bar(positions + 0.2, [100 * a for a in one_digit], 0.4, label="训练模式，小批量里只有这一个数字")
    ax.set_xticks(positions.tolist(), [str(d) for d in digits])
    ax.set_ylim(max(0, 100 * min(one_digit) - 15), 100)
    ax.set_xlabel("数字")
    ax.set_ylabel("测试准确率（%）")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)  # 放在图下方，不挡住柱子
    ax.set_title("改进后的网络：评估前忘了 .eval()")
    run.save_figure(fig, "forgot_eval")

    images = len(x)
    notes_errors = len(wrong)
    improved_errors = int((improved_pred != y_test).sum())
    run.record(
        train_images=images,
        test_images=len(x_test),
        train_uint8_mb=train_images.numel() * train_images.element_size() / 1e6,
        train_float32_mb=x.numel() * x.element_size() / 1e6,  # 60000×1×28×28×4 字节
        notes_accuracy=(notes_pred == y_test).float().mean().item(),
        improved_accuracy=(improved_pred == y_test).float().mean().item(),
        notes_errors=notes_errors,
        improved_errors=improved_errors,
        shown_wrong=len(shown_wrong),
        shown_right=len(shown) - len(shown_wrong),
        notes_parameters=sum(p.numel() for p in cnn.parameters()),
        improved_parameters=sum(p.numel() for p in model.parameters()),
        notes_time=notes_time,
        improved_time=improved_time,
        notes_images_per_second=images / notes_time,
        improved_images_per_second=images / improved_time,
        notes_steps=len(notes_losses),
        improved_steps=len(improved_losses),
        notes_final_loss=notes_final_loss,
        improved_final_loss=improved_final_loss,
        curve_window=CURVE_WINDOW,
        error_ratio=notes_errors / max(1, improved_errors),
        time_ratio=improved_time / notes_time,
        batch_size=BATCH_SIZE,
        improved_batch_size=IMPROVED_BATCH_SIZE,
        max_lr=IMPROVED_MAX_LR,
        error_ratio_max=ERROR_RATIO_MAX,
    )

    # 批量规范化：两种模式、running 统计量、忘了 .eval() 的后果
    bn_layer = model.conv1[1]
    mean_deviation = ((bn_layer.running_mean.double() - data_mean).abs() / data_var.sqrt()).max().item()
    var_deviation = (bn_layer.running_var.double() / data_var - 1).abs().max().item()
    eval_formula, train_formula = (in_eval - by_running).abs().max().item(), (in_train - by_batch).abs().max().item()
    mode_gap = (in_train - in_eval).abs().max().item()
    n_test = len(y_test)
    errors = {
        "评估模式": round((1 - correct) * n_test),
        "mixed": round((1 - mixed) * n_test),
        "single": round((1 - single) * n_test),
        "one_digit": sum(round((1 - a) * n) for a, n in zip(one_digit, counts, strict=True)),
    }
    worst = min(range(len(digits)), key=lambda i: one_digit[i])
    run.record(
        bn_eval_formula=eval_formula,
        bn_train_formula=train_formula,
        bn_mode_gap=mode_gap,
        running_stats=[
            {"通道": c, "running_mean": f"{bn_layer.running_mean[c].item():.4f}",
             "训练集上的均值": f"{data_mean[c].item():.4f}", "running_var": f"{bn_layer.running_var[c].item():.4f}",
             "训练集上的方差": f"{data_var[c].item():.4f}"}
            for c in range(4)
        ],
        running_mean_deviation=mean_deviation,
        running_var_deviation=var_deviation,
        forgot_table=[
            {"模式": "评估模式（`model.eval()`）", "小批量": f"测试集原来的顺序，每个 {IMPROVED_BATCH_SIZE} 张",
             "测试准确率": f"{correct:.2%}", "错误数": errors["评估模式"]},
            {"模式": "训练模式（忘了 `.eval()`）", "小批量": f"测试集原来的顺序，每个 {IMPROVED_BATCH_SIZE} 张",
             "测试准确率": f"{mixed:.2%}", "错误数": errors["mixed"]},
            {"模式": "训练模式（忘了 `.eval()`）", "小批量": f"按数字分开，每个至多 {IMPROVED_BATCH_SIZE} 张，只有一个数字",
             "测试准确率": f"{1 - errors['one_digit'] / n_test:.2%}", "错误数": errors["one_digit"]},
            {"模式": "训练模式（忘了 `.eval()`）", "小批量": "每个只有 1 张",
             "测试准确率": f"{single:.2%}", "错误数": errors["single"]},
        ],
        eval_errors=errors["评估模式"],
        mixed_errors=errors["mixed"],
        single_errors=errors["single"],
        one_digit_errors=errors["one_digit"],
        single_error_ratio=errors["single"] / max(1, errors["评估模式"]),
        one_digit_error_ratio=errors["one_digit"] / max(1, errors["评估模式"]),
        worst_digit=digits[worst],
        worst_digit_eval=eval_digit[worst],
        worst_digit_forgot=one_digit[worst],
        forgot_error_ratio=FORGOT_ERROR_RATIO,
        mixed_tolerance_points=100 * MIXED_TOLERANCE,
    )
    run.claim(
        "bn_modes_use_which_statistics",
        eval_formula < 1e-4 and train_formula < 1e-4 and mode_gap > 0.05,
        f"同一个小批量进第一个 BatchNorm2d：评估模式与“running 统计量代入公式”相差 {eval_formula:.1e}，训练模式与"
        f"“小批量统计量代入公式”相差 {train_formula:.1e}（都 < 1e-4）；两种模式的输出最多相差 {mode_gap:.3f} > 0.05",
    )
    run.claim(
        "running_stats_match_data",
        mean_deviation < RUNNING_MEAN_TOLERANCE and var_deviation < RUNNING_VAR_TOLERANCE,
        f"16 个通道中，|running_mean − 训练集均值| / 训练集标准差 最大 {mean_deviation:.4f} < {RUNNING_MEAN_TOLERANCE}；"
        f"|running_var / 训练集方差 − 1| 最大 {var_deviation:.4f} < {RUNNING_VAR_TOLERANCE}",
    )
    run.claim(
        "forgot_eval_mixed_unnoticed",
        abs(mixed - correct) <= MIXED_TOLERANCE,
        f"训练模式、数字混在一起的小批量 {mixed:.2%}，评估模式 {correct:.2%}：相差不超过 {100 * MIXED_TOLERANCE} 个百分点",
    )
    run.claim(
        "forgot_eval_one_digit_worse",
        errors["one_digit"] >= FORGOT_ERROR_RATIO * errors["评估模式"],
        f"训练模式、每个小批量只有一个数字：错误数 {errors['one_digit']} ≥ {FORGOT_ERROR_RATIO} × 评估模式的 "
        f"{errors['评估模式']}",
    )
    run.claim(
        "forgot_eval_single_worse",
        errors["single"] >= FORGOT_ERROR_RATIO * errors["评估模式"],
        f"训练模式、批量大小为 1：错误数 {errors['single']} ≥ {FORGOT_ERROR_RATIO} × 评估模式的 {errors['评估模式']}",
    )
    run.claim(
        "improved_fewer_errors",
        improved_errors <= ERROR_RATIO_MAX * notes_errors,
        f"测试集错误数：改进后 {improved_errors} ≤ {ERROR_RATIO_MAX} × 笔记的网络 {notes_errors}",
    )
    run.claim(
        "improved_lower_loss",
        improved_final_loss <= LOSS_RATIO_MAX * notes_final_loss,
        f"最后 {CURVE_WINDOW} 张训练图上的交叉熵：改进后 {improved_final_loss:.4f} ≤ "
        f"{LOSS_RATIO_MAX} × 笔记的网络 {notes_final_loss:.4f}",
    )
    run.finish()


if __name__ == "__main__":
    main()
