"""Benchmark: settle and audit an epoch of 10,000 / 100,000 / 1,000,000 contributors.

Prints a table, then one JSON line. For each size, on a fresh Anvil, each stage is its
own process, so its time and peak RSS (``VmHWM`` in ``/proc/self/status``, the process's
own high-water mark; ``ru_maxrss`` is carried over ``fork`` and ``exec``) are its own:

- ``settle``: the operator reads the registry and values files (one asset per 1,000
  owners, one event per asset, written by a process of their own), maps the epoch, builds the tree, writes and publishes the
  manifest, the inputs and the proofs file, and proposes (``settle_epoch``, what
  ``ame settle`` runs);
- ``audit``: an outsider with an empty state audits the epoch from the chain and the
  published files alone (``audit_epoch``, what ``ame audit`` runs); it must find nothing.

With ``--baseline DIR`` (a checkout of another revision, e.g. ``/work/main``) the same
stages run with that checkout's code, in the same run, on their own fresh Anvil, and the
published manifest, proofs file and root must be byte-identical (same SHA-256) to this
checkout's: the script exits 1 otherwise, or when an audit fails.

Targets (issue #16), at 1,000,000 contributors: settle <= 20 s, audit <= 30 s, each
<= 1.5 GB peak RSS.

``--stages settle`` (or ``audit``) runs only that stage after the inputs (an audit needs
the settle stage before it, which then runs too but is not reported). The machine's load
average is printed before and after the run: on a shared machine, times scale with it.

Usage::

    .venv/bin/python bench/settlement_scale.py
    .venv/bin/python bench/settlement_scale.py --sizes 10000,100000 --baseline /work/main
    .venv/bin/python bench/settlement_scale.py --sizes 1000000 --stages settle
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
TARGETS = {"settle": (20.0, 1536.0), "audit": (30.0, 1536.0)}  # seconds, MB at 1,000,000
EPOCH = 3
MANIFEST_LIMIT = 1 << 30  # bytes the audit may read of one document


def _peak_rss_mb() -> float:
    """This process's peak resident set, in MB: ``VmHWM`` where Linux gives it.

    Not ``ru_maxrss`` alone: Linux carries it over ``fork`` and ``exec`` from the process
    that started this one (a child of a 600 MB process reports 600 MB), so a stage's
    figure could be its launcher's rather than its own.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _published(root: Path) -> dict[str, str]:
    """SHA-256 of every published file, by its path under ``root / 'published'``."""
    folder = root / "published"
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*.json"))
    }


def stage_inputs(url: str, settlement: str, root: Path, payees: int) -> dict[str, Any]:
    """Write the registry and values files (a process of its own: its memory is not settle's)."""
    import load  # bench/load.py: the same documents and workspace as the load benchmark

    registry, values = load._documents(payees, EPOCH, salt=EPOCH)
    inputs = root / "inputs"
    inputs.mkdir(parents=True, exist_ok=True)
    (inputs / "registry.json").write_text(json.dumps(registry))
    (inputs / "values.json").write_text(json.dumps(values))
    return {"peak_rss_mb": _peak_rss_mb()}


def stage_settle(url: str, settlement: str, root: Path, payees: int) -> dict[str, Any]:
    """Time reading the input files, mapping, publishing and proposing."""
    import load

    from ame.workflow import MappingInputs, settle_epoch

    inputs = root / "inputs"
    ws = load._workspace(url, settlement, root / "operator", load.OPERATOR)
    ws.publish_dir = root / "published"
    start = time.perf_counter()
    result = settle_epoch(ws, MappingInputs.load(inputs / "values.json", inputs / "registry.json"))
    seconds = time.perf_counter() - start
    assert result.leaf_count == payees, (result.leaf_count, payees)
    return {
        "seconds": seconds,
        "peak_rss_mb": _peak_rss_mb(),
        "root": result.root,
        "manifest_hash": result.manifest_hash,
        "published": _published(root),
    }


def stage_audit(url: str, settlement: str, root: Path, payees: int) -> dict[str, Any]:
    """An outsider's audit, from public data only, with an empty state."""
    import load

    from ame.workflow import FetchPolicy, audit_epoch

    ws = load._workspace(url, settlement, root / "auditor", None)
    ws.publish_dir = root / "published"
    # A million leaves' manifest is some 260 MB: past the default fetch limit of 128 MB.
    ws.fetch_policy = FetchPolicy(max_bytes=MANIFEST_LIMIT, deadline=3600, allow_local=True)
    start = time.perf_counter()
    report = audit_epoch(ws, EPOCH)
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "peak_rss_mb": _peak_rss_mb(),
        "ok": report.ok,
        "leaves": report.header.leaf_count,
        "mismatches": [m.to_json() for m in report.mismatches[:5]],
    }


STAGES = {"inputs": stage_inputs, "settle": stage_settle, "audit": stage_audit}


def run_stage(code: Path, stage: str, url: str, settlement: str, root: Path, n: int) -> Any:
    """One stage in a fresh interpreter running ``code``'s packages."""
    env = {**os.environ, "PYTHONPATH": f"{code}{os.pathsep}{REPO / 'bench'}"}
    done = subprocess.run(
        [sys.executable, __file__, "--stage", str(code), stage, url, settlement, str(root), str(n)],
        capture_output=True,
        text=True,
        cwd=code,
        env=env,
    )
    if done.returncode != 0:
        raise SystemExit(f"{stage} at {n:,} with {code} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.splitlines()[-1])


def run_size(code: Path, n: int, tmp: Path, stages: list[str]) -> dict[str, Any]:
    """Settle then audit ``n`` contributors with ``code``'s packages on a fresh Anvil.

    Only settle when ``stages`` is ``["settle"]``; the result holds the stages asked for.
    """
    sys.path.insert(0, str(REPO / "bench"))
    import load

    from ame_chain.chains import AnvilChain

    root = tmp / f"{code.name}-{n}"
    with AnvilChain() as anvil:
        settlement = load._deploy(anvil.url)
        run_stage(REPO, "inputs", anvil.url, settlement, root, n)
        result = {"settle": run_stage(code, "settle", anvil.url, settlement, root, n)}
        if "audit" in stages:
            result["audit"] = run_stage(code, "audit", anvil.url, settlement, root, n)
    return {stage: result[stage] for stage in stages}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[10_000, 100_000, 1_000_000],
        help="comma-separated contributor counts (default: 10000,100000,1000000)",
    )
    parser.add_argument("--baseline", type=Path, help="a checkout whose code is the baseline")
    parser.add_argument(
        "--stages",
        type=lambda s: [x for x in ("settle", "audit") if x in s.split(",")],
        default=["settle", "audit"],
        help="comma-separated stages to report: settle, audit (default: both)",
    )
    parser.add_argument("--stage", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.stage:
        code, stage, url, settlement, root, n = args.stage
        sys.path.insert(0, code)
        # bench/load.py puts its own checkout first on the path unless it is there already:
        # listed last, it stays behind ``code``, whose packages the stage must run.
        sys.path.append(str(REPO))
        print(json.dumps(STAGES[stage](url, settlement, Path(root), int(n))))
        return 0

    sys.path.insert(0, str(REPO))
    stages: list[str] = args.stages
    if not stages:
        parser.error("--stages: name settle, audit or both")
    load_before = os.getloadavg()
    runs: dict[str, dict[int, dict[str, Any]]] = {"this": {}}
    if args.baseline:
        runs["baseline"] = {}
    with tempfile.TemporaryDirectory(prefix="ame-scale-") as folder:
        for n in args.sizes:
            for label in runs:
                code = REPO if label == "this" else args.baseline.resolve()
                runs[label][n] = run_size(code, n, Path(folder), stages)
                print(f"  {label} {n:,}: done", file=sys.stderr)

    failures = []
    for label, sizes in runs.items():
        for n, r in sizes.items():
            if "audit" in r and not r["audit"]["ok"]:
                failures.append(f"{label} at {n:,}: the audit failed {r['audit']['mismatches']}")
    load_after = os.getloadavg()
    if "baseline" in runs:
        for n in args.sizes:
            mine, theirs = runs["this"][n]["settle"], runs["baseline"][n]["settle"]
            for key in ("root", "manifest_hash", "published"):
                if mine[key] != theirs[key]:
                    failures.append(f"at {n:,}: {key} differs from the baseline's")

    print(
        f"AME settlement at scale ({platform.python_implementation()} "
        f"{platform.python_version()}, {os.cpu_count()} CPUs, Anvil on 127.0.0.1)"
    )
    header = f"{'stage':<44}{'contributors':>14}{'seconds':>10}{'peak RSS MB':>13}  {'target':<22}"
    print(
        "load average (1, 5, 15 min): before "
        + ", ".join(f"{x:.1f}" for x in load_before)
        + "; after "
        + ", ".join(f"{x:.1f}" for x in load_after)
    )
    print(header)
    print("-" * len(header))
    for label, sizes in runs.items():
        for n, r in sizes.items():
            for stage in stages:
                seconds, rss = r[stage]["seconds"], r[stage]["peak_rss_mb"]
                target = ""
                if label == "this" and n == 1_000_000:
                    limit_s, limit_mb = TARGETS[stage]
                    met = seconds <= limit_s and rss <= limit_mb
                    target = f"{limit_s:.0f} s/{limit_mb / 1024:.1f} GB " + (
                        "met" if met else "MISSED"
                    )
                name = f"ame {stage}" + (" (outsider)" if stage == "audit" else "")
                name += "" if label == "this" else f" [baseline {args.baseline}]"
                print(f"{name:<44}{n:>14,}{seconds:>10.1f}{rss:>13.0f}  {target:<22}")
    print("-" * len(header))
    if "baseline" in runs:
        print(
            "published files and root byte-identical to the baseline's: "
            + ("yes" if not any("differs" in f for f in failures) else "NO")
        )
    for failure in failures:
        print(f"FAILURE: {failure}")
    report = {
        "bench": "settlement_scale",
        "runs": {
            label: {
                str(n): {
                    stage: {
                        k: (round(v, 3) if isinstance(v, float) else v)
                        for k, v in r[stage].items()
                        if k not in ("published", "mismatches")
                    }
                    for stage in stages
                }
                for n, r in sizes.items()
            }
            for label, sizes in runs.items()
        },
        "published_sha256": {
            label: {str(n): r["settle"]["published"] for n, r in sizes.items()}
            for label, sizes in runs.items()
        },
        "failures": failures,
        "load_average": {"before": load_before, "after": load_after},
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    print(json.dumps(report, sort_keys=True))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
