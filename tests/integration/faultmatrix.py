"""What the fault matrices share (test_renewal_faults.py for PKCS#11,
test_skf_renewal_faults.py for SKF, and the same two over an enrollment's
install: test_enrollment_faults.py, test_skf_enrollment_faults.py): reading
the call log a fault module or library writes (one line per call, the
function's name first), killing the daemon where a call hangs, which calls a
run goes over, and running the cases (run_matrix).

KB_FAULT_MATRIX=sample (set by tests/integration/meson.build in the
sanitizer build) runs a deterministic part of a matrix: every call that
writes to the token, every SAMPLE_STRIDE-th of the others and the last. The
plain build runs every call (KB_FAULT_MATRIX unset or "full")."""
import os
import signal
import sys
import threading
import time


SAMPLE_STRIDE = 4


def matrix_calls(seq, writes):
    """The calls of seq this run fails one by one: all, or the sample (see
    above); writes(function name) tells a call that writes to the token."""
    mode = os.environ.get("KB_FAULT_MATRIX", "full")
    if mode == "full":
        return list(seq)
    if mode != "sample":
        raise ValueError(f"KB_FAULT_MATRIX={mode}: full or sample")
    return [c for i, c in enumerate(seq)
            if writes(c[0]) or i % SAMPLE_STRIDE == 0 or i == len(seq) - 1]


def start_for_recovery(daemon, poll_ms="1000"):
    """Start the daemon after a fault as a user's daemon runs: polling each
    second (the default), so that a recovery step that fails or finds the
    token busy at the first scan is tried again at the next one, as
    designed. The matrices poll every ten minutes otherwise, so that the
    install's calls are the only ones while it runs; after the fault no call
    is counted. The daemon takes the last --poll-interval-ms of its
    arguments (kbtest.Daemon gives one, a matrix its own after it): that one
    is changed."""
    args = daemon.args
    i = len(args) - args[::-1].index("--poll-interval-ms")
    saved, args[i] = args[i], poll_ms
    try:
        daemon.start()
    finally:
        args[i] = saved


def wait_quiet(log, polls=3, every=0.1):
    """The call log's length once it has stopped growing (the daemon's
    start-up scans are over)."""
    size, still = -1, 0
    while still < polls:
        time.sleep(every)
        now = os.path.getsize(log)
        still = still + 1 if now == size else 0
        size = now
    return size


def calls_between(log, start, end=None):
    """[(function, nth)] of the calls logged from byte start (to byte end)."""
    seen, seq = {}, []
    with open(log) as f:
        f.seek(start)
        text = f.read() if end is None else f.read(end - start)
    for line in text.splitlines():
        fn = line.split()[0]
        seen[fn] = seen.get(fn, 0) + 1
        seq.append((fn, seen[fn]))
    return seq


def agreed(first, second):
    """The calls two recorded installs agree on: the rescan after an install
    may itself rescan, so a tail one run has and the other not is left out
    (a case there could never be reached)."""
    common = 0
    while common < min(len(first), len(second)) and first[common] == second[common]:
        common += 1
    return first[:common]


def ends_of_runs(seq):
    """Of a run of the same call in a row, the first and the last."""
    return [c for i, c in enumerate(seq)
            if i in (0, len(seq) - 1) or seq[i - 1][0] != c[0] or seq[i + 1][0] != c[0]]


def log_has(log, text):
    try:
        with open(log) as f:
            return any(line.strip() == text for line in f)
    except FileNotFoundError:
        return False


def kill_when_hung(daemon, log, fn, call, timeout=30):
    """Run call (the install) on a thread; once the log shows fn hanging,
    SIGKILL the daemon. False when fn never ran."""
    def run():
        try:
            call()
        except OSError:
            pass        # the connection dies with the daemon
    t = threading.Thread(target=run, daemon=True)
    t.start()
    deadline = time.time() + timeout
    while time.time() < deadline and not log_has(log, f"{fn} HANG"):
        time.sleep(0.02)
    hung = log_has(log, f"{fn} HANG")
    daemon.proc.send_signal(signal.SIGKILL)
    daemon.proc.wait()
    t.join(15)
    return hung


def run_matrix(test, calls, failures, outcomes, report_suffix=""):
    """Every case of a matrix as a subtest of test: each (function, nth) of
    calls with each failure of failures(function), run by
    test.run_case(function, nth, failure), which returns the case's outcome.
    outcomes: {outcome: what the summary calls it}, the rolled-back one
    first, then the one gone forward; the matrix must have gone both ways.
    With KB_RENEWAL_MATRIX_REPORT=path, every case's line goes to
    path + report_suffix. The summary (per failure too) goes to stderr.
    Returns {(function, nth, failure): outcome}."""
    done = {}
    for fn, nth in calls:
        for failure in failures(fn):
            with test.subTest(call=f"{fn} #{nth}", failure=failure):
                done[(fn, nth, failure)] = test.run_case(fn, nth, failure)
    report = os.environ.get("KB_RENEWAL_MATRIX_REPORT")
    if report:
        with open(report + report_suffix, "w") as f:
            for (fn, nth, failure), outcome in done.items():
                f.write(f"{fn}\t{nth}\t{failure}\t{outcome}\n")

    def counts(cases):
        return ", ".join(f"{sum(o == outcome for o in cases)} {text}" for outcome, text in outcomes.items())
    kinds = dict.fromkeys(failure for _, _, failure in done)
    lines = [f"{len(done)} cases over {len({(fn, nth) for fn, nth, _ in done})} calls "
             f"({os.environ.get('KB_FAULT_MATRIX', 'full')} matrix): {counts(done.values())}"]
    for kind in kinds:
        cases = [o for (_, _, failure), o in done.items() if failure == kind]
        lines.append(f"  {kind}: {len(cases)} cases, {counts(cases)}")
    print("\n".join(lines), file=sys.stderr)
    for outcome in outcomes:
        test.assertIn(outcome, done.values(), "the matrix went both ways")
    return done


class InstallCase:
    """One case of a matrix, on either backend: the fault and the recovery
    after it (the matrix's fault() and recovered(), which names the
    outcome), then the same install again, which must succeed and leave the
    new identity whole (assert_installed())."""

    def one_case(self, fn, nth, failure):
        case = f"{fn} #{nth} {failure}"
        outcome = self.recovered(case, self.fault(fn, nth, failure))
        st, _, body = self.install()
        self.assertEqual(st, 200, f"{case}: retried install: {body}")
        self.assert_installed(case)
        return outcome
