"""Run the tests that guard each claim under each mutant (tests/mutants.py) and print which mutants they catch.

    python tests/run_mutants.py                      # every mutant
    python tests/run_mutants.py band-mask random-tsne
    python tests/run_mutants.py --baseline random-tsne   # the same tests without the mutant first (must pass)
    python tests/run_mutants.py --list

Each mutant runs in a pytest session of its own (``LATENT_EXPLORER_MUTANT=NAME``), with CI unset so that a skip
shows as a skip: a mutant is caught when every test that guards its claim ran and failed. A table row per mutant,
then one per test; the last line is JSON. Exit status 0 when every mutant run was caught.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
sys.path[:0] = [str(TESTS), str(ROOT)]  # (run from anywhere, installed or not)

from mutants import CLAIM_ENV, CLAIMS, MUTANT_ENV, MUTANTS  # noqa: E402


def files_guarding(claim: str) -> list[str]:
    """The test files that hold tests guarding ``claim`` (named in CLAIMS, or marked)."""
    named = {prefix.split("::")[0].split("*")[0] for prefix in CLAIMS[claim].tests}
    marked = {f"tests/{p.name}" for p in TESTS.glob("test_*.py")
              if re.search(rf"guards\(\s*[\"']{re.escape(claim)}[\"']", p.read_text())}
    return sorted(f for f in named | marked if (ROOT / f).is_file())


def outcomes(junit: Path) -> dict[str, str]:
    """Test id -> passed / failed / error (in a fixture) / skipped, with the failure's first line, from pytest's
    JUnit XML (a mutant caught by an error in set-up may be caught for the wrong reason: the line says)."""
    if not junit.is_file():
        return {}
    result = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        test = f"{case.get('classname', '').replace('.', '/')}.py::{case.get('name')}"
        bad = next((child for child in case if child.tag in ("failure", "error")), None)
        if bad is not None:
            why = " ".join((bad.get("message") or bad.text or "").split())[:160]
            result[test] = f"{'failed' if bad.tag == 'failure' else 'error'}: {why}"
        else:
            result[test] = "skipped" if any(child.tag == "skipped" for child in case) else "passed"
    return result


def run(files: list[str], claim: str, mutant: str | None, timeout_s: float) -> tuple[dict[str, str], float, str]:
    """(outcomes, seconds, last line of pytest's output) of the tests in ``files`` that guard ``claim``, under
    ``mutant`` (None: the product as it is)."""
    env = {k: v for k, v in os.environ.items() if k not in ("CI", MUTANT_ENV, CLAIM_ENV)}
    env.update({"PYTHONPATH": str(ROOT), CLAIM_ENV: claim, **({MUTANT_ENV: mutant} if mutant else {})})
    with tempfile.TemporaryDirectory(prefix="latent-explorer-mutants-") as tmp:
        junit = Path(tmp) / "junit.xml"
        began = time.monotonic()
        try:
            done = subprocess.run([sys.executable, "-m", "pytest", *files, "-q", "-p", "no:cacheprovider",
                                   f"--junitxml={junit}"], cwd=ROOT, env=env, capture_output=True, text=True,
                                  timeout=timeout_s)
            tail = (done.stdout.strip().splitlines() or [""])[-1]
        except subprocess.TimeoutExpired:
            tail = f"timed out after {timeout_s:.0f} s"
        return outcomes(junit), time.monotonic() - began, tail


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mutants", nargs="*", help="mutants to run (default: all)")
    parser.add_argument("--baseline", action="store_true", help="first run the guarding tests without the mutant")
    parser.add_argument("--list", action="store_true", help="list the mutants and the tests guarding them")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds for one mutant's session")
    args = parser.parse_args(argv)
    unknown = [m for m in args.mutants if m not in MUTANTS]
    if unknown:
        parser.error(f"no such mutant: {', '.join(unknown)}; mutants: {', '.join(MUTANTS)}")
    chosen = args.mutants or list(MUTANTS)
    if args.list:
        for name in chosen:
            m = MUTANTS[name]
            print(f"{name}: {m.what}\n  claim {m.claim}: {CLAIMS[m.claim].what}\n  files: "
                  f"{', '.join(files_guarding(m.claim)) or 'none'}")
        return 0

    rows, table = {}, []
    print(f"{'mutant':<24} {'claim':<18} {'ran':>3} {'failed':>6} {'caught':>6} {'s':>6}  baseline")
    for name in chosen:
        mutant = MUTANTS[name]
        files = files_guarding(mutant.claim)
        base = ""
        if files and args.baseline:  # the same tests, product as it is: they must pass, or catching means nothing
            shipped = run(files, mutant.claim, None, args.timeout)[0]
            base = "passed" if shipped and all(o == "passed" for o in shipped.values()) else f"NOT ALL PASS: {shipped}"
        got, seconds, tail = run(files, mutant.claim, name, args.timeout) if files else \
            ({}, 0.0, "no test guards this claim")
        failed = sum(o.startswith(("failed", "error")) for o in got.values())
        caught = bool(got) and failed == len(got)
        rows[name] = {"claim": mutant.claim, "ran": len(got), "failed": failed, "caught": caught,
                      "seconds": round(seconds, 1), "tests": got, "baseline": base or None,
                      "note": "" if got else tail}
        print(f"{name:<24} {mutant.claim:<18} {len(got):>3} {failed:>6} {'yes' if caught else 'NO':>6} "
              f"{seconds:>6.0f}  {base}{'' if got else tail}", flush=True)
        for test, outcome in got.items():
            table.append(f"    {test}\n        {outcome}")
            print(table[-1], flush=True)
    caught = sum(r["caught"] for r in rows.values())
    print(json.dumps({"caught": caught, "mutants": len(rows), "rows": rows}))
    return 0 if caught == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
