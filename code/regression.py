r"""回归网络：一个隐藏层的全连接网络拟合 y = x² 加噪声，并把训练过程录成动画。

笔记把这一节叫作“构建分类网络”，其实做的是回归：网络 $\hat y = W_2\,\mathrm{ReLU}(W_1x+b_1)+b_2$
输出连续值，损失是均方误差 $L=\frac{1}{m}\sum_{i=1}^m(\hat y_i-y_i)^2$。
"""

# --8<-- [start:imports]
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn
# --8<-- [end:imports]

import chapter_kit

# --8<-- [start:hyperparameters]
# 超参数（与笔记相同）
N_POINTS = 100
N_HIDDEN = 10
LR = 0.2
STEPS = 150  # 笔记循环 150 步（莫烦的原脚本是 200 步）
PLOT_EVERY = 5  # 笔记每 5 步重画一次
NOISE = 0.2  # 噪声服从 [0, 0.2) 上的均匀分布
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
# --8<-- [end:hyperparameters]

# 以下只在构建时用，页面不展示
QUICK_FRAME_EVERY = 3  # 快速模式的动画只留每 3 帧中的 1 帧
# 同样的设置换几个种子再训练几次：一次运行的结果有偶然性，页面报中位数和范围
REPEATS = 8
QUICK_REPEATS = 3
TEST_DRAWS = 100  # 在同样的 x 上重新抽这么多遍噪声，估计测试误差
NEAR_FLOOR = 4.0  # “离下限不远”：损失的中位数不超过噪声方差的这么多倍
FAR_BELOW = 0.2  # “远低于常数预测”：损失的中位数不超过常数预测损失的这么多倍


# --8<-- [start:data]
def make_data(n_points=N_POINTS):
    x = torch.unsqueeze(torch.linspace(-1, 1, n_points), dim=1)  # (100,) -> (100, 1)
    # torch.rand 是 [0, 1) 上的均匀分布：噪声均匀分布在 [0, 0.2)，均值 0.1，并不是高斯白噪声
    y = x.pow(2) + NOISE * torch.rand(x.size())  # (100, 1)
    return x, y
# --8<-- [end:data]


# --8<-- [start:net]
class Net(nn.Module):
    def __init__(self, n_feature, n_hidden, n_output):
        super().__init__()
        self.hidden = nn.Linear(n_feature, n_hidden)  # 隐藏层线性输出
        self.predict = nn.Linear(n_hidden, n_output)  # 输出层线性输出

    # 重写了 nn.Module 中的 forward
    def forward(self, x):  # (N, 1)
        x = F.relu(self.hidden(x))  # (N, 10)
        x = self.predict(x)  # (N, 1)
        return x
# --8<-- [end:net]


# --8<-- [start:train]
def train(net, x, y, steps=STEPS):
    # 4.1 准备优化器及损失函数
    optimizer = torch.optim.SGD(net.parameters(), lr=LR)  # 传入 net 的所有参数和学习率
    loss_func = nn.MSELoss()  # 均方误差损失
    losses = []

    # 5. 可视化训练过程
    plt.ion()  # 打开交互模式：画图不阻塞，循环接着跑
    for t in range(steps):
        prediction = net(x)  # (100, 1)
        loss = loss_func(prediction, y)  # 顺序必须是（网络输出，目标值）

        optimizer.zero_grad()  # 清空上一步残留的梯度
        loss.backward()  # 误差反向传播，计算梯度
        optimizer.step()  # 用梯度更新 net 的参数
        losses.append(loss.item())

        if t % PLOT_EVERY == 0:
            plt.cla()  # 清空画布，重画这一帧
            plt.scatter(x.cpu(), y.cpu(), s=12)
            plt.plot(x.cpu(), prediction.detach().cpu(), "r-", lw=5)  # 当前的拟合曲线
            # 文字用坐标轴的相对坐标放在右下角，损失再大也不会跑出图外
            plt.text(0.97, 0.04, f"Loss={loss.item():.4f}", transform=plt.gca().transAxes, ha="right",
                     fontdict={"size": 18, "color": "red"})
            plt.ylim(-0.1, 1.3)
            plt.pause(0.1)  # 刷新窗口，停 0.1 秒
    plt.ioff()  # 关闭交互模式
    return losses
# --8<-- [end:train]


def silent_train(net, x, y, steps):
    """和 train() 一样训练，但不画图：换种子重复训练时用。"""
    optimizer = torch.optim.SGD(net.parameters(), lr=LR)
    for _ in range(steps):
        loss = F.mse_loss(net(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def train_repeat(seed, steps, device):
    """换一个种子（新的噪声、新的初始参数），按笔记的设置再训练一次，返回最终损失、噪声方差和常数预测的损失。"""
    torch.manual_seed(seed)
    xs, ys = (t.to(device) for t in make_data())
    net = Net(n_feature=1, n_hidden=N_HIDDEN, n_output=1).to(device)
    silent_train(net, xs, ys, steps)
    with torch.no_grad():
        final = F.mse_loss(net(xs), ys).item()
    return final, (ys - xs.pow(2)).var(unbiased=False).item(), ys.var(unbiased=False).item()


def draw_fit(ax, x, y, fitted, loss):
    """训练结束时的拟合：散点、拟合曲线、真实均值和损失。"""
    ax.scatter(x.cpu().numpy(), y.cpu().numpy(), s=12)
    ax.plot(x.cpu().numpy(), fitted.cpu().numpy(), "r-", lw=5)
    ax.plot(x.cpu().numpy(), (x.pow(2) + NOISE / 2).cpu().numpy(), "k--", lw=1.5, label="真实均值 x²+0.1")
    ax.text(0.97, 0.04, f"Loss={loss:.4f}", transform=ax.transAxes, ha="right", va="bottom",
            fontdict={"size": 18, "color": "red"})
    ax.set_xlim(-1.05, 1.05)
    ax.set_ylim(-0.1, 1.3)
    ax.legend(loc="upper center")


def main(argv=None):
    parser = chapter_kit.chapter_parser(__file__, __doc__)
    parser.add_argument("--steps", type=chapter_kit.positive_int, default=STEPS, help="训练步数（默认 %(default)s）")
    run = chapter_kit.start(parser, argv)
    device = run.device  # --device 参数决定用哪个设备

    # --8<-- [start:points]
    x, y = make_data()
    x, y = x.to(device), y.to(device)  # 数据和网络要在同一个设备上
    # --8<-- [end:points]
    # --8<-- [start:model]
    net = Net(n_feature=1, n_hidden=N_HIDDEN, n_output=1).to(device)
    print(net)  # 网络的结构
    # --8<-- [end:model]

    # 页面上的训练循环在当前的图上重画；构建把每次 plt.pause() 的重画录成动画的一帧
    fig = plt.figure(figsize=(6.4, 4.8))
    animation = run.animation(fig, "training")
    animation.record_pauses(every=QUICK_FRAME_EVERY if run.quick else 1)  # 录下页面上训练循环里 plt.pause() 的每一次重画
    losses = train(net, x, y, steps=run.args.steps)
    animation.save()

    loss_func = nn.MSELoss()
    with torch.no_grad():
        fitted = net(x)
        final_loss = loss_func(fitted, y).item()
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    draw_fit(ax, x, y, fitted, final_loss)
    run.save_figure(fig, "fit")

    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    ax.plot(range(1, len(losses) + 1), losses)
    ax.set_yscale("log")
    ax.set_xlabel("训练步数")
    ax.set_ylabel("均方误差（对数坐标）")
    ax.set_title("损失曲线")
    ax.grid(True, which="both", alpha=0.3)
    run.save_figure(fig, "loss")

    noise = y - x.pow(2)
    noise_floor = noise.var(unbiased=False).item()
    constant_loss = y.var(unbiased=False).item()
    with torch.no_grad():
        # 测试误差：同样的 x、重新抽的噪声。它的期望不可能低于噪声的方差 0.2²/12
        fresh = x.pow(2) + NOISE * torch.rand(TEST_DRAWS, *x.shape, device=device)  # (100, 100, 1)
        test_loss = (fitted - fresh).pow(2).mean().item()

    # 同样的设置换几个种子：最终损失是噪声方差的几倍、是常数预测损失的几倍
    repeats = QUICK_REPEATS if run.quick else REPEATS
    seeds = [run.seed * 100 + 1 + k for k in range(repeats)]  # 与主运行的种子错开
    outcomes = [train_repeat(seed, run.args.steps, device) for seed in seeds]
    to_floor = torch.tensor([final / floor for final, floor, _ in outcomes])
    to_constant = torch.tensor([final / constant for final, _, constant in outcomes])
    floor_median, constant_median = to_floor.quantile(0.5).item(), to_constant.quantile(0.5).item()

    run.record(
        steps=len(losses),
        plot_every=PLOT_EVERY,
        frame_every=PLOT_EVERY * (QUICK_FRAME_EVERY if run.quick else 1),
        frames=len(animation.frames),
        initial_loss=losses[0],
        final_loss=final_loss,
        # 样本里噪声的方差：只看 x 的模型在“新数据”上的误差平均起来不会低于它
        noise_floor=noise_floor,
        noise_variance=NOISE**2 / 12,  # U[0, 0.2) 的方差
        # 预测一个常数（y 的均值）时的损失：网络至少要比它好
        constant_loss=constant_loss,
        final_to_floor=final_loss / noise_floor,
        constant_to_floor=constant_loss / noise_floor,
        test_loss=test_loss,
        test_draws=TEST_DRAWS,
        # 拟合曲线与真实均值 x² + 0.1 的平均绝对偏差
        fit_error=(fitted - (x.pow(2) + NOISE / 2)).abs().mean(),
        repeats=repeats,
        repeat_seeds=seeds,
        repeat_to_floor=to_floor,
        repeat_to_floor_median=floor_median,
        repeat_to_floor_min=to_floor.min(),
        repeat_to_floor_max=to_floor.max(),
        repeat_to_constant=to_constant,
        repeat_to_constant_median=constant_median,
        repeat_to_constant_max=to_constant.max(),
        near_floor=NEAR_FLOOR,
        far_below=FAR_BELOW,
    )
    run.claim(
        "loss_far_below_constant",
        constant_median <= FAR_BELOW,
        f"{repeats} 个种子上最终损失与常数预测损失之比的中位数 {constant_median:.3f} ≤ {FAR_BELOW}",
    )
    run.claim(
        "loss_within_floor",
        floor_median <= NEAR_FLOOR,
        f"{repeats} 个种子上最终损失与噪声方差之比的中位数 {floor_median:.2f} ≤ {NEAR_FLOOR:g}",
    )
    run.finish()


if __name__ == "__main__":
    main()
