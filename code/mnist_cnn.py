"""MNIST 上的卷积神经网络：笔记的网络训练 1 个 epoch，再看一个细心的工程师会怎样改进它。"""

import time

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn
from torchvision import datasets

import chapter_kit
from convolution import CNN

# 构建时的缓存要知道本章读了哪些数据文件（相对数据根目录）
DATA_FILES = (
    "MNIST/raw/train-images-idx3-ubyte.gz",
    "MNIST/raw/train-labels-idx1-ubyte.gz",
    "MNIST/raw/t10k-images-idx3-ubyte.gz",
    "MNIST/raw/t10k-labels-idx1-ubyte.gz",
)

# 超参数（与笔记相同）
EPOCH = 1
BATCH_SIZE = 50
LR = 0.001
# 改进后的网络
IMPROVED_BATCH_SIZE = 32
IMPROVED_MAX_LR = 5e-3  # OneCycle 学习率调度的峰值
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081  # 训练集像素的均值和标准差
# 快速模式只用一部分数据
QUICK_TRAIN, QUICK_TEST = 6000, 2000
GRID = (4, 6)  # 预测结果图：4 行 6 列，前一半是预测错的
CURVE_WINDOW = 3200  # 训练曲线的滑动平均窗口：按图片数算，两个网络的批大小不同也可比
# 结论的阈值
ERROR_RATIO_MAX = 0.65  # 改进后的错误数至多是笔记网络的 0.65 倍：“明显更少”，而不只是随机波动
LOSS_RATIO_MAX = 0.75  # 最后 CURVE_WINDOW 张图上的训练损失也至多是 3/4


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
    uint8 占 47 MB，变成 float32 后是 4 倍；整个放进内存（或显存）后，每一批只是一次下标索引。
    """
    x = images.to(device, non_blocking=True).unsqueeze(1).float().div(255)  # ToTensor 同样缩放到 [0, 1]
    if normalize:
        x = (x - MNIST_MEAN) / MNIST_STD  # 均值 0、标准差 1
    return x, labels.to(device, non_blocking=True)
# --8<-- [end:tensors]


# --8<-- [start:train]
def train_epoch(model, x, y, batch_size, optimizer, generator, scheduler=None, label_smoothing=0.0,
                max_norm=None, every=None, callback=None):
    """训练一个 epoch；每个 epoch 重新打乱顺序（CPU 和 GPU 上都一样）。返回每一步的损失。

    max_norm 给定时做梯度裁剪；每 every 步调用一次 callback(步数)，例如在测试集上评估。
    """
    model.train()
    order = torch.randperm(len(x), generator=generator).to(x.device)
    losses = []
    for step, start in enumerate(
        chapter_kit.progress(range(0, len(x) - batch_size + 1, batch_size), desc=type(model).__name__), 1
    ):
        index = order[start : start + batch_size]
        output = model(x[index])  # (50, 10)
        target = y[index]
        loss = F.cross_entropy(output, target, label_smoothing=label_smoothing)
        optimizer.zero_grad()
        loss.backward()
        if max_norm is not None:
            nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        # 记下的总是普通交叉熵：用了标签平滑时，优化的损失有一个远高于 0 的下限，和别的网络不可比
        plain = loss if label_smoothing == 0 else F.cross_entropy(output, target)
        losses.append(plain.detach())  # 不在每一步调用 .item()：那会让 GPU 等 CPU
        if callback is not None and step % every == 0:
            callback(step)
            model.train()
    return torch.stack(losses).cpu().tolist()


@torch.no_grad()
def predict(model, x, batch_size):
    model.eval()
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
    for _ in range(EPOCH):
        losses = train_epoch(cnn, x, y, BATCH_SIZE, optimizer, generator)
    # --8<-- [end:notes]
    return cnn, losses


def train_improved_model(x, y, device, generator):
    # --8<-- [start:improved_training]
    model = ImprovedCNN().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=IMPROVED_MAX_LR)
    steps = len(x) // IMPROVED_BATCH_SIZE
    # OneCycle：学习率先升到峰值再降到接近 0，一个 epoch 内既走得快又收得稳；
    # 默认 cycle_momentum=True，同时把 Adam 的 β1 反着在 0.95 和 0.85 之间调
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=IMPROVED_MAX_LR, total_steps=steps)
    losses = train_epoch(model, x, y, IMPROVED_BATCH_SIZE, optimizer, generator, scheduler)
    # --8<-- [end:improved_training]
    return model, losses


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

    with chapter_kit.mnist_files(chapter_kit.data_root(run.args)):
        train_images, train_labels, test_images, test_labels = load_mnist(chapter_kit.data_root(run.args))
    if run.quick:
        train_images, train_labels = train_images[:QUICK_TRAIN], train_labels[:QUICK_TRAIN]
        test_images, test_labels = test_images[:QUICK_TEST], test_labels[:QUICK_TEST]
    eval_batch = 10000 if device.type == "cuda" else 1000

    x, y = to_tensors(train_images, train_labels, device, normalize=False)  # 笔记：只用 ToTensor
    x_test, y_test = to_tensors(test_images, test_labels, device, normalize=False)
    with Stopwatch(device) as notes_clock:
        cnn, notes_losses = train_notes_model(x, y, device, torch.Generator().manual_seed(run.seed))
    notes_time = notes_clock.seconds
    notes_pred = predict(cnn, x_test, eval_batch)

    x, y = to_tensors(train_images, train_labels, device, normalize=True)
    x_norm_test, _ = to_tensors(test_images, test_labels, device, normalize=True)
    torch.manual_seed(run.seed)
    with Stopwatch(device) as improved_clock:
        model, improved_losses = train_improved_model(x, y, device, torch.Generator().manual_seed(run.seed))
    improved_time = improved_clock.seconds
    improved_pred = predict(model, x_norm_test, eval_batch)

    def accuracy(prediction):
        return (prediction == y_test).float().mean().item()

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
    ax.set_title("1 个 epoch 的训练曲线")
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

    images = len(x)
    notes_errors = len(wrong)
    improved_errors = int((improved_pred != y_test).sum())
    run.record(
        train_images=images,
        test_images=len(x_test),
        train_uint8_mb=train_images.numel() * train_images.element_size() / 1e6,
        train_float32_mb=x.numel() * x.element_size() / 1e6,  # 60000×1×28×28×4 字节
        notes_accuracy=accuracy(notes_pred),
        improved_accuracy=accuracy(improved_pred),
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
