"""One epoch of the notes' CNN on real MNIST, two ways, on the same machine and in one run:

- notes:   the notes' own loop: torchvision's MNIST with transform=ToTensor(), a DataLoader
           with batch 50 and shuffle, tensors moved to the device batch by batch;
- chapter: the chapter's loop (code/mnist_cnn.py): the whole data set as one tensor on the
           device, batches by indexing.

Same network, optimiser and hyperparameters (Adam 1e-3, batch 50, 1 epoch). Each
measurement runs in a fresh process, so peak memory is its own; the two ways alternate,
and each is repeated. Prints epoch time, images per second, peak memory and test
accuracy (all 10 000 test images), their medians and the speed ratio.

    .venv/bin/python scripts/bench_mnist.py [--device auto|cpu|cuda] [--repeat 3] [--data DIR]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "code"))


def measure(way: str, device_name: str, data: Path, seed: int) -> dict:
    import torch
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    import chapter_kit
    import mnist_cnn
    from convolution import CNN

    if device_name == "auto":
        device_name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device_name)
    with chapter_kit.mnist_files(data):  # verify and extract once, outside the timing
        mnist_cnn.load_mnist(data)
    torch.manual_seed(seed)
    model = CNN().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=mnist_cnn.LR)

    if way == "notes":
        train = datasets.MNIST(str(data), train=True, transform=transforms.ToTensor())
        test = datasets.MNIST(str(data), train=False, transform=transforms.ToTensor())
        loader = DataLoader(
            train, batch_size=mnist_cnn.BATCH_SIZE, shuffle=True, generator=torch.Generator().manual_seed(seed)
        )
        model.train()
        with mnist_cnn.Stopwatch(device) as clock:
            for x, y in loader:
                x, y = x.to(device), y.to(device)
                loss = torch.nn.functional.cross_entropy(model(x), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        model.eval()
        correct = 0
        with torch.no_grad():
            for x, y in DataLoader(test, batch_size=1000):
                correct += (model(x.to(device)).argmax(1) == y.to(device)).sum().item()
        accuracy = correct / len(test)
        images = len(train)
    else:
        train_x, train_y, test_x, test_y = mnist_cnn.load_mnist(data)
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        with mnist_cnn.Stopwatch(device) as clock:  # the copy to the device counts as part of the epoch
            x, y = mnist_cnn.to_tensors(train_x, train_y, device, normalize=False)
            mnist_cnn.train_epoch(model, x, y, mnist_cnn.BATCH_SIZE, optimizer, torch.Generator().manual_seed(seed))
        xt, yt = mnist_cnn.to_tensors(test_x, test_y, device, normalize=False)
        accuracy = (mnist_cnn.predict(model, xt, 10000 if device.type == "cuda" else 1000) == yt).float().mean().item()
        images = len(x)
    return {
        "way": way,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU",
        "epoch_s": clock.seconds,
        "images_per_s": images / clock.seconds,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_cuda_mib": torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None,
        "accuracy": accuracy,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--data", type=Path, default=ROOT / "data")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--one", choices=("notes", "chapter"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.device, args.data, args.seed)))
        return

    runs: dict[str, list[dict]] = {"notes": [], "chapter": []}
    for round_ in range(args.repeat):
        for way in runs:
            command = [
                sys.executable,
                __file__,
                "--one",
                way,
                "--device",
                args.device,
                "--data",
                str(args.data),
                "--seed",
                str(args.seed + round_),
            ]
            result = subprocess.run(command, capture_output=True, text=True)
            if result.returncode != 0:
                sys.exit(result.stderr[-2000:])
            runs[way].append(json.loads(result.stdout.strip().splitlines()[-1]))
            r = runs[way][-1]
            print(f"round {round_ + 1} {way:8} {r['epoch_s']:7.2f} s  {r['accuracy']:.2%}", flush=True)

    print(f"\nOne epoch of the notes' CNN on {runs['notes'][0]['device']}, median of {args.repeat} runs each")
    print(f"{'loop':<10}{'epoch':>10}{'images/s':>11}{'peak RSS':>11}{'peak CUDA':>11}{'accuracy':>10}")
    medians = {}
    for way, results in runs.items():
        medians[way] = {
            key: statistics.median(r[key] for r in results)
            for key in ("epoch_s", "images_per_s", "peak_rss_mib", "accuracy")
        }
        cuda = [r["peak_cuda_mib"] for r in results if r["peak_cuda_mib"] is not None]
        cuda_text = f"{statistics.median(cuda):.0f} MiB" if cuda else "—"
        m = medians[way]
        print(
            f"{way:<10}{m['epoch_s']:>9.2f}s{m['images_per_s']:>11.0f}{m['peak_rss_mib']:>8.0f} MiB"
            f"{cuda_text:>11}{m['accuracy']:>10.2%}"
        )
    print(f"speed-up (notes epoch / chapter epoch): {medians['notes']['epoch_s'] / medians['chapter']['epoch_s']:.2f}×")


if __name__ == "__main__":
    main()
