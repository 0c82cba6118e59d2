"""自动求导：笔记里的 Variable 例子在今天的 PyTorch 中怎么写，以及 backward(v) 为什么是向量–雅可比积。"""

# --8<-- [start:imports]
import matplotlib.pyplot as plt
import torch
from torch.autograd import Variable
# --8<-- [end:imports]

import chapter_kit

# --8<-- [start:hyperparameters]
V = [1.0, 0.1, 20.0]  # 笔记里传给 backward 的向量
N_PLOT = 200  # 画导数曲线用的点数
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
# --8<-- [end:hyperparameters]
# 以下只供构建核对结论，页面上不展示
EXACT_TOL = 1e-5  # 自动求导与手算结果最多相差多少算“一致”（只有 float32 的舍入误差）


# --8<-- [start:vjp]
def f(x):
    """一个雅可比矩阵不是对角阵的函数：R^3 -> R^3。"""
    return torch.stack([x[0] * x[1], x[1] ** 2, torch.sin(x[2]) * x[0]])


def vjp_by_backward(x, v):
    x = x.detach().clone().requires_grad_(True)
    f(x).backward(v)
    return x.grad


def vjp_by_jacobian(x, v):
    jacobian = torch.autograd.functional.jacobian(f, x)  # (3, 3)，第 i 行是 f_i 的梯度
    return v @ jacobian  # (3,)
# --8<-- [end:vjp]


def main(argv=None):
    parser = chapter_kit.chapter_parser(__file__, __doc__)
    run = chapter_kit.start(parser, argv)
    device = run.device  # --device 参数选的设备

    # --8<-- [start:notes]
    x = torch.randn(3, requires_grad=True, device=device)  # 需要求导的张量；以前要包一层 Variable
    y = x * 2  # (3,)

    y.backward(torch.tensor(V, device=device))  # y 不是标量：传入向量 v，得到 v 与雅可比矩阵的乘积
    print(x.grad)  # 2v
    print(y.grad_fn)  # y 记得自己是由乘法得到的
    # --8<-- [end:notes]
    by_hand = 2 * torch.tensor(V, device=device)  # y = 2x 的雅可比矩阵是 2I，所以 v^T J = 2v

    # --8<-- [start:legacy]
    legacy = Variable(torch.randn(3), requires_grad=True)  # 旧写法仍能运行，只是为了兼容旧代码
    print(type(legacy), legacy.requires_grad)  # 得到的就是一个 requires_grad=True 的张量
    # --8<-- [end:legacy]

    # --8<-- [start:vjp_run]
    point = torch.tensor([1.0, 2.0, 0.5], device=device)
    v = torch.tensor(V, device=device)
    by_backward = vjp_by_backward(point, v)
    by_jacobian = vjp_by_jacobian(point, v)
    print(by_backward, by_jacobian)  # 两种算法得到同一个 v^T J
    # --8<-- [end:vjp_run]
    # 手算：J = [[x1, x0, 0], [0, 2 x1, 0], [sin x2, 0, x0 cos x2]]
    x0, x1, x2 = point
    jacobian_by_hand = torch.stack(
        [
            torch.stack([x1, x0, torch.zeros_like(x0)]),
            torch.stack([torch.zeros_like(x0), 2 * x1, torch.zeros_like(x0)]),
            torch.stack([torch.sin(x2), torch.zeros_like(x0), x0 * torch.cos(x2)]),
        ]
    )
    # “各分量的梯度各自乘上对应的值”：只取雅可比矩阵的对角线，v_i · ∂f_i/∂x_i
    elementwise = v * torch.diagonal(jacobian_by_hand)

    # --8<-- [start:accumulate]
    w = torch.tensor(3.0, requires_grad=True, device=device)
    (w**2).backward()
    first = w.grad.item()  # 2w = 6
    (w**2).backward()  # 不清零，第二次的梯度会加到第一次上
    second = w.grad.item()  # 12
    w.grad.zero_()  # optimizer.zero_grad() 做的就是这件事
    print(first, second)
    # --8<-- [end:accumulate]

    # --8<-- [start:derivative]
    grid = torch.linspace(-2, 2, N_PLOT, requires_grad=True, device=device)  # (200,)
    (grid**3).sum().backward()  # 各点互不影响：对和求梯度，得到的就是每一点上的导数
    xs, slope = grid.detach().cpu().numpy(), grid.grad.cpu().numpy()
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    ax.plot(xs, xs**3, label="f(x) = x³")
    ax.plot(xs, slope, lw=4, alpha=0.5, label="自动求导得到的 f′(x)")
    ax.plot(xs, 3 * xs**2, "k--", lw=1, label="手推的 3x²")
    ax.axhline(0, c="gray", lw=0.5)
    ax.legend()
    ax.set_title("自动求导与手推导数")
    plt.show()
    # --8<-- [end:derivative]
    run.save_figure(fig, "derivative")

    notes_error = (x.grad - by_hand).abs().max().item()
    vjp_error = (by_backward - v @ jacobian_by_hand).abs().max().item()
    jacobian_error = (by_jacobian - v @ jacobian_by_hand).abs().max().item()
    elementwise_gap = (elementwise - v @ jacobian_by_hand).abs().max().item()
    derivative_error = (grid.grad - 3 * grid.detach() ** 2).abs().max().item()
    run.record(
        notes_grad=x.grad,
        notes_grad_by_hand=by_hand,
        notes_error=notes_error,
        y_grad_fn=type(y.grad_fn).__name__,
        variable_type=f"{type(legacy).__module__}.{type(legacy).__name__}",
        vjp_backward=by_backward,
        vjp_jacobian=by_jacobian,
        vjp_by_hand=v @ jacobian_by_hand,
        vjp_max_error=vjp_error,
        jacobian_max_error=jacobian_error,
        vjp_elementwise=elementwise,
        elementwise_gap=elementwise_gap,
        exact_tol=EXACT_TOL,
        accumulate_first=first,
        accumulate_second=second,
        derivative_max_error=derivative_error,
        n_plot=N_PLOT,
    )
    run.claim(
        "notes_grad_is_2v",
        notes_error < EXACT_TOL,
        f"笔记例子的 x.grad 与手算的 2v 最多相差 {notes_error:.1e} < {EXACT_TOL:.0e}",
    )
    run.claim(
        "variable_is_tensor",
        type(legacy) is torch.Tensor and legacy.requires_grad,
        f"Variable(...) 返回的对象类型是 {type(legacy).__module__}.{type(legacy).__name__}，"
        f"requires_grad = {legacy.requires_grad}",
    )
    run.claim(
        "vjp_matches_hand",
        max(vjp_error, jacobian_error) < EXACT_TOL,
        f"backward(v) 与手算的 vᵀJ 最多相差 {vjp_error:.1e}，先求雅可比矩阵再相乘的最多相差 {jacobian_error:.1e}，"
        f"都 < {EXACT_TOL:.0e}",
    )
    run.claim(
        "elementwise_is_wrong",
        elementwise_gap > 0.5,
        f"“逐个相乘” v_i·∂f_i/∂x_i 与 vᵀJ 最多相差 {elementwise_gap:.2f} > 0.5",
    )
    run.claim(
        "grad_accumulates",
        second == 2 * first,
        f"第一次 backward 后 w.grad = {first:g}，不清零再来一次 = {second:g} = 2 × {first:g}",
    )
    run.claim(
        "derivative_matches_hand",
        derivative_error < EXACT_TOL,
        f"{N_PLOT} 个点上自动求导与 3x² 最多相差 {derivative_error:.1e} < {EXACT_TOL:.0e}",
    )
    run.finish()


if __name__ == "__main__":
    main()
