"""Answer engine benchmark: `python -m benchmarks.bench_engine`.

Prints time per question (p50, p99) on the real content base and on a synthetic base of 5,000
entries, index build time for both, and the start-up time of `chonnghe ask` (a whole process).
Targets: p99 <= 2 ms (real), <= 20 ms (5,000 entries), start-up < 1.5 s.
"""

from __future__ import annotations

import random
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

from bot.content import Entry, load_content
from bot.engine import AnswerEngine

ROOT = Path(__file__).resolve().parent.parent
DEV = ROOT / "tests" / "data" / "dev-questions.tsv"

SYLLABLES = ("học nghề trường cao đẳng trung cấp sơ cấp hàn điện cơ khí ô tô kế toán may du lịch khách sạn "
             "điều dưỡng logistics cảng biển tàu thủy máy lạnh điện tử công nghệ thông tin nấu ăn làm đẹp "
             "học phí miễn giảm vay vốn hồ sơ xét tuyển điều kiện tuổi việc làm lương doanh nghiệp thi "
             "kỹ năng ngày hội tuyển sinh thời gian bằng cấp liên thông đại học phân luồng bộ đội nông thôn "
             "khuyết tật học bổng ký túc xá đăng ký hủy tư vấn dữ liệu").split()


def synthetic(n: int, seed: int = 7) -> list[Entry]:
    rng = random.Random(seed)
    entries = []
    for i in range(n):
        words = [rng.choice(SYLLABLES) for _ in range(6)]
        questions = tuple(
            " ".join(rng.sample(words, k=len(words))) + rng.choice(["", " không", " ở đâu", " thế nào"])
            for _ in range(8)
        )
        entries.append(Entry(f"syn.e{i:05d}", "faq", " ".join(words[:4]), questions, "x", "synthetic",
                             date(2026, 1, 1)))
    return entries


def questions() -> list[str]:
    lines = DEV.read_text(encoding="utf-8").splitlines()[1:]
    return [line.split("\t", 1)[1] for line in lines]


def timed(engine: AnswerEngine, qs: list[str], rounds: int) -> tuple[float, float]:
    samples = []
    for _ in range(rounds):
        for q in qs:
            t0 = time.perf_counter()
            engine.answer(q)
            samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return samples[len(samples) // 2], samples[int(len(samples) * 0.99)]


def build(entries: list[Entry]) -> tuple[AnswerEngine, float]:
    t0 = time.perf_counter()
    engine = AnswerEngine.build(entries)
    return engine, (time.perf_counter() - t0) * 1000


def startup(runs: int = 5) -> float:
    cmd = [sys.executable, "-m", "bot", "ask", "học nghề hàn ở đâu", "--content", str(ROOT / "content")]
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    qs = questions()
    real = list(load_content(ROOT / "content").entries.values())
    engine, build_ms = build(real)
    p50, p99 = timed(engine, qs, rounds=20)
    print(f"real base: {len(real)} entries, index build {build_ms:.1f} ms, "
          f"per question p50 {p50:.3f} ms, p99 {p99:.3f} ms ({len(qs)} questions x 20)")
    syn = synthetic(5000)
    engine, build_ms = build(syn)
    p50, p99 = timed(engine, qs, rounds=3)
    print(f"synthetic base: 5000 entries, index build {build_ms:.1f} ms, "
          f"per question p50 {p50:.3f} ms, p99 {p99:.3f} ms")
    print(f"start-up of `chonnghe ask` (whole process, median of 5): {startup():.2f} s")


if __name__ == "__main__":
    main()
