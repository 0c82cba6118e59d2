"""局部极小值与退化问题：同一个小网络从多个初始化出发会停在不同的局部极小值；深的普通网络为什么训练得比浅的差，残差连接怎样解决。"""

# --8<-- [start:imports]
import math

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn
# --8<-- [end:imports]

import chapter_kit

# --8<-- [start:hyperparameters]
# 局部极小值：教师网络是 TEACHER 个 ReLU 神经元（输入 TEACHER 维，权重取单位矩阵的行），
# 学生网络结构相同或更宽，所以学生能达到的全局最小损失都是 0（Safran & Shamir 2018 的设置）
TEACHER = 10
STUDENT_WIDTHS = (10, 20)  # 与教师一样宽；两倍宽
RUNS = 40  # 每种宽度的随机初始化个数
GD_STEPS = 800
GD_LR = 0.1  # 全批量梯度下降（带动量）的学习率
GD_MOMENTUM = 0.9
TRAPPED = 1e-3  # 最终损失高于它，就算“停在了全局最小值之外”
HESSIAN_CHECKS = 8  # 最多检查几个停住的运行的 Hessian

# 退化问题：一个随机初始化的“教师网络”给 2048 个点打上 10 类标签，学生网络要拟合它
N_SAMPLES = 2048
N_INPUTS = 16
N_CLASSES = 10
BATCH_SIZE = 128
LR = 0.05
MOMENTUM = 0.9
WIDTH = 32
SHALLOW_BLOCKS = 2  # 1 + 2×2 + 1 = 6 个线性层
DEEP_BLOCKS = 15  # 1 + 2×15 + 1 = 32 个线性层
STEPS = 400
INNER_SEEDS = 3  # 每个网络从几个初始化出发各训练一次
GRADIENT_EVERY = 10  # 每隔几步记录一次各层的梯度范数
seed = 0  # 随机种子：决定初始化、数据和小批量的抽取
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
# --8<-- [end:hyperparameters]

# 以下只供构建（页面不展示）
REACHED = 1e-6  # 最终损失低于它，就算“到达了全局最小值 0”
# 快速模式的设置
QUICK_RUNS = 12
QUICK_GD_STEPS = 400
QUICK_DEEP_BLOCKS = 6
QUICK_STEPS = 60
QUICK_INNER_SEEDS = 2


# --8<-- [start:teacher_student]
class SmoothPart(torch.autograd.Function):
    """h(c) = sqrt(1 - c²) + (π - arccos c)·c。导数 h'(c) = π - arccos c 处处有限；让 autograd 逐项求导，在 c = ±1 处会得到 inf - inf。"""

    @staticmethod
    def forward(ctx, c):
        slope = math.pi - torch.arccos(c)  # 就是 h'(c)，留给反向传播
        ctx.save_for_backward(c, slope)
        return torch.sqrt(1 - c * c) + slope * c

    @staticmethod
    def backward(ctx, grad):
        c, slope = ctx.saved_tensors
        if torch.is_grad_enabled():  # 求 Hessian 时要对 h'(c) 再求导：重新算一遍，让它留在计算图里
            slope = math.pi - torch.arccos(c)
        return grad * slope


def relu_kernel(u):
    """x ~ N(0, I) 时 E[relu(a·x) relu(b·x)] = |a||b|(sin θ + (π - θ) cos θ) / 2π，θ 是 a、b 的夹角；对 u 的每一对行都算。"""
    norm = (u * u).sum(-1, keepdim=True).add(1e-30).sqrt()  # (..., m, 1)
    scale = norm * norm.transpose(-1, -2)  # (..., m, m)
    eye = torch.eye(u.shape[-2], dtype=torch.bool)  # 对角线上 a = b：E[relu(a·x)²] = |a|²/2
    cos = ((u @ u.transpose(-1, -2)) / scale).clamp(-1, 1).masked_fill(eye, 0)  # (..., m, m)
    return torch.where(eye, scale / 2, scale * SmoothPart.apply(cos) / (2 * math.pi))


def population_loss(w, v):
    """学生 Σ relu(w_i·x) 拟合教师 Σ relu(v_j·x) 的均方误差的一半，对 x ~ N(0, I) 取精确的期望。"""
    u = torch.cat([w, v.expand(w.shape[:-2] + v.shape)], dim=-2)  # (R, n + k, d)：学生和教师的神经元放在一起
    sign = torch.cat([w.new_ones(w.shape[-2]), -v.new_ones(v.shape[-2])])  # 误差 = Σ sign_i relu(u_i·x)
    return 0.5 * torch.einsum("i,...ij,j->...", sign, relu_kernel(u), sign)  # (R,)
# --8<-- [end:teacher_student]


# --8<-- [start:minima]
def train_students(teacher, width, runs, steps, generator):
    """宽度为 width 的学生从 runs 个随机初始化出发，各用全批量梯度下降走 steps 步。"""
    w = torch.randn(runs, width, TEACHER, generator=generator, dtype=torch.float64)
    w = (w / math.sqrt(TEACHER)).requires_grad_()  # (R, n, d)：R 个运行一起训练，互不影响
    optimizer = torch.optim.SGD([w], lr=GD_LR, momentum=GD_MOMENTUM)  # 没有小批量：每一步都是精确的全梯度
    history = []
    for _ in range(steps):
        loss = population_loss(w, teacher)  # (R,)
        optimizer.zero_grad()
        loss.sum().backward()  # 各运行的损失相加，梯度仍各归各的
        optimizer.step()
        history.append(loss.detach())
    return w.detach(), torch.stack(history, dim=1)  # (R, n, d)，(R, steps)
# --8<-- [end:minima]


def compare_minima(seed, RUNS=RUNS, GD_STEPS=GD_STEPS):  # noqa: N803
    """页面上“同一个网络，不同的初始化”的实验。参数与超参数同名：快速模式传入更小的值，页面上就是那两个常量。"""
    # --8<-- [start:minima_run]
    teacher = torch.eye(TEACHER, dtype=torch.float64)  # (k, d)：教师的 k 个神经元
    final, curves, students = {}, {}, {}
    for width in STUDENT_WIDTHS:
        generator = torch.Generator().manual_seed(seed * 100 + width)
        students[width], curves[width] = train_students(teacher, width, RUNS, GD_STEPS, generator)
        final[width] = population_loss(students[width], teacher)  # (R,)：每个运行的最终损失
        trapped = (final[width] > TRAPPED).sum().item()
        print(f"宽度 {width}：{RUNS} 个运行中 {trapped} 个停在损失 > {TRAPPED:g} 的地方")
    # --8<-- [end:minima_run]
    return teacher, final, curves, students


# --8<-- [start:data]
def make_data(generator):
    """随机初始化的教师网络给 N_SAMPLES 个随机点打上 N_CLASSES 类标签。"""
    teacher = nn.Sequential(
        nn.Linear(N_INPUTS, 128), nn.Tanh(), nn.Linear(128, 128), nn.Tanh(), nn.Linear(128, N_CLASSES)
    )
    x = torch.randn(N_SAMPLES, N_INPUTS, generator=generator)  # (2048, 16)
    with torch.no_grad():
        y = teacher(x).argmax(dim=1)  # (2048,)：教师给出的类别
    return x, y
# --8<-- [end:data]


# --8<-- [start:block]
class Block(nn.Module):
    """两层 Linear + BN；residual=True 时把输入直接加到输出上：H(x) = F(x) + x。"""

    def __init__(self, width, residual):
        super().__init__()
        self.residual = residual
        self.f = nn.Sequential(
            nn.Linear(width, width), nn.BatchNorm1d(width), nn.ReLU(),
            nn.Linear(width, width), nn.BatchNorm1d(width),
        )

    def forward(self, x):  # (N, 32)
        out = self.f(x)  # (N, 32)
        if self.residual:
            out = out + x  # 恒等捷径（shortcut）：什么都不学，这一块就是恒等映射
        return F.relu(out)


def make_net(blocks, residual, width=WIDTH):
    return nn.Sequential(
        nn.Linear(N_INPUTS, width), nn.BatchNorm1d(width), nn.ReLU(),
        *[Block(width, residual) for _ in range(blocks)],
        nn.Linear(width, N_CLASSES),
    )
# --8<-- [end:block]


# --8<-- [start:gradients]
def linear_gradient_norms(model):
    """每个线性层权重梯度的范数，从输入端（第 1 层）排到输出端。"""
    return [m.weight.grad.norm().item() for m in model.modules() if isinstance(m, nn.Linear)]


def train(model, x, y, steps, generator):
    """小批量随机梯度下降（带动量），与 ResNet 论文一样；返回每一步的训练损失，以及每隔几步记下的各层梯度范数。"""
    optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    losses, gradients = [], {}
    for step in range(steps):
        index = torch.randint(0, len(x), (BATCH_SIZE,), generator=generator).to(x.device)  # 随机抽一个小批量
        loss = F.cross_entropy(model(x[index]), y[index])
        optimizer.zero_grad()
        loss.backward()
        if step % GRADIENT_EVERY == 0:
            gradients[step] = linear_gradient_norms(model)  # 第 0 步就是初始化时的梯度
        optimizer.step()
        losses.append(loss.item())
    return losses, gradients


@torch.no_grad()
def evaluate(model, x, y):
    """训练结束后在全部训练样本上的损失和准确率；评估模式下 BN 用训练中累计的均值和方差。"""
    model.eval()
    logits = model(x)  # (N, 10)
    result = F.cross_entropy(logits, y).item(), (logits.argmax(dim=1) == y).float().mean().item()
    model.train()
    return result
# --8<-- [end:gradients]


def compare_depths(seed, device, STEPS=STEPS, DEEP_BLOCKS=DEEP_BLOCKS, INNER_SEEDS=INNER_SEEDS):  # noqa: N803
    """页面上“更深的普通网络训练得更差”的实验。参数与超参数同名：快速模式传入更小的值。"""
    # --8<-- [start:depth_run]
    x, y = make_data(torch.Generator().manual_seed(seed))
    x, y = x.to(device), y.to(device)
    nets = {  # 名字: (块数, 是否有残差连接)
        f"普通网络，{2 * SHALLOW_BLOCKS + 2} 层": (SHALLOW_BLOCKS, False),
        f"普通网络，{2 * DEEP_BLOCKS + 2} 层": (DEEP_BLOCKS, False),
        f"残差网络，{2 * DEEP_BLOCKS + 2} 层": (DEEP_BLOCKS, True),
    }
    trained = {name: [] for name in nets}  # 每个网络、每个初始化：(每步的损失, 各层梯度范数, 最终损失, 准确率)
    for name, (blocks, residual) in nets.items():
        for k in range(INNER_SEEDS):
            torch.manual_seed(seed * 100 + k)  # 三个网络从同样的几个种子出发
            model = make_net(blocks, residual).to(device)
            losses, gradients = train(model, x, y, STEPS, torch.Generator().manual_seed(seed * 100 + k))
            loss, accuracy = evaluate(model, x, y)
            trained[name].append((losses, gradients, loss, accuracy))
            print(f"{name}，第 {k + 1} 个初始化：训练集损失 {loss:.3f}，准确率 {accuracy:.1%}")
    # --8<-- [end:depth_run]
    return trained


def smooth(values, window=25):
    kernel = torch.ones(window) / window
    return F.conv1d(torch.tensor(values)[None, None], kernel[None, None]).flatten()


# --8<-- [start:hessian]
def inspect_minimum(w, teacher):
    """一个停住的运行：终点的梯度范数，以及 Hessian 的最小特征值（全为正 ⇒ 严格局部极小值）。"""
    w = w.clone().requires_grad_()  # (n, d)
    (gradient,) = torch.autograd.grad(population_loss(w, teacher), w)
    hessian = torch.autograd.functional.hessian(lambda u: population_loss(u, teacher), w.detach())
    hessian = hessian.reshape(w.numel(), w.numel())  # (n·d, n·d)
    return gradient.norm().item(), torch.linalg.eigvalsh(hessian)[0].item()
# --8<-- [end:hessian]


def main(argv=None):
    parser = chapter_kit.chapter_parser(__file__, __doc__)
    run = chapter_kit.start(parser, argv)
    seed, device = run.seed, run.device  # --seed、--device 参数
    steps = QUICK_STEPS if run.quick else STEPS
    deep_blocks = QUICK_DEEP_BLOCKS if run.quick else DEEP_BLOCKS
    inner_seeds = QUICK_INNER_SEEDS if run.quick else INNER_SEEDS
    runs = QUICK_RUNS if run.quick else RUNS
    gd_steps = QUICK_GD_STEPS if run.quick else GD_STEPS

    # ---- 局部极小值：同一个网络，不同的初始化 ----
    teacher, final, gd_curves, students = compare_minima(seed, runs, gd_steps)
    # --8<-- [start:hessian_run]
    narrow, wide = STUDENT_WIDTHS
    stopped = (final[narrow] > TRAPPED).nonzero().flatten()[:HESSIAN_CHECKS].tolist()  # 停住的运行
    checks = [inspect_minimum(students[narrow][i], teacher) for i in stopped]
    for i, (gradient_norm, eigenvalue) in zip(stopped, checks, strict=True):
        loss = final[narrow][i].item()
        print(f"运行 {i}：损失 {loss:.4f}，梯度范数 {gradient_norm:.1e}，Hessian 最小特征值 {eigenvalue:.4f}")
    # --8<-- [end:hessian_run]
    trapped = {width: final[width] > TRAPPED for width in STUDENT_WIDTHS}
    reached = {width: final[width] < REACHED for width in STUDENT_WIDTHS}
    # 所有曲率都为正（λ_min > 0）时，按二次近似，附近那个极小值的损失不低于 L - |g|²/(2λ_min)；它仍高于 TRAPPED 才算数
    confirmed = [(g, e) for i, (g, e) in zip(stopped, checks, strict=True)
                 if e > 1e-3 and final[narrow][i] - g * g / (2 * e) > TRAPPED]

    fig, (left, right) = plt.subplots(1, 2, figsize=(7, 3.6), gridspec_kw={"width_ratios": [3, 2]})
    floor = 1e-12  # 双精度下到达全局最小值的运行损失在 1e-15 上下，画在这条线上
    for i in range(runs):
        color = "tab:red" if trapped[narrow][i] else "tab:blue"
        left.plot(gd_curves[narrow][i].clamp(min=floor), color=color, lw=0.8, alpha=0.6)
    left.plot([], [], color="tab:red", label=f"停在 > {TRAPPED:.0e}")
    left.plot([], [], color="tab:blue", label=f"降到 ≤ {TRAPPED:.0e}")
    left.legend(loc="upper right")
    left.set_yscale("log")
    left.set_ylim(floor / 3, 1e3)
    left.set_xlabel("梯度下降步数")
    left.set_ylabel(f"损失（对数坐标，< {floor:.0e} 画在 {floor:.0e}）")
    left.set_title(f"宽度 {narrow}：{runs} 个初始化")
    for j, width in enumerate(STUDENT_WIDTHS):
        offsets = torch.linspace(-0.25, 0.25, runs)
        colors = ["tab:red" if t else "tab:blue" for t in trapped[width]]
        right.scatter(j + offsets, final[width].clamp(min=floor), s=14, c=colors)
    right.axhline(TRAPPED, color="gray", ls="--", lw=1)
    right.set_yscale("log")
    right.set_xticks(range(len(STUDENT_WIDTHS)), [f"宽度 {w}" for w in STUDENT_WIDTHS])
    right.set_xlim(-0.6, len(STUDENT_WIDTHS) - 0.4)
    right.set_title(f"最终损失（虚线：{TRAPPED:.0e}）")
    fig.tight_layout()
    run.save_figure(fig, "minima")

    # ---- 退化问题：浅的普通网络、深的普通网络、深的残差网络 ----
    trained = compare_depths(seed, device, steps, deep_blocks, inner_seeds)

    def layers(blocks):
        return 2 * blocks + 2

    names = list(trained)
    curves, results, init_grads, train_grads = {}, {}, {}, {}
    for name, runs_of_net in trained.items():
        curves[name] = [losses for losses, _, _, _ in runs_of_net]
        results[name] = [(loss, accuracy) for _, _, loss, accuracy in runs_of_net]
        init_grads[name] = [torch.tensor(gradients[0]) for _, gradients, _, _ in runs_of_net]  # 第 0 步：初始化时
        train_grads[name] = [  # 训练的后一半的平均，(层数,)
            torch.tensor([g for step, g in gradients.items() if step >= steps // 2]).mean(dim=0)
            for _, gradients, _, _ in runs_of_net
        ]

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for (name, runs_of_net), color in zip(curves.items(), ("tab:blue", "tab:orange", "tab:green"), strict=True):
        for k, losses in enumerate(runs_of_net):
            ax.plot(range(25, len(losses) + 1), smooth(losses), color=color, lw=1.5,
                    label=name if k == 0 else None)
    ax.set_yscale("log")
    ax.set_xlabel("训练步数")
    ax.set_ylabel("训练损失（25 步滑动平均，对数坐标）")
    ax.set_title(f"退化问题：每个网络 {inner_seeds} 个初始化，更深的普通网络拟合得更差")
    ax.legend()
    run.save_figure(fig, "training_curves")

    fig, ax = plt.subplots(figsize=(7, 4))
    for name, color in zip(names[1:], ("tab:orange", "tab:green"), strict=True):
        index = range(1, len(init_grads[name][0]) + 1)
        ax.plot(index, init_grads[name][0], "--", color=color, lw=1.5, label=f"{name}：初始化时")
        ax.plot(index, train_grads[name][0], "-", color=color, lw=2, label=f"{name}：训练后一半的平均")
    ax.set_yscale("log")
    ax.set_xlabel("线性层（1 = 紧挨输入）")
    ax.set_ylabel("权重梯度的范数（对数坐标）")
    ax.set_title("各层的梯度（第一个初始化）")
    ax.legend(ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.14))  # 图例放在图下方，不挡曲线
    run.save_figure(fig, "gradient_norms")

    shallow, plain, residual = (torch.tensor([loss for loss, _ in results[n]]) for n in names)
    plain_init = torch.stack(init_grads[names[1]])  # (种子数, 层数)
    plain_train = torch.stack(train_grads[names[1]])
    explosion = plain_init[:, 0] / plain_init[:, -1]  # 第 1 层与最后一层梯度之比，每个种子一个
    train_ratio = plain_train[:, 0] / plain_train[:, -1]

    def summary(values):
        return f"{values.mean():.3f}（{values.min():.3f}～{values.max():.3f}）"

    trapped_losses = final[narrow][trapped[narrow]]
    # 只预测均值（常数）时的损失：Var(Σ relu(v_j·x)) / 2，教师的 k 个神经元互相独立，Var(relu(z)) = 1/2 - 1/(2π)
    mean_baseline = 0.5 * TEACHER * (0.5 - 1 / (2 * math.pi))
    run.record(
        teacher=TEACHER,
        narrow=narrow,
        wide=wide,
        runs=runs,
        gd_steps=gd_steps,
        gd_lr=GD_LR,
        hessian_max=HESSIAN_CHECKS,
        gradient_every=GRADIENT_EVERY,
        batch_size=BATCH_SIZE,
        trapped_threshold=f"{TRAPPED:.0e}",
        reached_threshold=f"{REACHED:.0e}",
        narrow_trapped=int(trapped[narrow].sum()),
        narrow_reached=int(reached[narrow].sum()),
        narrow_middle=runs - int(trapped[narrow].sum()) - int(reached[narrow].sum()),  # 损失在两道门槛之间的运行
        wide_trapped=int(trapped[wide].sum()),
        wide_max_loss=final[wide].max(),
        trapped_loss_min=trapped_losses.min() if len(trapped_losses) else float("nan"),
        trapped_loss_max=trapped_losses.max() if len(trapped_losses) else float("nan"),
        initial_loss=gd_curves[narrow][:, 0].mean(),
        hessian_checked=len(checks),
        hessian_confirmed=len(confirmed),
        confirmed_gradient_max=max((g for g, _ in confirmed), default=float("nan")),
        confirmed_eigenvalue_min=min((e for _, e in confirmed), default=float("nan")),
        mean_baseline=mean_baseline,
        trapped_vs_baseline=trapped_losses.max() / mean_baseline if len(trapped_losses) else float("nan"),
        wide_reached=int(reached[wide].sum()),
        steps=steps,
        n_samples=N_SAMPLES,
        n_inputs=N_INPUTS,
        n_classes=N_CLASSES,
        inner_seeds=inner_seeds,
        shallow_layers=layers(SHALLOW_BLOCKS),
        deep_layers=layers(deep_blocks),
        table=[{"网络": name, "训练集损失：平均（最小～最大）": summary(loss),
                "训练集准确率：平均": f"{torch.tensor([a for _, a in results[name]]).mean():.1%}"}
               for name, loss in zip(names, (shallow, plain, residual), strict=True)],
        shallow_loss=shallow.mean(),
        plain_loss=plain.mean(),
        residual_loss=residual.mean(),
        plain_first_gradient=plain_init[:, 0].mean(),
        plain_last_gradient=plain_init[:, -1].mean(),
        explosion_min=explosion.min(),
        explosion_max=explosion.max(),
        train_ratio_min=train_ratio.min(),
        train_ratio_max=train_ratio.max(),
        train_gradient_min=plain_train.min(),
        train_gradient_max=plain_train.max(),
    )

    def each(values, fmt=".3f"):
        return "、".join(f"{v:{fmt}}" for v in values.tolist())

    n_trapped, n_reached, n_wide = int(trapped[narrow].sum()), int(reached[narrow].sum()), int(trapped[wide].sum())
    run.claim("same_net_different_minima", n_trapped >= 3 and n_reached >= 3,
              f"宽度 {narrow}：{n_trapped}/{runs} 个运行最终损失 > {TRAPPED:.0e}，{n_reached}/{runs} 个 < {REACHED:.0e}，"
              f"两类都 ≥ 3 个")
    run.claim("strict_local_minima", len(confirmed) >= max(1, len(checks) / 2),
              f"检查的 {len(checks)} 个停住的运行中 {len(confirmed)} 个 Hessian 最小特征值 > 1e-3 且"
              f" L - |g|²/(2λ_min) > {TRAPPED:.0e}，≥ 一半")
    run.claim("wide_fewer_trapped", n_trapped >= 3 and 3 * n_wide <= n_trapped,
              f"停在 > {TRAPPED:.0e} 的运行：宽度 {wide} 有 {n_wide} 个，宽度 {narrow} 有 {n_trapped} 个，前者 ≤ 后者的 1/3")
    run.claim("deep_plain_worse", bool((plain > 2 * shallow).all()),
              f"各初始化的训练集损失（eval 模式）：{layers(deep_blocks)} 层普通网络 {each(plain)}，{layers(SHALLOW_BLOCKS)} 层 {each(shallow)}，"
              f"每个都 > 2 倍")
    run.claim("residual_fixes", bool((residual < plain / 2).all()),
              f"各初始化的训练集损失（eval 模式）：残差网络 {each(residual)}，同深度普通网络 {each(plain)}，每个都 < 一半")
    run.claim("plain_gradient_explodes_at_init", bool((explosion > 10).all()),
              f"初始化时普通网络第 1 层与最后一层的梯度范数之比 {each(explosion, '.0f')}，每个都 > 10")
    run.claim("plain_gradient_healthy_in_training", bool(((train_ratio > 0.1) & (train_ratio < 10)).all()),
              f"训练后一半普通网络第 1 层与最后一层的梯度范数之比 {each(train_ratio, '.2f')}，每个都在 0.1～10 之间")
    run.finish()


if __name__ == "__main__":
    main()
