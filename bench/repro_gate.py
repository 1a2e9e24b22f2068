"""Gate every ordered pair of separate runs of the same matrix (A/A): ``trtbench gate --baseline i
--candidate j``, once without history and once with ``--history`` = the other runs. No pair may fail.

    python bench/repro_gate.py RUNS_DIR OUT.json
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def gate(base, cand, history, out_json):
    cmd = [sys.executable, "-m", "trtbench", "gate", "--baseline", base, "--candidate", cand, "--json", out_json]
    if history:
        cmd += ["--history"] + history
    r = subprocess.run(cmd, capture_output=True, text=True)
    verdict = json.loads(Path(out_json).read_text()) if Path(out_json).exists() else None
    return r.returncode, verdict, r.stderr.strip().splitlines()[-1:] if r.returncode else []


def main() -> None:
    runs = sorted(str(p) for p in Path(sys.argv[1]).glob("*/results.jsonl*"))
    out = Path(sys.argv[2])
    tmp = out.with_suffix(".d")
    tmp.mkdir(parents=True, exist_ok=True)
    pairs = []
    for i, a in enumerate(runs):
        for j, b in enumerate(runs):
            if i == j:
                continue
            for mode in ("plain", "history"):
                hist = [r for k, r in enumerate(runs) if k not in (i, j)] if mode == "history" else []
                code, v, err = gate(a, b, hist, str(tmp / f"{i}-{j}-{mode}.json"))
                counts = {}
                for f in (v or {}).get("findings", []):
                    counts[f["verdict"]] = counts.get(f["verdict"], 0) + 1
                pairs.append({"baseline": i, "candidate": j, "mode": mode, "exit": code, "verdicts": counts,
                              "error": err})
    summary = {}
    for mode in ("plain", "history"):
        ps = [p for p in pairs if p["mode"] == mode]
        summary[mode] = {"pairs": len(ps), "failed": sum(p["exit"] == 1 for p in ps),
                         "errors": sum(p["exit"] not in (0, 1) for p in ps),
                         "inconclusive_checks": sum(p["verdicts"].get("inconclusive", 0) for p in ps),
                         "checks": sum(sum(p["verdicts"].values()) for p in ps)}
    doc = {"runs": runs, "summary": summary, "pairs": pairs}
    out.write_text(json.dumps(doc, indent=1))
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
