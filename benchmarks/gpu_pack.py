"""Fill .gpu/ with what benchmarks/gpu_study.py needs on the GPU machine, and check that it
travels: the device tool sends the working tree (tracked and untracked-not-ignored files)
plus the folders named in ``carry``, 64 MiB in all, and ../shared does not travel.

.gpu/ (ignored by git: .gitignore) gets
- datasets/cifar10/: the CIFAR-10 parquet files, copied (a link would travel as a link);
- wheels/: schedulefree, the one dependency the GPU image lacks (its version here; pure
  Python), installed there with ``pip install --no-index --target``.

    python benchmarks/gpu_pack.py                       # from ../shared/datasets
    python benchmarks/gpu_pack.py --check               # only measure what would travel

Prints the bytes that would travel and exits 1 when they pass the limit.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "datasets"
LIMIT = 64 * 2**20
#: Packages the GPU image lacks (KINDS.md lists what it has), carried as wheels.
WHEELS = ("schedulefree",)


def travel_bytes(repo: Path, carry: list[str]) -> dict[str, int]:
    """Bytes the device tool would send from ``repo``: {"tree": tracked and untracked files
    git does not ignore, "<path>": each carried path (its files, walked)}."""
    listed = subprocess.run(
        ["git", "-C", str(repo), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        check=True, capture_output=True,
    ).stdout.split(b"\0")  # fmt: skip
    tree = sum(p.lstat().st_size for name in listed if name and (p := repo / name.decode()).is_file())  # fmt: skip
    sizes = {"tree": tree}
    for path in carry:
        root = repo / path
        files = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        sizes[path] = sum(p.lstat().st_size for p in files)
    return sizes


def is_ignored(repo: Path, path: str) -> bool:
    return subprocess.run(["git", "-C", str(repo), "check-ignore", "-q", path]).returncode == 0


def pack(data_dir: Path, dest: Path) -> None:
    """Copy the CIFAR-10 parquet files and download the wheels into ``dest``."""
    target = dest / "datasets" / "cifar10"
    target.mkdir(parents=True, exist_ok=True)
    for parquet in sorted((data_dir / "cifar10").glob("*.parquet")):
        if not (target / parquet.name).is_file() or (target / parquet.name).stat().st_size != parquet.stat().st_size:  # fmt: skip
            shutil.copyfile(parquet, target / parquet.name)
    wheels = dest / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    for name in WHEELS:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                        "--only-binary=:all:", "--python-version", "3.12", "--implementation", "cp",
                        "--platform", "manylinux2014_x86_64", "-d", str(wheels),
                        f"{name}=={version(name)}"], check=True)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", default=str(SHARED), help="holds cifar10/ (parquet)")
    ap.add_argument("--check", action="store_true", help="only measure what would travel")
    args = ap.parse_args(argv)
    if not is_ignored(REPO, ".gpu/"):
        print(".gpu/ is not ignored by git: it would travel twice; add /.gpu/ to .gitignore")
        return 1
    if not args.check:
        pack(Path(args.data_dir), REPO / ".gpu")
    sizes = travel_bytes(REPO, [".gpu"])
    total = sum(sizes.values())
    for what, n in sizes.items():
        print(f"{what:<6} {n / 2**20:7.2f} MiB")
    print(f"total  {total / 2**20:7.2f} MiB of {LIMIT / 2**20:.0f} MiB")
    return 0 if total <= LIMIT else 1


if __name__ == "__main__":
    raise SystemExit(main())
