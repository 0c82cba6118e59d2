"""nn.Module：笔记里两层卷积的模型——打印结构、数参数、看每一层之后张量的形状。"""

# --8<-- [start:imports]
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn
# --8<-- [end:imports]

import chapter_kit

# --8<-- [start:hyperparameters]
INPUT_SHAPE = (1, 1, 28, 28)  # (批量大小, 通道, 高, 宽)：一张 28×28 的灰度图
SHOWN_KERNELS = 8  # 图里画出 conv1 的前几个卷积核，以及它们各自的特征图
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
# --8<-- [end:hyperparameters]


def conv_count(in_channels, out_channels, kernel_size):
    """手算 Conv2d 的参数个数：out × in × k × k 个权重，加 out 个偏置。"""
    return out_channels * in_channels * kernel_size * kernel_size + out_channels


def conv_size(size, kernel_size):
    """不填充、步幅为 1 时，卷积后的边长。"""
    return size - (kernel_size - 1)


# --8<-- [start:model]
class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 20, 5)  # 1 个输入通道，20 个 5×5 卷积核
        self.conv2 = nn.Conv2d(20, 20, 5)

    def forward(self, x):  # (N, 1, 28, 28)
        x = F.relu(self.conv1(x))  # (N, 20, 24, 24)
        return F.relu(self.conv2(x))  # (N, 20, 20, 20)
# --8<-- [end:model]


# --8<-- [start:inspect]
def parameter_table(model):
    """每个参数张量的名字、形状和元素个数。"""
    return [
        {"参数": name, "形状": str(tuple(p.shape)), "个数": p.numel()}
        for name, p in model.named_parameters()
    ]


def layer_shapes(model, x):
    """用前向钩子（forward hook）记下每个子模块输出的形状。"""
    shapes = [{"层": "输入", "输出形状": str(tuple(x.shape))}]
    hooks = [
        module.register_forward_hook(
            lambda m, inputs, output, name=name: shapes.append({"层": name, "输出形状": str(tuple(output.shape))})
        )
        for name, module in model.named_children()
    ]
    with torch.no_grad():  # 只看形状，不需要计算图
        output = model(x)
    for hook in hooks:
        hook.remove()
    return shapes, output
# --8<-- [end:inspect]


# --8<-- [start:digit]
def draw_digit(device):
    """画一个粗笔画的“7”当作输入，免得本章依赖数据集。"""
    image = torch.zeros(INPUT_SHAPE, device=device)  # (1, 1, 28, 28)
    image[..., 5:9, 6:22] = 1.0  # 横
    for row in range(9, 24):  # 斜向下的一撇
        col = 21 - (row - 9) // 2
        image[..., row, col - 2 : col + 1] = 1.0
    return image
# --8<-- [end:digit]


def main(argv=None):
    parser = chapter_kit.chapter_parser(__file__, __doc__)
    run = chapter_kit.start(parser, argv)

    device = run.device  # --device 参数选的设备

    # --8<-- [start:use]
    model = Model().to(device)
    print(model)  # 登记过的子模块
    table = parameter_table(model)
    for row in table:
        print(row)
    count = sum(p.numel() for p in model.parameters())
    print("参数个数：", count)
    x = draw_digit(device)  # (1, 1, 28, 28)
    shapes, output = layer_shapes(model, x)
    for row in shapes:
        print(row)
    # --8<-- [end:use]

    # --8<-- [start:figure]
    with torch.no_grad():
        first = F.relu(model.conv1(x))  # (1, 20, 24, 24)：conv1 的特征图
    # 上一行是卷积核，下一行是同一个卷积核得到的特征图：一一对应
    fig, axes = plt.subplots(2, SHOWN_KERNELS + 1, figsize=(7, 2.6))
    axes[0, 0].imshow(x[0, 0].cpu().numpy(), cmap="gray")
    axes[0, 0].set_title("输入", fontsize=9)
    for k in range(SHOWN_KERNELS):
        axes[0, k + 1].imshow(model.conv1.weight[k, 0].detach().cpu().numpy(), cmap="RdBu")
        axes[0, k + 1].set_title(f"核 {k}", fontsize=9)
        axes[1, k + 1].imshow(first[0, k].cpu().numpy(), cmap="viridis")
        axes[1, k + 1].set_title(f"特征图 {k}", fontsize=9)
    for ax in axes.flat:
        ax.set_axis_off()
    fig.suptitle(f"未训练的 conv1：前 {SHOWN_KERNELS} 个卷积核（上）与各自的特征图（下）", fontsize=10)
    fig.tight_layout()
    plt.show()
    # --8<-- [end:figure]
    run.save_figure(fig, "conv1")

    by_hand = conv_count(1, 20, 5) + conv_count(20, 20, 5)
    side = INPUT_SHAPE[-1]
    mid_side = conv_size(side, 5)  # 28 → 24
    expected_mid = [INPUT_SHAPE[0], 20, mid_side, mid_side]
    expected_shape = [INPUT_SHAPE[0], 20, conv_size(mid_side, 5), conv_size(mid_side, 5)]  # 24 → 20
    mid_shape = list(first.shape)  # conv1（再经 ReLU）之后的形状
    children = [name for name, _ in model.named_children()]

    run.record(
        structure=str(model),
        parameters=table,
        parameter_count=count,
        parameter_count_by_hand=by_hand,
        shown_kernels=SHOWN_KERNELS,
        trainable_count=sum(p.numel() for p in model.parameters() if p.requires_grad),
        shapes=shapes,
        output_shape=list(output.shape),
        children=children,
    )
    run.claim(
        "count_by_hand",
        count == by_hand,
        f"从模型读出的参数个数 {count} = 手算的 (20×1×5×5+20) + (20×20×5×5+20) = {by_hand}",
    )
    run.claim(
        "shapes_shrink_by_4",
        mid_shape == expected_mid and list(output.shape) == expected_shape,
        f"conv1 之后形状 {mid_shape} = {expected_mid}，conv2 之后形状 {list(output.shape)} = {expected_shape}"
        f"（每次卷积边长减 4：{side}→{mid_side}→{expected_shape[-1]}）",
    )
    run.claim(
        "relu_not_a_child",
        children == ["conv1", "conv2"],
        f"登记的子模块是 {children}，没有 relu",
    )
    run.finish()


if __name__ == "__main__":
    main()
