"""``make bench``'s report (``tconv.tools.bench.runner.table``) on synthetic runs: every ratio is its
median over the runs with the spread, and the % of SGEMM column is per run against the SGEMM timed in
that row's own interleaving (the run's closing SGEMM only for rows recorded without one)."""

from __future__ import annotations

from tconv.tools.bench import runner


def _row(gflops, sgemm=None, tconv=1.0, torch=1.1, ort=1.2):
    row = dict(id="L1", name="DCGAN middle", op="conv_transpose", dtype="float32", channel_heavy=True,
               times={"tconv": tconv, "torch": torch, "ort": ort}, choice="native", scratch=0.5, err_torch=1e-7,
               err_64=2e-7, err_grad=3e-6, grad={"tconv": 1.0, "torch": 2.0}, gflops=gflops)
    if sgemm is not None:
        row["sgemm"] = sgemm
    return row


def _run(row, closing):
    return dict(rows=[row], tiny=None, after=None, sgemm_2048=closing)


def _line(report):
    return next(line for line in report.splitlines() if line.startswith("| L1 "))


def test_percent_of_sgemm_is_per_run_against_the_rows_own_sgemm():
    runs = [_run(_row(100, 125), 200), _run(_row(110, 110), 50), _run(_row(90, 150), 999)]
    cells = [c.strip() for c in _line(runner.table(runs)).split("|")]
    assert cells[9] == "100"  # GFLOP/s: the median over the runs
    assert cells[10] == "80% [60-100]"  # 100/125, 110/110, 90/150: the closing SGEMMs play no part
    assert "timed in each float32 row's interleaving" in runner.table(runs)


def test_rows_without_their_own_sgemm_use_the_runs_closing_one():
    runs = [_run(_row(100), 200), _run(_row(120, 100), 50)]
    cells = [c.strip() for c in _line(runner.table(runs)).split("|")]
    assert cells[10] == "85% [50-120]"  # 100/200 and 120/100


def test_ratios_are_medians_with_their_spread():
    runs = [_run(_row(100, 100, tconv=1.0, torch=1.5, ort=2.0), 100),
            _run(_row(100, 100, tconv=2.0, torch=1.8, ort=1.9), 100),
            _run(_row(100, 100, tconv=1.0, torch=1.2, ort=0.9), 100)]
    report = runner.table(runs)
    cells = [c.strip() for c in _line(report).split("|")]
    assert cells[6] == "0.90x [0.90-1.50]"  # the better peer over tconv per run: 1.5, 0.9, 0.9
    assert "channel-heavy rows (issue 18's targets): **0.90x**, 1/1 at >= 0.9x" in report
