"""Answer engine benchmark: `python -m benchmarks.bench_engine`.

Prints the engine's main quality figure (5-fold cross-validation on the real content, the same as
`chonnghe eval --cross-validate 5`), and its mean over five assignments of questions to folds, with all
examples and with 5 per entry (`chonnghe eval --cross-validate 5 --repeats 5 [--examples 5]`), time per
question (p50, p99) on the real content base and on a
synthetic base of 5,000 entries, index build time for both (with the decision fitted, and read from
the cache), and the start-up time of `chonnghe ask` (a whole process, with and without the cached
decision). Questions are timed cold: the tokeniser's cache is cleared before each round. Each time is
given as wall time and as CPU time (the process's own, or the child's for start-up): on a shared,
loaded machine the CPU time is the figure that compares runs.
Targets: p99 <= 2 ms (real), <= 20 ms (5,000 entries), start-up < 1.5 s.
"""

from __future__ import annotations

import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from bot.content import Entry, load_content
from bot.engine import AnswerEngine, core
from bot.engine.crossval import cross_validate, repeated

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


def timed(engine: AnswerEngine, qs: list[str], rounds: int) -> tuple[float, float, float, float]:
    """p50 and p99 per question in ms: wall time, then CPU time."""
    wall, cpu = [], []
    for _ in range(rounds):
        core._tokens.cache_clear()
        for q in qs:
            t0, c0 = time.perf_counter(), time.process_time()
            engine.answer(q)
            cpu.append((time.process_time() - c0) * 1000)
            wall.append((time.perf_counter() - t0) * 1000)
    wall.sort()
    cpu.sort()
    return (wall[len(wall) // 2], wall[int(len(wall) * 0.99)], cpu[len(cpu) // 2], cpu[int(len(cpu) * 0.99)])


def build(entries: list[Entry], others: tuple[str, ...] = ()) -> tuple[AnswerEngine, float, float]:
    """The engine, its build CPU time with the decision and ranker fitted (no cache), and with both cached
    (in memory: ms)."""
    core._FIT_CACHE.clear()
    core._RANKER_CACHE.clear()
    core._tokens.cache_clear()
    AnswerEngine.DISK_CACHE = False
    c0 = time.process_time()
    engine = AnswerEngine.build(entries, others=others)
    fitted = (time.process_time() - c0) * 1000
    core._tokens.cache_clear()
    c0 = time.process_time()
    AnswerEngine.build(entries, others=others)  # the fitted decision comes from the cache, as on later starts
    return engine, fitted, (time.process_time() - c0) * 1000


def startup(runs: int = 5, cached: bool = True) -> tuple[float, float]:
    """Median wall time and median CPU time (user + system of the child) of `chonnghe ask`, in s."""
    cmd = [sys.executable, "-m", "bot", "ask", "học nghề hàn ở đâu", "--content", str(ROOT / "content")]
    times, cpus = [], []
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "CHONNGHE_CACHE_DIR": cache}
        if cached:
            subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT, env=env)  # fits and caches
        for n in range(runs):
            if not cached:
                env["CHONNGHE_CACHE_DIR"] = os.path.join(cache, str(n))
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT, env=env)
            times.append(time.perf_counter() - t0)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(times), statistics.median(cpus)


def main() -> None:
    qs = questions()
    base = load_content(ROOT / "content")
    real, others = list(base.entries.values()), base.others

    def engine_of(entries: list[Entry]) -> AnswerEngine:  # as `chonnghe eval --cross-validate` builds it
        return AnswerEngine.for_content(base, entries)

    t0 = time.perf_counter()
    cv = cross_validate(real, k=5, build=engine_of)
    print(f"cross-validation (5 folds, real content, {cv.asked} held-out questions): answered correctly "
          f"{cv.share(cv.correct):.3f}, declined {cv.share(cv.declined):.3f}, answered wrongly "
          f"{cv.share(cv.wrong):.3f}, first candidate right {cv.share(cv.first_right):.3f} "
          f"({time.perf_counter() - t0:.1f} s)")
    for examples in (None, 5):  # the honest figure: over five assignments of questions to folds
        t0 = time.perf_counter()
        cvs = repeated(real, k=5, repeats=5, examples=examples, build=engine_of)
        means = {name: statistics.mean(cv.share(getattr(cv, name)) for cv in cvs)
                 for name in ("correct", "declined", "wrong", "first_right")}
        worst = max(cv.share(cv.wrong) for cv in cvs)
        print(f"cross-validation, mean of 5 fold assignments{', 5 examples per entry' if examples else ''}: "
              f"answered correctly {means['correct']:.3f}, declined {means['declined']:.3f}, "
              f"answered wrongly {means['wrong']:.3f} (worst {worst:.3f}), "
              f"first candidate right {means['first_right']:.3f} "
              f"({time.perf_counter() - t0:.1f} s)")
    engine, fitted_ms, cached_ms = build(real, others)
    p50, p99, c50, c99 = timed(engine, qs, rounds=20)
    print(f"real base: {len(real)} entries, index build (CPU) {fitted_ms:.0f} ms with the decision fitted, "
          f"{cached_ms:.0f} ms with it cached; per question ({len(qs)} questions x 20, cold) wall p50 "
          f"{p50:.3f} ms, p99 {p99:.3f} ms; CPU p50 {c50:.3f} ms, p99 {c99:.3f} ms")
    syn = synthetic(5000)
    engine, fitted_ms, cached_ms = build(syn, others)
    p50, p99, c50, c99 = timed(engine, qs, rounds=3)
    print(f"synthetic base: 5000 entries, index build (CPU) {fitted_ms:.0f} ms with the decision fitted, "
          f"{cached_ms:.0f} ms with it cached; per question wall p50 {p50:.3f} ms, p99 {p99:.3f} ms; "
          f"CPU p50 {c50:.3f} ms, p99 {c99:.3f} ms")
    wall, cpu = startup()
    wall_fit, cpu_fit = startup(3, cached=False)
    print(f"start-up of `chonnghe ask` (whole process, median): {wall:.2f} s wall, {cpu:.2f} s CPU with the "
          f"decision cached; {wall_fit:.2f} s wall, {cpu_fit:.2f} s CPU fitting it "
          "(first start after a change)")


if __name__ == "__main__":
    main()
