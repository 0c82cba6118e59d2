"""卷积：核对输出尺寸公式，看 Conv1d/2d/3d 的形状、互相关与真正的卷积、groups 与 bias、卷积核对图像做了什么，并搭好笔记的 CNN。"""

# --8<-- [start:imports]
import itertools
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
# --8<-- [end:imports]

import chapter_kit

# --8<-- [start:hyperparameters]
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
# 核对公式用的各种设置：输入边长、卷积核大小、步幅、填充、膨胀
INPUT_SIZES = (7, 28, 33)
KERNELS = (1, 2, 3, 4, 5, 7)
STRIDES = (1, 2, 3)
PADDINGS = (0, 1, 2, 3)
DILATIONS = (1, 2)
IMAGE_SIZE = 64  # 合成测试图的边长
CIRCLE = (20, 22, 12)  # 测试图里亮圆的圆心 (x, y) 和半径
# --8<-- [end:hyperparameters]

# 以下只供构建（页面不展示）：表中列出的几组 (kernel, stride, padding, dilation)，输入边长 28
SHOWN = ((3, 1, 1, 1), (5, 1, 2, 1), (5, 1, 0, 1), (2, 2, 0, 1), (3, 2, 1, 1), (7, 3, 2, 1), (3, 1, 1, 2), (5, 2, 3, 2))
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
            continue  # 卷积核（膨胀后）比填充后的输入还大：没有输出
        conv = nn.Conv2d(1, 1, k, stride=s, padding=p, dilation=d).to(device)
        actual = conv(torch.zeros(1, 1, size, size, device=device)).shape[-1]
        rows.append((size, k, s, p, d, conv_output_size(size, k, s, p, d), actual))
    return rows
# --8<-- [end:check]


# --8<-- [start:same]
def same_padding(kernel_size):
    """步幅为 1 时让输出与输入同样大小的填充；只对奇数的 kernel_size 成立。"""
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


# --8<-- [start:groups]
def parameter_count(layer):
    return sum(p.numel() for p in layer.parameters())


@torch.no_grad()
def channels_seen(conv, size=6):
    """seen[o, c] = 1 表示：只改动第 c 个输入通道，第 o 个输出通道就跟着变。"""
    x = torch.randn(1, conv.in_channels, size, size, device=conv.weight.device)
    base = conv(x)  # (1, out_channels, size, size)
    seen = torch.zeros(conv.out_channels, conv.in_channels)
    for c in range(conv.in_channels):
        changed = x.clone()
        changed[:, c] += torch.randn_like(changed[:, c])  # 只给第 c 个输入通道加上噪声
        difference = (conv(changed) - base).abs().amax(dim=(0, 2, 3))  # (out_channels,)：每个输出通道变了多少
        seen[:, c] = (difference > 1e-4).float().cpu()  # 没变的输出通道差值为 0（GPU 上至多有舍入误差）
    return seen
# --8<-- [end:groups]


# --8<-- [start:kernels]
def test_image(size, device):
    """一张合成的灰度图：亮的圆、斜放的方块和一道渐变，边缘方向各不相同。"""
    ys, xs = torch.meshgrid(torch.arange(size, device=device), torch.arange(size, device=device), indexing="ij")
    image = 0.25 * xs / size  # 从左到右逐渐变亮的背景
    cx, cy, radius = CIRCLE
    image = torch.where((xs - cx) ** 2 + (ys - cy) ** 2 < radius**2, 1.0, image)
    diamond = (xs - 44).abs() + (ys - 42).abs()  # 旋转 45° 的正方形
    image = torch.where(diamond < 14, 0.7, image)
    return image.float()[None, None]  # (1, 1, 64, 64)


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


def expected_blocks(out_channels, in_channels, groups):
    """分组卷积应有的连接：第 o 个输出通道只看与它同组的输入通道。"""
    o = torch.arange(out_channels)[:, None] // (out_channels // groups)
    c = torch.arange(in_channels)[None, :] // (in_channels // groups)
    return (o == c).float()


def main(argv=None):
    parser = chapter_kit.chapter_parser(__file__, __doc__)
    run = chapter_kit.start(parser, argv)
    device = run.device

    # --8<-- [start:check_run]
    checks = check_formula(device)
    mismatches = [row for row in checks if row[-2] != row[-1]]  # 每行最后两项：公式算的、nn.Conv2d 实际的
    print(f"{len(checks)} 种组合，公式与 nn.Conv2d 不一致的有 {len(mismatches)} 种")
    # --8<-- [end:check_run]
    sample = [row for shown in SHOWN for row in checks if row[:5] == (28, *shown)]

    # --8<-- [start:same_run]
    same = []
    for k in (1, 3, 5, 7, 2, 4):
        conv = nn.Conv2d(1, 1, k, padding=same_padding(k)).to(device)
        output = conv(torch.zeros(1, 1, 28, 28, device=device)).shape[-1]
        same.append({"kernel_size": k, "padding": same_padding(k), "输入边长": 28, "输出边长": output})
        print(f"kernel_size={k}，padding={same_padding(k)}：28 → {output}")
    # --8<-- [end:same_run]

    # --8<-- [start:dims_run]
    for row in conv_shapes(device):
        print(row)
    # --8<-- [end:dims_run]

    # --8<-- [start:groups_run]
    convs = {
        "groups=1": nn.Conv2d(8, 8, 3, padding=1),  # 每个卷积核看全部 8 个输入通道
        "groups=2": nn.Conv2d(8, 8, 3, padding=1, groups=2),  # 分成 2 组，每组 4 个通道进、4 个通道出
        "groups=8": nn.Conv2d(8, 8, 3, padding=1, groups=8),  # 逐通道：每个输入通道单独一个卷积核
        "groups=1, bias=False": nn.Conv2d(8, 8, 3, padding=1, bias=False),  # 去掉偏置
    }
    for name, conv in convs.items():
        bias = "无" if conv.bias is None else tuple(conv.bias.shape)
        print(f"{name}：权重 {tuple(conv.weight.shape)}，偏置 {bias}，参数 {parameter_count(conv)} 个")

    seen = {name: channels_seen(convs[name].to(device)) for name in list(convs)[:3]}  # 每个 (8, 8)
    fig, axes = plt.subplots(1, 3, figsize=(7, 2.9))
    for ax, (name, matrix) in zip(axes, seen.items(), strict=True):
        ax.imshow(matrix.numpy(), cmap="Greys", vmin=0, vmax=1)  # 黑：这个输出通道看得见这个输入通道
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("输入通道")
        ax.set_ylabel("输出通道")
    fig.tight_layout()
    plt.show()
    # --8<-- [end:groups_run]
    run.save_figure(fig, "groups")

    # --8<-- [start:conv1d]
    signal = torch.tensor([[[0.0, 0, 1, 1, 1, 1, 0, 0]]], device=device)  # (N=1, C=1, L=8)
    difference = torch.tensor([[[-1.0, 1.0]]], device=device)  # (out=1, in=1, k=2)
    edges = F.conv1d(signal, difference)  # (1, 1, 7)：沿最后一维（长度 L）滑动
    print(edges)
    # --8<-- [end:conv1d]

    # --8<-- [start:correlation]
    x = torch.randn(20)  # 一段随机信号
    w = torch.randn(5)  # 一个随机的卷积核，长 5
    windows = x.unfold(0, 5, 1)  # (16, 5)：卷积核依次覆盖的 16 段
    by_conv1d = F.conv1d(x.view(1, 1, 20), w.view(1, 1, 5)).flatten()  # (16,)
    correlation = windows @ w  # 互相关：每一段与 w 逐项相乘再相加
    convolution = windows @ w.flip(0)  # 卷积：先把 w 翻转
    numpy_convolution = torch.from_numpy(np.convolve(x.numpy(), w.numpy(), mode="valid"))  # 数学上的卷积
    print((by_conv1d - correlation).abs().max(), (by_conv1d - convolution).abs().max())
    print((numpy_convolution - convolution).abs().max())
    true_edges = np.convolve(signal.flatten().tolist(), [-1.0, 1.0], mode="valid")  # 用 [-1, 1] 做真正的卷积
    print(true_edges)
    # --8<-- [end:correlation]

    # --8<-- [start:kernels_run]
    image = test_image(IMAGE_SIZE, device)  # (1, 1, 64, 64)
    filtered = apply_filters(image)  # (1, 6, 64, 64)
    fig, axes = plt.subplots(2, 3, figsize=(7, 5.2))  # 宽 7 英寸：页面上的字不小于 9 pt
    for ax, title, picture in zip(axes.flat, FILTERS, filtered[0], strict=True):
        ax.imshow(picture.cpu().numpy(), cmap="gray")
        ax.set_title(title, fontsize=10)
        ax.set_axis_off()
    fig.suptitle("同一张图经过不同的 3×3 卷积核", fontsize=11)
    fig.tight_layout(h_pad=1.5)
    plt.show()
    # --8<-- [end:kernels_run]
    run.save_figure(fig, "kernels")

    # --8<-- [start:cnn_run]
    cnn = CNN().to(device)
    print(cnn)
    print(cnn(torch.zeros(1, 1, 28, 28, device=device)).shape)  # (1, 10)
    print(sum(p.numel() for p in cnn.parameters()), "个参数")
    # --8<-- [end:cnn_run]

    names = list(FILTERS)
    ratios = {name: side_ratio(filtered[0, i]) for i, name in enumerate(names)}
    vertical, horizontal, laplacian = ratios["Sobel：竖直边缘"], ratios["Sobel：水平边缘"], ratios["拉普拉斯：所有边缘"]
    cnn_rows = layer_shapes(cnn, torch.zeros(1, 1, 28, 28, device=device))
    cnn_out = [row["输出形状"] for row in cnn_rows]
    same_ok = all(row["输出边长"] == (28 if row["kernel_size"] % 2 == 1 else 27) for row in same)
    steps = (signal[0, 0, 1:] - signal[0, 0, :-1]).tolist()  # 后一个减前一个：上升 +1，下降 −1
    marked = {i: value for i, value in enumerate(edges[0, 0].tolist()) if value != 0}

    # 互相关与卷积：PyTorch 的结果与互相关的定义一致，与数学上的卷积（numpy）不一致；把核翻转后两者一致
    pytorch_vs_correlation = (by_conv1d - correlation).abs().max().item()
    pytorch_vs_convolution = (by_conv1d - numpy_convolution).abs().max().item()
    flipped_vs_convolution = (F.conv1d(x.view(1, 1, 20), w.flip(0).view(1, 1, 5)).flatten()
                              - numpy_convolution).abs().max().item()
    definition_vs_numpy = (convolution - numpy_convolution).abs().max().item()

    # Sobel 核上下、左右都翻转后正好是它的相反数：真正的卷积给出的响应与 PyTorch 的正负相反
    cx, cy, radius = CIRCLE
    sobel = torch.tensor([FILTERS["Sobel：竖直边缘"], FILTERS["Sobel：水平边缘"]], dtype=torch.float32,
                         device=device).unsqueeze(1)  # (2, 1, 3, 3)
    true_sobel = F.conv2d(image, sobel.flip(-1, -2), padding=1)[0]  # (2, 64, 64)：真正的卷积
    vertical_map, horizontal_map = filtered[0, 2], filtered[0, 3]
    edge_values = {  # 圆周上的四个点：左、右（竖直边缘核），上、下（水平边缘核）
        "左": vertical_map[cy, cx - radius].item(), "右": vertical_map[cy, cx + radius].item(),
        "上": horizontal_map[cy - radius, cx].item(), "下": horizontal_map[cy + radius, cx].item(),
    }
    sobel_negated = torch.allclose(true_sobel, -filtered[0, 2:4], atol=1e-5)

    # 分组卷积的参数个数：out_channels × (in_channels / groups) × k × k，再加 out_channels 个偏置
    intended = {"groups=1": (1, True), "groups=2": (2, True), "groups=8": (8, True), "groups=1, bias=False": (1, False)}
    group_rows = []
    for name, conv in convs.items():
        groups, bias = intended[name]  # 按写下的设置算，而不是读层自己的属性
        formula = 8 * (8 // groups) * 3 * 3 + (8 if bias else 0)
        group_rows.append({"写法": f"`{name}`",
                           "权重形状": str(tuple(conv.weight.shape)),
                           "偏置形状": "—" if conv.bias is None else str(tuple(conv.bias.shape)),
                           "参数个数": parameter_count(conv), "公式": formula})
    blocks_ok = all(torch.equal(seen[name], expected_blocks(8, 8, intended[name][0])) for name in seen)
    seen_counts = {name: int(matrix.sum(dim=1).min()) for name, matrix in seen.items()}

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
        true_edges=true_edges,
        pytorch_vs_correlation=pytorch_vs_correlation,
        pytorch_vs_convolution=pytorch_vs_convolution,
        flipped_vs_convolution=flipped_vs_convolution,
        group_table=group_rows,
        parameters_groups1=parameter_count(convs["groups=1"]),
        parameters_groups2=parameter_count(convs["groups=2"]),
        parameters_depthwise=parameter_count(convs["groups=8"]),
        parameters_no_bias=parameter_count(convs["groups=1, bias=False"]),
        seen_groups1=seen_counts["groups=1"],
        seen_groups2=seen_counts["groups=2"],
        seen_depthwise=seen_counts["groups=8"],
        sobel_left=edge_values["左"],
        sobel_right=edge_values["右"],
        sobel_top=edge_values["上"],
        sobel_bottom=edge_values["下"],
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
        "conv_is_cross_correlation",
        pytorch_vs_correlation < 1e-5 and pytorch_vs_convolution > 1e-2 and flipped_vs_convolution < 1e-5
        and definition_vs_numpy < 1e-5,
        f"随机信号与随机核：F.conv1d 与互相关的定义相差 {pytorch_vs_correlation:.1e}，与 np.convolve（卷积）相差 "
        f"{pytorch_vs_convolution:.3f}；核翻转后 F.conv1d 与 np.convolve 相差 {flipped_vs_convolution:.1e}，"
        f"“先翻转再相乘相加”与 np.convolve 相差 {definition_vs_numpy:.1e}",
    )
    run.claim(
        "true_convolution_reverses_difference",
        true_edges.tolist() == [-v for v in edges[0, 0].tolist()],
        f"np.convolve(信号, [-1, 1]) = {true_edges.tolist()}，F.conv1d 得到 {edges[0, 0].tolist()}：逐项相反",
    )
    run.claim(
        "sobel_sign_and_flip",
        edge_values["左"] > 0 > edge_values["右"] and edge_values["上"] > 0 > edge_values["下"] and sobel_negated,
        "圆周上 Sobel 的响应：" + "，".join(f"{k} {v:+.2f}" for k, v in edge_values.items())
        + f"；真正的卷积（核上下左右翻转）处处是它的相反数：{sobel_negated}",
    )
    run.claim(
        "group_parameter_counts",
        all(row["参数个数"] == row["公式"] for row in group_rows)
        and len({row["参数个数"] for row in group_rows}) == len(group_rows),
        "参数个数（实际/公式）：" + "，".join(f"{row['写法']} {row['参数个数']}/{row['公式']}" for row in group_rows),
    )
    run.claim(
        "groups_see_own_channels",
        blocks_ok,
        "每个输出通道随之变化的输入通道个数（最少）：" + "，".join(f"{k} {v}" for k, v in seen_counts.items())
        + f"；与“只看本组输入通道”的分块矩阵完全一致：{blocks_ok}",
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
