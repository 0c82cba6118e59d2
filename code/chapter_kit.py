"""章节脚本共用的运行时：命令行参数、随机种子、设备、输出目录，以及图、动画和结果的保存。

每个章节脚本都是同一个形状::

    parser = chapter_kit.chapter_parser(__file__, __doc__)
    parser.add_argument(...)            # 本章自己的参数
    run = chapter_kit.start(parser, argv)
    ...                                 # 训练、画图：run.device、run.quick、run.save_figure(...)
    run.record(final_loss=...)          # 页面引用的数字
    run.claim("loss_falls", ...)        # 页面上一句话所说的结论，以及核对它的数值
    run.finish()                        # 写出 results.json

导入本模块不做任何事；一切都发生在 start() 里。
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import gzip
import hashlib
import importlib.util
import itertools
import json
import os
import platform
import random
import re
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

RESULTS_FILE = "results.json"
DEFAULT_SEED = 0
MAX_SEED = 2**32 - 1  # numpy 的随机数生成器只接受 0 到 2**32 - 1 的种子
# 数据根目录：--data 参数 > 环境变量 PTNOTES_DATA > 项目里被 git 忽略的 data/
DATA_ENV = "PTNOTES_DATA"
DEFAULT_DATA_ROOT = Path(__file__).resolve().parent.parent / "data"
MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
FIGURE_DPI = 120
# 页面正文栏的宽度（CSS 像素，Material 主题在 1280 像素宽的窗口里）：更宽的图会被缩小显示
COLUMN_PX = 688
# 动画另存一份 AVIF（AV1 编码）：同样的帧，画线的动画不到 GIF 的一半大，与 GIF 的帧相比 PSNR 在 45 dB 以上（看不出差别）
AVIF_QUALITY = 90
CJK_FONT_FILE = "NotoSansCJKsc-Regular.otf"  # 由 PyPI 包 mplfonts 携带，SIL OFL 许可
CJK_FONT_NAME = "Noto Sans CJK SC"


class ChineseHelpFormatter(argparse.HelpFormatter):
    def add_usage(self, usage, actions, groups, prefix=None):
        super().add_usage(usage, actions, groups, prefix="用法：" if prefix is None else prefix)

    def format_help(self):
        # argparse 在分组标题后加英文冒号：“选项:” -> “选项：”
        return re.sub(r"^(\S[^\n]*?):\n", "\\1：\n", super().format_help(), flags=re.MULTILINE)


# argparse 自己的英文提示（Python 3.11 的原文）及其中文；其余部分（参数名、取值）原样保留
ARGPARSE_MESSAGES = (
    (re.compile(r"^argument (\S+): "), r"参数 \1："),
    (re.compile(r"invalid choice: (.+) \(choose from (.+)\)$"), r"无效的取值 \1（可选：\2）"),
    (re.compile(r"^unrecognized arguments: "), "无法识别的参数："),
    (re.compile(r"expected one argument$"), "需要一个值"),
    (re.compile(r"^the following arguments are required: "), "缺少必需的参数："),
    (re.compile(r"ignored explicit argument (.+)$"), r"不接受取值 \1"),
)


class ChapterArgumentParser(argparse.ArgumentParser):
    """帮助和错误信息全是中文；参数错误时只打印一行并以退出码 2 结束，不打印整段用法。"""

    def __init__(self, **kwargs):
        super().__init__(formatter_class=ChineseHelpFormatter, add_help=False, **kwargs)
        self._positionals.title = "位置参数"
        self._optionals.title = "选项"
        self.add_argument("-h", "--help", action="help", default=argparse.SUPPRESS, help="显示这段帮助并退出")

    def error(self, message: str):
        for pattern, chinese in ARGPARSE_MESSAGES:
            message = pattern.sub(chinese, message)
        self.exit(2, f"{self.prog}：错误：{message}\n")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"需要正整数，得到 {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"需要正整数，得到 {value}")
    return value


def seed_value(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"需要 0 到 {MAX_SEED} 之间的整数，得到 {text!r}") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"需要 0 到 {MAX_SEED} 之间的整数，得到 {value}")
    return value


def chapter_parser(script: str, doc: str | None) -> ChapterArgumentParser:
    """所有章节共有的参数：--device、--quick、--seed、--out。"""
    name = Path(script).stem
    parser = ChapterArgumentParser(
        prog=f"{name}.py",
        description=(doc or "").strip().splitlines()[0] if doc else None,
    )
    parser.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default="auto",
        help="auto：有 CUDA 就用 GPU，否则用 CPU（默认 auto）",
    )
    parser.add_argument("--quick", action="store_true", help="快速模式：更少的步数，用于预览和测试")
    parser.add_argument("--seed", type=seed_value, default=DEFAULT_SEED, help=f"随机种子（默认 {DEFAULT_SEED}）")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"图和 {RESULTS_FILE} 的输出目录（默认 outputs/{name}）",
    )
    parser.set_defaults(chapter=name)
    return parser


def add_data_argument(parser: argparse.ArgumentParser) -> None:
    """读数据集的章节加上 --data 参数。"""
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help=f"数据根目录（默认取环境变量 {DATA_ENV}，再不然是项目的 data/）",
    )


def data_root(args: argparse.Namespace) -> Path:
    return args.data or Path(os.environ.get(DATA_ENV) or DEFAULT_DATA_ROOT)


@dataclass
class Run:
    """一次章节运行：设备、模式、输出目录、解析后的参数，以及记录下来的结果。"""

    chapter: str
    device: torch.device  # noqa: F821 - torch 只在 start() 里导入
    quick: bool
    seed: int
    out: Path
    args: argparse.Namespace
    results: dict = field(default_factory=dict)
    claims: dict = field(default_factory=dict)
    figures: list[str] = field(default_factory=list)
    figure_text_pt: dict = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)

    def save_figure(self, fig, name: str) -> Path:
        import matplotlib.pyplot as plt

        path = self.out / f"{name}.png"
        fig.savefig(path, dpi=FIGURE_DPI, bbox_inches="tight", facecolor="white")
        self.figure_text_pt[path.name] = _smallest_text_on_page(fig, path, FIGURE_DPI)
        plt.close(fig)
        self.figures.append(path.name)
        return path

    def animation(self, fig, name: str, frame_ms: int = 100) -> Animation:
        return Animation(self, fig, name, frame_ms)

    def record(self, **values) -> None:
        """记录页面要引用的数字；张量和 numpy 标量都转成 Python 数。"""
        for key, value in values.items():
            self.results[key] = _plain(value)

    def claim(self, name: str, holds, check: str) -> None:
        """记录一条结论：页面上某句话说的事，在这次运行里是否成立，以及核对时比较的数值。

        ``check`` 写出比较本身，例如 ``f"RNN 的准确率 {acc:.1%} ≤ 35%"``。结论不成立时脚本照常结束；
        由构建决定怎么处理（完整模式下构建失败，并指出是哪一页的哪句话）。
        """
        if not name.isidentifier():
            raise ValueError(f"结论的名字必须是标识符，而不是 {name!r}")
        if name in self.claims:
            raise ValueError(f"结论 {name} 记录了两次")
        self.claims[name] = {"holds": bool(holds), "check": check}

    def finish(self) -> Path:
        import torch

        meta = {
            "device": self.device.type,
            "device_name": _device_name(self.device),
            "torch": torch.__version__.split("+")[0],
            "python": platform.python_version(),
            "mode": "quick" if self.quick else "full",
            "seed": self.seed,
            "threads": torch.get_num_threads(),
            "wall_time_s": round(time.perf_counter() - self.started, 3),
            "figure_text_pt": self.figure_text_pt,
        }
        if self.device.type == "cuda":
            meta["cuda_peak_memory_bytes"] = torch.cuda.max_memory_allocated(self.device)
        document = {
            "chapter": self.chapter,
            "results": self.results,
            "claims": self.claims,
            "figures": self.figures,
            "meta": meta,
        }
        path = self.out / RESULTS_FILE
        path.write_text(json.dumps(document, ensure_ascii=False, indent=2), encoding="utf-8")
        print(f"{self.chapter}: 结果已写入 {path}（{meta['wall_time_s']:.1f} s，{meta['device_name']}）")
        return path


class Animation:
    """把笔记里 plt.ion() + plt.pause() 的“实时重画”录成 GIF 和同样帧的 AVIF（见 record_pauses、save）。"""

    def __init__(self, run: Run, fig, name: str, frame_ms: int):
        self.run, self.fig, self.name, self.frame_ms = run, fig, name, frame_ms
        self.frames = []
        self._listening = None

    def record_pauses(self, every: int = 1) -> None:
        """录下页面代码里 plt.pause() 的重画（每 every 次录一帧），页面上的循环因此保持笔记的样子。

        plt.pause() 重画图时 matplotlib 发出 draw_event，这时画布上正是这一帧；构建里 plt.pause()
        只重画，不真的停 0.1 秒。
        """
        from PIL import Image

        draws = itertools.count()

        def on_draw(event):
            if next(draws) % every == 0:
                self.frames.append(Image.fromarray(_canvas_rgb(self.fig)))

        self._listening = self.fig.canvas.mpl_connect("draw_event", on_draw)
        self.fig.canvas.start_event_loop = lambda timeout=0: None

    def save(self) -> Path:
        import matplotlib.pyplot as plt
        from PIL import features

        if self._listening is not None:  # saving draws the figure again: not a frame
            self.fig.canvas.mpl_disconnect(self._listening)
        if len(self.frames) < 2:
            raise ValueError(f"动画 {self.name} 只有 {len(self.frames)} 帧")
        path = self.run.out / f"{self.name}.gif"
        first, *rest = self.frames
        # 最后一帧多停一会儿，读者能看清最终结果
        durations = [self.frame_ms] * (len(self.frames) - 1) + [self.frame_ms * 15]
        first.save(path, save_all=True, append_images=rest, duration=durations, loop=0, optimize=True)
        # 页面优先显示 AVIF，GIF 留给不认识 AVIF 的浏览器和笔记本；4:4:4 保住细线和文字的颜色。
        # 旧版或不带 libavif 的 Pillow（例如别处的笔记本环境）写不了 AVIF：那就只有 GIF，页面照样显示 GIF
        if features.check("avif"):
            first.save(path.with_suffix(".avif"), save_all=True, append_images=rest, duration=durations, loop=0,
                       quality=AVIF_QUALITY, subsampling="4:4:4", speed=4)
        self.run.figure_text_pt[path.name] = _smallest_text_on_page(self.fig, path, self.fig.dpi)
        plt.close(self.fig)
        self.run.figures.append(path.name)
        return path


def _smallest_text_on_page(fig, image: Path, dpi: float) -> float:
    """图中最小的字在页面上显示出来是多少磅（CSS 的 pt）：比正文栏宽的图会被缩小。"""
    from matplotlib.text import Text
    from PIL import Image

    sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    with Image.open(image) as picture:
        width_px = picture.width
    shrink = min(1.0, COLUMN_PX / width_px)
    return round(min(sizes, default=99.0) * dpi / 96 * shrink, 2)  # 1 pt = dpi/72 像素，CSS 里 1 pt = 96/72 像素


def _canvas_rgb(fig):
    import numpy as np

    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


def _plain(value):
    if hasattr(value, "tolist"):  # torch.Tensor、numpy 数组与标量
        value = value.tolist()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    raise TypeError(f"无法记录 {type(value).__name__} 类型的结果")


def _device_name(device) -> str:
    import torch

    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"CPU（{line.split(':', 1)[1].strip()}，{os.cpu_count()} 核）"
    except OSError:
        pass
    return f"CPU（{platform.processor() or platform.machine()}，{os.cpu_count()} 核）"


def _prepare_output(parser: argparse.ArgumentParser, out: Path) -> Path:
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        parser.error(f"无法写入输出目录 {out}：{exc.strerror or exc}")
    return out


def _configure_matplotlib() -> None:
    import matplotlib

    # 图只由这里的设置决定：读者或构建机器上的 matplotlibrc（工作目录里的、配置目录里的）都不起作用
    matplotlib.rcdefaults()
    matplotlib.use("Agg")
    from matplotlib import font_manager

    spec = importlib.util.find_spec("mplfonts")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("缺少中文字体包 mplfonts：请先 pip install -r requirements.txt")
    font_file = Path(spec.submodule_search_locations[0]) / "fonts" / CJK_FONT_FILE
    font_manager.fontManager.addfont(str(font_file))
    matplotlib.rcParams.update(
        {
            "font.family": "sans-serif",
            "font.sans-serif": [CJK_FONT_NAME, "DejaVu Sans"],
            "axes.unicode_minus": False,
            "figure.facecolor": "white",
            "savefig.facecolor": "white",
        }
    )
    # 缺字时 matplotlib 只发警告、画出方框；这里把它变成错误，坏图不会混进站点。
    warnings.filterwarnings("error", message=r"Glyph .* missing from", category=UserWarning)


def seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # 也为所有 CUDA 设备设种子


def start(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> Run:
    """解析参数，检查设备与输出目录，设随机种子，配置 matplotlib，返回 Run。"""
    args = parser.parse_args(argv)
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda：这台机器上没有可用的 CUDA 设备（可用 --device cpu 或 auto）")
    device_type = "cuda" if args.device == "auto" and torch.cuda.is_available() else args.device
    device = torch.device("cpu" if device_type == "auto" else device_type)
    out = _prepare_output(parser, args.out or Path("outputs") / args.chapter)
    seed_everything(args.seed)
    _configure_matplotlib()
    mode = "快速模式" if args.quick else "完整模式"
    print(f"{args.chapter}: {mode}，设备 {device}，种子 {args.seed}，输出到 {out}", file=sys.stderr)
    return Run(chapter=args.chapter, device=device, quick=args.quick, seed=args.seed, out=out, args=args)


class DataError(SystemExit):
    """数据缺失或损坏。它是 SystemExit：脚本退出码为 1，只打印这段话，不打印 traceback。"""


def _idx_size(path: Path) -> int | None:
    """按 IDX 文件头算出完整文件应有的字节数（uint8 数据）；读不了头就返回 None。"""
    with path.open("rb") as handle:
        header = handle.read(4)
        if len(header) < 4:
            return None
        dims = header[3]
        shape = handle.read(4 * dims)
    if len(shape) < 4 * dims:
        return None
    count = 1
    for i in range(dims):
        count *= int.from_bytes(shape[4 * i : 4 * i + 4], "big")
    return 4 + 4 * dims + count


EXTRACTION_STAMP = ".extracted.json"


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _same_as_archive(extracted: Path, archive: Path) -> bool:
    """解压 .gz，与已解压的文件逐字节比较（.gz 损坏时返回 False）。"""
    try:
        with gzip.open(archive, "rb") as source, extracted.open("rb") as copy:
            while True:
                block = source.read(1 << 20)
                if block != copy.read(len(block)):
                    return False
                if not block:
                    return copy.read(1) == b""
    except (OSError, EOFError):
        return False


def _drop_stale_extractions(raw: Path) -> None:
    """torchvision 看到解压后的文件就直接读取，既不核对 .gz 的 MD5，也不重新解压。这里保证它读到的就是
    .gz 里的内容：解压到一半的、被改过的、和 .gz 对不上的文件都删掉，由 torchvision 核对 .gz 后重新解压。
    核对过的文件记在 MNIST/.extracted.json 里（.gz 的 MD5、解压文件的大小和修改时间），没有变化就不再解压比较。"""
    stamp_path = raw.parent / EXTRACTION_STAMP
    stamps = _read_stamps(stamp_path)
    for name in MNIST_FILES:
        archive, extracted = raw / name, raw / name.removesuffix(".gz")
        if not extracted.is_file():
            continue
        if _idx_size(extracted) != extracted.stat().st_size:
            extracted.unlink()  # 上次解压到一半被打断
            continue
        if not archive.is_file():
            continue  # 只有解压后的文件：像 torchvision 一样直接用
        seen = _stamp(archive, extracted)
        if stamps.get(extracted.name) == seen:
            continue
        if _same_as_archive(extracted, archive):
            stamps[extracted.name] = seen
        else:
            extracted.unlink()
            stamps.pop(extracted.name, None)
    _write_stamps(stamp_path, stamps)


def _stamp(archive: Path, extracted: Path) -> dict:
    """一个解压文件的记录：它来自哪个 .gz（MD5），以及核对时它的大小和修改时间。"""
    state = extracted.stat()
    return {"archive_md5": _md5(archive), "size": state.st_size, "mtime_ns": state.st_mtime_ns}


def _read_stamps(stamp_path: Path) -> dict:
    try:
        return json.loads(stamp_path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}


def _write_stamps(stamp_path: Path, stamps: dict) -> None:
    tmp = stamp_path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(stamps, indent=1), "utf-8")
    os.replace(tmp, stamp_path)


def _stamp_new_extractions(raw: Path) -> None:
    stamp_path = raw.parent / EXTRACTION_STAMP
    stamps = _read_stamps(stamp_path)
    for name in MNIST_FILES:
        archive, extracted = raw / name, raw / name.removesuffix(".gz")
        if archive.is_file() and extracted.is_file() and extracted.name not in stamps:
            stamps[extracted.name] = _stamp(archive, extracted)
    _write_stamps(stamp_path, stamps)


@contextlib.contextmanager
def _exclusive(lock_file: Path):
    """同一数据目录同一时刻只有一个进程在核对、解压和读取（两章并行运行时也一样）。"""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with lock_file.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _describe_mnist_files(raw: Path) -> str:
    from torchvision.datasets import MNIST
    from torchvision.datasets.utils import check_integrity

    lines = []
    for name, md5 in MNIST.resources:
        path = raw / name
        if not path.is_file():
            state = "缺失"
        elif not check_integrity(str(path), md5):
            state = "校验和不符：文件损坏或不完整，请换一份"
        else:
            state = "完好"
        lines.append(f"  {name}（{state}）")
    return "\n".join(lines)


@contextlib.contextmanager
def mnist_files(root: Path):
    """章节读 MNIST 的代码（页面上那段 torchvision 的写法）在这里面运行。

    它负责页面不必讲的事：同一数据目录一次只让一个进程核对和解压；先删掉与 .gz 不符的
    解压文件（例如上次解压到一半被中断）；读不到数据时给出一条说明缺哪些文件的错误，而不是
    torchvision 的长串异常。
    """
    raw = Path(root) / "MNIST" / "raw"
    try:
        with _exclusive(Path(root) / "MNIST" / ".lock"):
            if raw.is_dir():
                _drop_stale_extractions(raw)
            yield
            _stamp_new_extractions(raw)
    except (RuntimeError, OSError, ValueError, EOFError) as error:
        reason = str(error).strip().splitlines()[-1][:200]
        raise DataError(
            f"找不到可用的 MNIST 数据，下载也失败了（{reason}）。\n"
            f"请把下面四个文件放到 {raw}/ 后重新运行：\n{_describe_mnist_files(raw)}\n"
            f"也可以用 --data 或环境变量 {DATA_ENV} 指向已有这些文件的数据根目录。"
        ) from None


def progress(iterable, **kwargs):
    """训练循环的进度条；输出不是终端时（例如构建日志）自动关闭。"""
    from tqdm.auto import tqdm

    return tqdm(iterable, disable=None, leave=False, dynamic_ncols=True, **kwargs)
