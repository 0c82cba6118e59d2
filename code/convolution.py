"""卷积：用 nn.Conv2d 验证输出尺寸公式，看 Conv1d/2d/3d 的输入输出形状、卷积核对图像做了什么，并搭好笔记的 CNN。"""

import itertools
import math

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

import chapter_kit

KERNELS = (1, 2, 3, 4, 5, 7)
STRIDES = (1, 2, 3)
PADDINGS = (0, 1, 2, 3)
DILATIONS = (1, 2)
INPUT_SIZES = (7, 28, 33)
# 页面上展示的几组 (kernel, stride, padding, dilation)，输入边长 28
SHOWN = ((3, 1, 1, 1), (5, 1, 2, 1), (5, 1, 0, 1), (2, 2, 0, 1), (3, 2, 1, 1), (7, 3, 2, 1), (3, 1, 1, 2), (5, 2, 3, 2))
IMAGE_SIZE = 64
CIRCLE = (20, 22, 12)  # 测试图里亮圆的圆心 (x, y) 和半径
SECTOR_DEG = 30  # 比较圆周上“左右两侧”和“上下两侧”：离水平、竖直方向各 30° 以内的扇区


# --8<-- [start:formula]
def conv_output_size(size, kernel_size, stride=1, padding=0, dilation=1):
    """卷积（和 ceil_mode=False 的池化）输出的边长：⌊(size + 2·padding − dilation·(kernel_size − 1) − 1) / stride⌋ + 1。"""
    return math.floor((size + 2 * padding - dilation * (kernel_size - 1) - 1) / stride) + 1
# --8<-- [end:formula]


# --8<-- [start:check]
def check_formula(device):
    """在一组 kernel/stride/padding/dilation 组合上，用真正的 nn.Conv2d 核对公式。"""
    rows = []
    for size, k, s, p, d in itertools.product(INPUT_SIZES, KERNELS, STRIDES, PADDINGS, DILATIONS):
        if conv_output_size(size, k, s, p, d) < 1:
            continue  # 卷积核（膨胀后）比补零后的输入还大：没有输出
        conv = nn.Conv2d(1, 1, k, stride=s, padding=p, dilation=d).to(device)
        actual = conv(torch.zeros(1, 1, size, size, device=device)).shape[-1]
        rows.append((size, k, s, p, d, conv_output_size(size, k, s, p, d), actual))
    return rows
# --8<-- [end:check]


# --8<-- [start:same]
def same_padding(kernel_size):
    """stride = 1 时让输出与输入同样大小的 padding；只对奇数的 kernel_size 成立。"""
    return (kernel_size - 1) // 2  # 必须是整数：笔记写的 (kernel_size-1)/2 在 Python 3 里是浮点数
# --8<-- [end:same]


# --8<-- [start:dims]
def conv_shapes(device):
    """三种卷积的输入、卷积核权重与输出形状（in_channels=3，out_channels=16，kernel_size=3）。"""
    cases = [
        ("nn.Conv1d", nn.Conv1d(3, 16, 3), (8, 3, 100)),  # (N, C, L)：例如 3 个通道的信号，长 100
        ("nn.Conv2d", nn.Conv2d(3, 16, 3), (8, 3, 32, 32)),  # (N, C, H, W)：RGB 图像
        ("nn.Conv3d", nn.Conv3d(3, 16, 3), (8, 3, 10, 32, 32)),  # (N, C, D, H, W)：视频或 CT 体数据
    ]
    rows = []
    for name, layer, shape in cases:
        output = layer.to(device)(torch.zeros(shape, device=device))
        rows.append({"层": f"`{name}`", "输入形状": str(shape),
                     "权重形状": str(tuple(layer.weight.shape)), "输出形状": str(tuple(output.shape))})
    return rows
# --8<-- [end:dims]


# --8<-- [start:cnn]
class CNN(nn.Module):
    """笔记“构建网络”一节的网络（莫烦教程 401）：两组 卷积 → ReLU → 最大池化，再接一个全连接层。"""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Sequential(
            nn.Conv2d(1, 16, kernel_size=5, stride=1, padding=2),  # padding = (5-1)//2：卷积不改变长宽
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=2),  # 池化把长宽减半
        )
        self.conv2 = nn.Sequential(
            nn.Conv2d(16, 32, 5, 1, 2),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.out = nn.Linear(32 * 7 * 7, 10)  # 10 个类别

    def forward(self, x):  # (N, 1, 28, 28)
        x = self.conv1(x)  # (N, 16, 14, 14)
        x = self.conv2(x)  # (N, 32, 7, 7)
        x = x.flatten(1)  # (N, 32 * 7 * 7)
        return self.out(x)  # (N, 10)：每个类别的 logit
# --8<-- [end:cnn]


def layer_shapes(model, x):
    rows = [{"层": "输入", "输出形状": str(tuple(x.shape))}]
    for name, block in model.named_children():
        x = block(x.flatten(1) if isinstance(block, nn.Linear) else x)
        rows.append({"层": f"`{name}`", "输出形状": str(tuple(x.shape))})
    return rows


def test_image(size, device):
    """一张合成的灰度图：亮的圆、斜放的方块和一道渐变，边缘方向各不相同。"""
    ys, xs = torch.meshgrid(torch.arange(size, device=device), torch.arange(size, device=device), indexing="ij")
    image = 0.25 * xs / size
    cx, cy, radius = CIRCLE
    image = torch.where((xs - cx) ** 2 + (ys - cy) ** 2 < radius**2, 1.0, image)
    diamond = (xs - 44).abs() + (ys - 42).abs()  # 旋转 45° 的正方形
    image = torch.where(diamond < 14, 0.7, image)
    return image.float()[None, None]  # (1, 1, 64, 64)


# --8<-- [start:kernels]
FILTERS = {
    "原图（恒等核）": [[0, 0, 0], [0, 1, 0], [0, 0, 0]],
    "均值模糊": [[1 / 9] * 3] * 3,
    "Sobel：竖直边缘": [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
    "Sobel：水平边缘": [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],
    "拉普拉斯：所有边缘": [[0, 1, 0], [1, -4, 1], [0, 1, 0]],
    "锐化": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
}


def apply_filters(image):
    weight = torch.tensor(list(FILTERS.values()), device=image.device).unsqueeze(1)  # (6, 1, 3, 3)
    return F.conv2d(image, weight, padding=1)  # (1, 6, 64, 64)：一个卷积层，6 个手工设定的卷积核
# --8<-- [end:kernels]


def side_ratio(response):
    """圆周附近，左右两侧的响应（绝对值之和）是上下两侧的几倍。"""
    size = response.shape[-1]
    ys, xs = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    cx, cy, radius = CIRCLE
    dx, dy = (xs - cx).float(), (ys - cy).float()
    ring = ((dx**2 + dy**2).sqrt() - radius).abs() <= 3  # 圆的边缘附近
    slope = math.tan(math.radians(SECTOR_DEG))
    sides = ring & (dy.abs() < slope * dx.abs())  # 左右两侧
    poles = ring & (dx.abs() < slope * dy.abs())  # 上下两侧
    magnitude = response.abs().cpu()
    return (magnitude[sides].sum() / magnitude[poles].sum()).item()


def main(argv=None):
    parser = chapter_kit.chapter_parser(__file__, __doc__)
    run = chapter_kit.start(parser, argv)
    device = run.device

    checks = check_formula(device)
    mismatches = [row for row in checks if row[-2] != row[-1]]
    sample = [row for shown in SHOWN for row in checks if row[:5] == (28, *shown)]

    same = []
    for k in (1, 3, 5, 7, 2, 4):
        conv = nn.Conv2d(1, 1, k, padding=same_padding(k)).to(device)
        output = conv(torch.zeros(1, 1, 28, 28, device=device)).shape[-1]
        same.append({"kernel_size": k, "padding": same_padding(k), "输入边长": 28, "输出边长": output})

    # --8<-- [start:conv1d]
    signal = torch.tensor([[[0.0, 0, 1, 1, 1, 1, 0, 0]]], device=device)  # (N=1, C=1, L=8)
    difference = torch.tensor([[[-1.0, 1.0]]], device=device)  # (out=1, in=1, k=2)：后一个减前一个（互相关，核不翻转）
    edges = F.conv1d(signal, difference)  # (1, 1, 7)：沿最后一维（长度 L）滑动
    # --8<-- [end:conv1d]

    cnn = CNN().to(device)
    image = test_image(IMAGE_SIZE, device)
    filtered = apply_filters(image)

    fig, axes = plt.subplots(2, 3, figsize=(7, 5.2))  # 宽 7 英寸：页面上的字不小于 9 pt
    for ax, title, picture in zip(axes.flat, FILTERS, filtered[0], strict=True):
        ax.imshow(picture.cpu().numpy(), cmap="gray")
        ax.set_title(title, fontsize=10)
        ax.set_axis_off()
    fig.suptitle("同一张图经过不同的 3×3 卷积核", fontsize=11)
    fig.tight_layout(h_pad=1.5)
    run.save_figure(fig, "kernels")

    names = list(FILTERS)
    ratios = {name: side_ratio(filtered[0, i]) for i, name in enumerate(names)}
    vertical, horizontal, laplacian = ratios["Sobel：竖直边缘"], ratios["Sobel：水平边缘"], ratios["拉普拉斯：所有边缘"]
    cnn_rows = layer_shapes(cnn, torch.zeros(1, 1, 28, 28, device=device))
    cnn_out = [row["输出形状"] for row in cnn_rows]
    same_ok = all(row["输出边长"] == (28 if row["kernel_size"] % 2 == 1 else 27) for row in same)
    steps = (signal[0, 0, 1:] - signal[0, 0, :-1]).tolist()  # 后一个减前一个：上升 +1，下降 −1
    marked = {i: value for i, value in enumerate(edges[0, 0].tolist()) if value != 0}

    run.record(
        combinations=len(checks),
        mismatches=len(mismatches),
        formula_samples=[
            dict(zip(("输入", "kernel", "stride", "padding", "dilation", "公式", "nn.Conv2d"), row, strict=True))
            for row in sample
        ],
        same_padding=same,
        conv_shapes=conv_shapes(device),
        signal=signal[0, 0],
        edges=edges[0, 0],
        cnn_structure=str(cnn),
        cnn_shapes=cnn_rows,
        cnn_parameters=sum(p.numel() for p in cnn.parameters()),
        vertical_side_ratio=vertical,
        horizontal_pole_ratio=1 / horizontal,
        laplacian_side_ratio=laplacian,
        sector_deg=SECTOR_DEG,
    )
    run.claim(
        "formula_matches_conv2d",
        len(checks) > 300 and not mismatches,
        f"{len(checks)} 种组合中公式与 nn.Conv2d 不一致的有 {len(mismatches)} 种",
    )
    run.claim(
        "odd_kernels_keep_size",
        same_ok,
        "padding=(k−1)//2 时输出边长：" + "，".join(f"k={row['kernel_size']}→{row['输出边长']}" for row in same)
        + "（奇数 k 保持 28，偶数 k 少 1）",
    )
    run.claim(
        "edges_mark_changes",
        edges[0, 0].tolist() == steps and list(marked.values()) == [1.0, -1.0],
        f"卷积结果中非零的是 {marked}（位置: 值），与信号相邻两点之差 {steps} 逐项相等",
    )
    run.claim(
        "sobel_sees_one_direction",
        vertical > 3 and 1 / horizontal > 3,
        f"圆周上，竖直边缘核在左右两侧的响应是上下两侧的 {vertical:.1f} 倍，水平边缘核在上下两侧的响应是左右两侧的"
        f" {1 / horizontal:.1f} 倍，都 > 3",
    )
    run.claim(
        "laplacian_all_directions",
        0.8 < laplacian < 1.25,
        f"圆周上，拉普拉斯核左右两侧与上下两侧的响应之比 {laplacian:.2f} 在 0.8 与 1.25 之间",
    )
    run.claim(
        "cnn_keeps_then_halves",
        cnn_out[1:3] == ["(1, 16, 14, 14)", "(1, 32, 7, 7)"],
        f"conv1、conv2 两组之后的形状 {cnn_out[1]}、{cnn_out[2]}：卷积保持 28×28 和 14×14，池化减半",
    )
    run.finish()


if __name__ == "__main__":
    main()
