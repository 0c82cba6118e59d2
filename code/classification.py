r"""分类网络：一个隐藏层的网络用交叉熵学会分开两团高斯分布的点，画出决策边界，并和最优的 Bayes 规则比较。

两类点各 100 个，分别以 $(2,2)$ 和 $(-2,-2)$ 为中心、标准差为 1。网络 $2\to10\to2$ 给每个点输出两个类别的得分
（logits）$o=(o_0,o_1)$，损失是交叉熵 $L=-\frac{1}{m}\sum_{i=1}^m\log\frac{e^{o_{i,y_i}}}{e^{o_{i,0}}+e^{o_{i,1}}}$。
两类的先验相同、协方差相同，最优的 Bayes 规则是“离哪个中心近就判哪一类”，决策边界是直线 $x_1+x_2=0$。
"""

# --8<-- [start:imports]
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn
# --8<-- [end:imports]

import chapter_kit
from regression import Net

# --8<-- [start:hyperparameters]
# 超参数（与莫烦 PyTorch 教程的分类例子相同）
N_PER_CLASS = 100  # 每类 100 个训练点
CENTER = 2.0  # 类别 0 以 (2, 2) 为中心，类别 1 以 (-2, -2) 为中心
STD = 1.0  # 两团点的标准差
N_HIDDEN = 10
LR = 0.02
STEPS = 100
PLOT_EVERY = 5  # 每 5 步重画一次（教程是每 2 步）
N_TEST_PER_CLASS = 10000  # 测试集：从同样的两个分布里新抽的点，每类这么多个
LIM = 5.0  # 画图、比较决策边界都在方框 [-5, 5] × [-5, 5] 里
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
# --8<-- [end:hyperparameters]

# 以下只在构建时用，页面不展示
QUICK_FRAME_EVERY = 2  # 快速模式的动画只留每 2 帧中的 1 帧
# 同样的设置换几个种子再训练几次：一次运行的结果有偶然性，结论说的是中位数
REPEATS = 8
QUICK_REPEATS = 3
NEAR_BAYES = 0.005  # “接近最优”：测试准确率的中位数比 Bayes 规则低不超过 0.5 个百分点
AGREE_ON_DATA = 0.99  # 在新抽的点上，网络和 Bayes 规则的判断相同的比例（中位数）至少这么多
AGREE_ON_GRID = 0.80  # 在整个方框的格点上至少这么多（边界整个转 45° 也有 75%）


# --8<-- [start:data]
def make_data(n_per_class):
    n_data = torch.ones(n_per_class, 2)  # (100, 2)
    x0 = torch.normal(CENTER * n_data, STD)  # 类别 0：均值 (2, 2)、标准差 1 的正态分布，(100, 2)
    y0 = torch.zeros(n_per_class, dtype=torch.long)  # (100,)，标签都是 0
    x1 = torch.normal(-CENTER * n_data, STD)  # 类别 1：均值 (-2, -2)，(100, 2)
    y1 = torch.ones(n_per_class, dtype=torch.long)  # (100,)，标签都是 1
    x = torch.cat((x0, x1), dim=0)  # (200, 2)
    y = torch.cat((y0, y1), dim=0)  # (200,)：类别编号，nn.CrossEntropyLoss 要的是整数
    return x, y
# --8<-- [end:data]


# --8<-- [start:predict]
def predict(net, x):
    with torch.no_grad():  # 只是用网络做判断，不需要记录计算图
        return net(x).argmax(dim=1)  # (N, 2) -> (N,)：得分最大的类别就是预测的类别


def bayes_rule(x):
    return (x.sum(dim=1) < 0).long()  # (N,)：x1 + x2 > 0 离 (2, 2) 近，判为 0；否则判为 1


def agreement(a, b):
    return (a == b).float().mean().item()  # 两组类别相同的比例；b 是标签时就是准确率


def make_grid(n=201):
    g = torch.linspace(-LIM, LIM, n)  # (201,)
    g1, g2 = torch.meshgrid(g, g, indexing="xy")  # 各 (201, 201)：每个格点的 x1 和 x2
    return g1, g2, torch.stack((g1, g2), dim=-1).reshape(-1, 2)  # 最后一个是 (40401, 2)，每行一个格点


def plot_regions(net, x, y):
    """背景色是网络在每个格点上预测的类别（决策区域），点的颜色是真实类别，虚线是 Bayes 决策边界。"""
    g1, g2, grid = make_grid()
    regions = predict(net, grid.to(x.device)).reshape(g1.shape)  # (40401,) -> (201, 201)
    plt.contourf(g1, g2, regions.cpu(), levels=[-0.5, 0.5, 1.5], colors=["#fcbba1", "#c6dbef"])
    plt.scatter(*x[y == 0].cpu().T, s=16, c="tab:red", edgecolors="white", linewidths=0.4, label="类别 0")
    plt.scatter(*x[y == 1].cpu().T, s=16, c="tab:blue", edgecolors="white", linewidths=0.4, label="类别 1")
    plt.plot([-LIM, LIM], [LIM, -LIM], "k--", lw=1.2, label="Bayes 边界 x1+x2=0")
    plt.xlim(-LIM, LIM)
    plt.ylim(-LIM, LIM)
    plt.gca().set_aspect("equal")
    plt.legend(loc="upper left", fontsize=9)
# --8<-- [end:predict]


# --8<-- [start:train]
def train(net, x, y, steps=STEPS):
    optimizer = torch.optim.SGD(net.parameters(), lr=LR)
    loss_func = nn.CrossEntropyLoss()  # 输入原始得分（logits）和类别编号；softmax 在损失内部算

    plt.ion()  # 打开交互模式：画图不阻塞，循环接着跑
    for t in range(steps):
        out = net(x)  # (200, 2)：每个点属于两个类别的得分
        loss = loss_func(out, y)  # 顺序必须是（网络输出，目标值）

        optimizer.zero_grad()  # 清空上一步残留的梯度
        loss.backward()  # 误差反向传播，计算梯度
        optimizer.step()  # 用梯度更新 net 的参数

        if t % PLOT_EVERY == 0:
            plt.cla()  # 清空画布，重画这一帧
            plot_regions(net, x, y)
            plt.title(f"训练 {t + 1} 步  准确率 {agreement(predict(net, x), y):.1%}")
            plt.pause(0.1)  # 刷新窗口，停 0.1 秒
    plt.ioff()  # 关闭交互模式
# --8<-- [end:train]


def train_repeat(seed, device):
    """换一个种子（新的训练点、新的初始参数、新的测试点），按同样的设置再训练一次（不画图）。"""
    torch.manual_seed(seed)
    x, y = (t.to(device) for t in make_data(N_PER_CLASS))
    net = Net(n_feature=2, n_hidden=N_HIDDEN, n_output=2).to(device)
    optimizer = torch.optim.SGD(net.parameters(), lr=LR)
    for _ in range(STEPS):
        loss = F.cross_entropy(net(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    x_test, y_test = (t.to(device) for t in make_data(N_TEST_PER_CLASS))
    grid = make_grid()[2].to(device)
    test_prediction, bayes_test = predict(net, x_test), bayes_rule(x_test)
    return {
        "train_accuracy": agreement(predict(net, x), y),
        "test_accuracy": agreement(test_prediction, y_test),
        "gap": agreement(bayes_test, y_test) - agreement(test_prediction, y_test),
        "data_agreement": agreement(test_prediction, bayes_test),
        "grid_agreement": agreement(predict(net, grid), bayes_rule(grid)),
    }


def main(argv=None):
    parser = chapter_kit.chapter_parser(__file__, __doc__)
    run = chapter_kit.start(parser, argv)
    device = run.device  # --device 参数决定用哪个设备

    # --8<-- [start:points]
    x, y = make_data(N_PER_CLASS)  # (200, 2)、(200,)
    x, y = x.to(device), y.to(device)  # 数据和网络要在同一个设备上
    # --8<-- [end:points]
    # --8<-- [start:model]
    net = Net(n_feature=2, n_hidden=N_HIDDEN, n_output=2).to(device)  # 2 个输入特征，2 个类别的得分
    print(net)
    # --8<-- [end:model]

    # 页面上的训练循环在当前的图上重画；构建把每次 plt.pause() 的重画录成动画的一帧
    fig = plt.figure(figsize=(5.6, 5.6))
    animation = run.animation(fig, "training")
    animation.record_pauses(every=QUICK_FRAME_EVERY if run.quick else 1)  # 录下页面上训练循环里 plt.pause() 的每一次重画
    # --8<-- [start:fit]
    train(net, x, y)
    plt.show()  # 关闭交互模式后，窗口停在最后一帧
    # --8<-- [end:fit]
    animation.save()

    # --8<-- [start:evaluate]
    x_test, y_test = make_data(N_TEST_PER_CLASS)  # (20000, 2)、(20000,)：同样的两个分布里新抽的点
    x_test, y_test = x_test.to(device), y_test.to(device)
    train_accuracy = agreement(predict(net, x), y)
    test_accuracy = agreement(predict(net, x_test), y_test)
    # Bayes 规则在测试点上的准确率，以及它的理论值 Φ(CENTER·√2 / STD)：
    # 每个点到直线 x1 + x2 = 0 的有符号距离服从均值 CENTER·√2、标准差 STD 的正态分布
    bayes_test_accuracy = agreement(bayes_rule(x_test), y_test)
    bayes_accuracy = torch.special.ndtr(torch.tensor(CENTER * 2**0.5 / STD)).item()
    print(f"准确率：训练集 {train_accuracy:.2%}，测试集 {test_accuracy:.2%}")
    print(f"Bayes 规则：测试集 {bayes_test_accuracy:.2%}，理论值 {bayes_accuracy:.2%}")

    # 网络的决策边界离 Bayes 边界多近：在测试点上、在整个方框的格点上，两者的判断相同的比例
    grid = make_grid()[2].to(device)  # (40401, 2)
    data_agreement = agreement(predict(net, x_test), bayes_rule(x_test))
    grid_agreement = agreement(predict(net, grid), bayes_rule(grid))
    print(f"与 Bayes 规则判断相同：测试点上 {data_agreement:.2%}，方框的格点上 {grid_agreement:.2%}")
    # --8<-- [end:evaluate]

    # --8<-- [start:figure]
    plt.figure(figsize=(5.6, 5.6))
    plot_regions(net, x, y)
    plt.title(f"训练 {STEPS} 步后的决策区域")
    plt.show()
    # --8<-- [end:figure]
    run.save_figure(plt.gcf(), "regions")

    # 同样的设置换几个种子：测试准确率离 Bayes 规则多远，决策边界和 Bayes 边界的一致程度
    repeats = QUICK_REPEATS if run.quick else REPEATS
    seeds = [run.seed * 100 + 1 + k for k in range(repeats)]  # 与主运行的种子错开
    outcomes = [train_repeat(seed, device) for seed in seeds]
    table = {key: torch.tensor([o[key] for o in outcomes]) for key in outcomes[0]}
    median = {key: values.quantile(0.5).item() for key, values in table.items()}

    run.record(
        steps=STEPS,
        plot_every=PLOT_EVERY,
        frame_every=PLOT_EVERY * (QUICK_FRAME_EVERY if run.quick else 1),
        frames=len(animation.frames),
        n_train=len(y),
        n_test=len(y_test),
        train_accuracy=train_accuracy,
        test_accuracy=test_accuracy,
        bayes_accuracy=bayes_accuracy,
        bayes_error=1 - bayes_accuracy,
        bayes_test_accuracy=bayes_test_accuracy,
        data_agreement=data_agreement,
        grid_agreement=grid_agreement,
        grid_points=len(grid),
        repeats=repeats,
        repeat_seeds=seeds,
        **{f"repeat_{key}": values for key, values in table.items()},
        **{f"repeat_{key}_median": value for key, value in median.items()},
        **{f"repeat_{key}_min": values.min() for key, values in table.items()},
        **{f"repeat_{key}_max": values.max() for key, values in table.items()},
        near_bayes=NEAR_BAYES,
        agree_on_data=AGREE_ON_DATA,
        agree_on_grid=AGREE_ON_GRID,
    )
    run.claim(
        "test_near_bayes",
        median["gap"] <= NEAR_BAYES,
        f"{repeats} 个种子上，Bayes 规则与网络在测试集上的准确率之差的中位数 {median['gap']:.2%} ≤ {NEAR_BAYES:.1%}",
    )
    run.claim(
        "agrees_with_bayes_on_data",
        median["data_agreement"] >= AGREE_ON_DATA,
        f"{repeats} 个种子上，网络与 Bayes 规则在测试点上判断相同的比例的中位数 "
        f"{median['data_agreement']:.2%} ≥ {AGREE_ON_DATA:.0%}",
    )
    run.claim(
        "agrees_with_bayes_on_grid",
        median["grid_agreement"] >= AGREE_ON_GRID,
        f"{repeats} 个种子上，网络与 Bayes 规则在方框格点上判断相同的比例的中位数 "
        f"{median['grid_agreement']:.2%} ≥ {AGREE_ON_GRID:.0%}",
    )
    run.finish()


if __name__ == "__main__":
    main()
