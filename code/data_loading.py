"""数据加载：自己画一个小图片文件夹，用 ImageFolder 读回来，再演示 DataLoader 的分批、打乱、多进程和 collate_fn。"""

import tempfile  # 构建时把图片文件夹放进临时目录；页面上的代码放在当前目录下

# --8<-- [start:imports]
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from PIL import Image, ImageDraw
from torch.utils.data import DataLoader
from torchvision import transforms
from torchvision.datasets import ImageFolder
# --8<-- [end:imports]

import chapter_kit

# --8<-- [start:hyperparameters]
# 故意不按字母顺序创建文件夹：ImageFolder 给类别编号时按名字排序，与创建的先后无关
CLASSES = ("triangle", "square", "circle")
IMAGES_PER_CLASS = 8
MIN_SIZE, MAX_SIZE = 24, 40  # 图片边长故意各不相同，用来演示 collate_fn
BATCH_SIZE = 4
NUM_WORKERS = 2  # 读数据的子进程个数
root = Path("shapes")  # 图片文件夹放在哪里
seed = 0  # 随机种子：决定画出的图和打乱的顺序
# --8<-- [end:hyperparameters]


# --8<-- [start:folder]
def draw_shape(kind, size, generator):
    """在 size×size 的黑底上画一个白色的圆、正方形或三角形，位置和大小带一点随机。"""
    image = Image.new("L", (size, size), 0)
    pen = ImageDraw.Draw(image)
    margin = int(torch.randint(2, size // 4, (1,), generator=generator))
    box = (margin, margin, size - margin, size - margin)
    if kind == "circle":
        pen.ellipse(box, fill=255)
    elif kind == "square":
        pen.rectangle(box, fill=255)
    else:
        pen.polygon([(size // 2, margin), (margin, size - margin), (size - margin, size - margin)], fill=255)
    return image


def make_image_folder(root, generator):
    """ImageFolder 要求的目录结构：root/<类别名>/<任意文件名>.png，同一类的图放在同一个文件夹。"""
    for kind in CLASSES:
        (root / kind).mkdir(parents=True, exist_ok=True)
        for index in range(IMAGES_PER_CLASS):
            size = int(torch.randint(MIN_SIZE, MAX_SIZE + 1, (1,), generator=generator))
            draw_shape(kind, size, generator).save(root / kind / f"{index:02d}.png")
# --8<-- [end:folder]


# --8<-- [start:collate]
def pad_collate(batch):
    """把一个小批量里大小不同的图片补零到同样大小再堆叠；默认的 collate 只会 torch.stack，尺寸不同就报错。"""
    images, labels = zip(*batch, strict=True)
    height = max(image.shape[1] for image in images)
    width = max(image.shape[2] for image in images)
    padded = torch.zeros(len(images), 1, height, width)  # (N, 1, H_max, W_max)
    for i, image in enumerate(images):
        padded[i, :, : image.shape[1], : image.shape[2]] = image
    sizes = torch.tensor([image.shape[1:] for image in images])  # (N, 2)：原来的高和宽
    return padded, torch.tensor(labels), sizes
# --8<-- [end:collate]


def main(argv=None):
    parser = chapter_kit.chapter_parser(__file__, __doc__)
    run = chapter_kit.start(parser, argv)
    seed = run.seed  # --seed 参数

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "shapes"
        # --8<-- [start:make]
        generator = torch.Generator().manual_seed(seed)  # 画图和打乱顺序都用它：结果可以复现
        make_image_folder(root, generator)
        # --8<-- [end:make]

        # --8<-- [start:imagefolder]
        fixed_size = transforms.Compose(
            [
                transforms.Grayscale(),  # ImageFolder 默认的读图函数把每张图都转成 RGB（3 通道），这里转回单通道
                transforms.Resize((32, 32)),  # 统一尺寸，默认的 collate 才能把它们堆成一个小批量
                transforms.ToTensor(),  # (1, 32, 32)，数值缩放到 [0, 1]
            ]
        )
        dataset = ImageFolder(root, transform=fixed_size)
        image, label = dataset[0]  # 一个样本：(图片张量, 类别编号)
        # --8<-- [end:imagefolder]

        # --8<-- [start:loader]
        def epoch_labels(loader):
            """遍历一个迭代周期，把各个小批量的标签依次接起来。"""
            return [label for _, labels in loader for label in labels.tolist()]

        loader = DataLoader(dataset, batch_size=BATCH_SIZE, shuffle=True, generator=generator)
        images, labels = next(iter(loader))  # images: (4, 1, 32, 32)，labels: (4,)
        first_epoch, second_epoch = epoch_labels(loader), epoch_labels(loader)  # 每个迭代周期重新打乱

        ordered = DataLoader(dataset, batch_size=BATCH_SIZE, shuffle=False)
        parallel = DataLoader(dataset, batch_size=BATCH_SIZE, shuffle=False, num_workers=NUM_WORKERS)
        same_batches = all(
            torch.equal(a, b) and torch.equal(la, lb)
            for (a, la), (b, lb) in zip(ordered, parallel, strict=True)
        )  # 多进程只改变谁来读，不改变读到什么
        print(images.shape, labels.shape, same_batches)
        print(first_epoch)
        print(second_epoch)
        # --8<-- [end:loader]

        # --8<-- [start:variable]
        raw = ImageFolder(root, transform=transforms.Compose([transforms.Grayscale(), transforms.ToTensor()]))
        try:
            next(iter(DataLoader(raw, batch_size=BATCH_SIZE, shuffle=True, generator=generator)))
            default_collate_error = ""
        except RuntimeError as error:  # 默认的 collate 无法堆叠大小不同的张量
            default_collate_error = str(error).splitlines()[0]
        padded_loader = DataLoader(
            raw, batch_size=BATCH_SIZE, shuffle=True, generator=generator, collate_fn=pad_collate
        )
        padded, padded_labels, sizes = next(iter(padded_loader))
        print(default_collate_error)
        print(padded.shape, sizes.tolist())  # (4, 1, H_max, W_max)，各图原来的高和宽
        # --8<-- [end:variable]
        raw_sizes = sorted({tuple(raw[i][0].shape[1:]) for i in range(len(raw))})

    # --8<-- [start:figure]
    fig, axes = plt.subplots(1, BATCH_SIZE, figsize=(7, 2.4))  # 宽 7 英寸：页面上的字不小于 9 pt
    for ax, picture, target, (height, width) in zip(axes, padded, padded_labels, sizes.tolist(), strict=True):
        ax.imshow(picture[0].numpy(), cmap="gray", vmin=0, vmax=1)
        ax.add_patch(plt.Rectangle((-0.5, -0.5), width, height, fill=False, ec="tab:orange", lw=1.5))
        ax.set_title(f"{dataset.classes[target]}（{height}×{width}）", fontsize=9)
        ax.set_axis_off()
    fig.suptitle(f"pad_collate 补零后的小批量：{tuple(padded.shape)}，橙框是原图", fontsize=10)
    fig.tight_layout()
    plt.show()
    # --8<-- [end:figure]
    run.save_figure(fig, "padded_batch")

    same_samples = sorted(first_epoch) == sorted(second_epoch)
    largest = [max(h for h, _ in sizes.tolist()), max(w for _, w in sizes.tolist())]

    run.record(
        created_order=list(CLASSES),
        classes=dataset.classes,
        class_to_idx=dataset.class_to_idx,
        images_per_class=IMAGES_PER_CLASS,
        min_size=MIN_SIZE,
        max_size=MAX_SIZE,
        dataset_size=len(dataset),
        sample_shape=list(image.shape),
        sample_label=label,
        sample_path=Path(dataset.samples[0][0]).relative_to(root).as_posix(),
        batch_shape=list(images.shape),
        label_shape=list(labels.shape),
        batches_per_epoch=len(loader),
        first_epoch=first_epoch,
        second_epoch=second_epoch,
        num_workers=NUM_WORKERS,
        parallel_same_batches=same_batches,
        raw_size_count=len(raw_sizes),
        default_collate_error=default_collate_error,
        padded_shape=list(padded.shape),
        padded_sizes=sizes,
    )
    run.claim(
        "classes_sorted",
        dataset.classes == sorted(CLASSES) and dataset.classes != list(CLASSES),
        f"创建顺序 {list(CLASSES)}，ImageFolder 的类别 {dataset.classes}：按字母排序",
    )
    run.claim(
        "reshuffled",
        same_samples and first_epoch != second_epoch,
        f"两个迭代周期的标签顺序不同（{first_epoch != second_epoch}），但是同一组样本（{same_samples}）",
    )
    run.claim(
        "workers_same_batches",
        same_batches,
        f"num_workers={NUM_WORKERS} 与单进程逐批比较：{len(loader)} 个小批量全部相同 = {same_batches}",
    )
    run.claim(
        "default_collate_fails",
        bool(default_collate_error),
        f"默认 collate 在 {len(raw_sizes)} 种尺寸的图上报错：{default_collate_error or '（没有报错）'}",
    )
    run.claim(
        "padded_to_largest",
        list(padded.shape[2:]) == largest,
        f"补零后的高、宽 {list(padded.shape[2:])} = 这个小批量里原图的最大高、宽 {largest}",
    )
    run.finish()


if __name__ == "__main__":
    main()
